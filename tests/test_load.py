"""Isolation under load: one broker serving 64 well-behaved sandboxes at
once, each making 10,000 broker round trips, with hostile sandboxes among
them (a channel flooder, a garbage writer, an output bomb, a spinner and a
busy caller).  Every well-behaved sandbox must finish with exactly the
output it would have alone -- not a byte lost or out of place -- and every
hostile one must end with its own reason.

Measured on 2 cores: about 80 us per round trip with 64 sandboxes on one
broker, so the test takes about a minute (marked slow; CI runs it)."""

from __future__ import annotations

import pytest

from conftest import Fleet
from strictbox.policy import Policy

SANDBOXES = 64
CALLS = 10_000
MASK = (1 << 64) - 1


def expected_output(sid: int, n: int) -> tuple[bytes, bytes]:
    """What load_calls.c prints: the same arithmetic, here."""
    lines, s = [], sid
    for i in range(n):
        v = 10 if i % 2 else i % 1000  # fstat's st_size, or lseek's new offset
        s = (s * 31 + v + 1) & MASK  # getppid() is 1 inside (the sandbox is pid 2)
        if i % 100 == 99:
            lines.append(f"s{sid:02d} {i + 1:05d} {s:016x}\n")
    block = bytes(ord("A") + (i + sid) % 26 for i in range(65536))
    return "".join(lines).encode() + block, block[:4096]


@pytest.mark.slow
def test_64_sandboxes_10000_calls_each_with_hostile_neighbours(compile_c):
    load = compile_c("load_calls.c", "-static")
    hostile = {name: compile_c(f"{name}.c", "-DSB_CFFI", "-static")
               for name in ("hostile_chan_flood", "hostile_channel", "hostile_outbomb",
                            "hostile_spin", "hostile_spin_calls")}
    run = Fleet()

    def add(prog, *args, **options):
        return run.add([prog, *args], memory=64 << 20, **options)

    good = []
    bad = {}
    for sid in range(SANDBOXES):
        good.append((sid, *add(load, str(sid), str(CALLS), timeout=600)))
        if sid % 32 == 8:  # the hostile ones start in the thick of it
            bad["flood", sid] = add(hostile["hostile_chan_flood"], timeout=600)
            bad["garbage", sid] = add(hostile["hostile_channel"], "garbage", timeout=600)
            bad["outbomb", sid] = add(hostile["hostile_outbomb"], timeout=600,
                               policy=Policy.permissive().set_limits(output="4M"))
            bad["spin", sid] = add(hostile["hostile_spin"], timeout=2)
            bad["calls", sid] = add(hostile["hostile_spin_calls"], timeout=2)
    run.run()

    for sid, sb, out, err in good:
        o = sb.outcome
        assert (o.returncode, o.reason) == (0, None), (sid, o, bytes(err[:200]), sb.log[:3])
        want_out, want_err = expected_output(sid, CALLS)
        assert bytes(out) == want_out, f"sandbox {sid}: stdout differs ({len(out)} of {len(want_out)} bytes)"
        assert bytes(err) == want_err, f"sandbox {sid}: stderr differs"
        assert sb.stats["broker"] >= CALLS, sb.stats  # they were round trips
        assert not sb.log, sb.log[:3]

    reasons = {"flood": r"protocol violation: requests sent while earlier replies were left unread",
               "garbage": r"protocol violation: undecodable message (FormatError)",
               "outbomb": r"output limit (4194304 bytes) exceeded",
               "spin": r"wall-clock timeout after 2 s", "calls": r"wall-clock timeout after 2 s"}
    for (kind, sid), (sb, out, err) in bad.items():
        assert sb.outcome.reason == reasons[kind], (kind, sid, sb.outcome)
        assert not any("internal broker error" in l for l in sb.log), sb.log
    for (kind, sid), (sb, out, err) in bad.items():
        if kind == "outbomb":  # its own output, too, is whole up to its limit
            pattern = bytes(ord("a") + i % 26 for i in range(65536))
            assert bytes(out) == (pattern * 64)[: 4 << 20]
