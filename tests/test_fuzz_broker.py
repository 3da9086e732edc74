"""A hypothesis state machine drives a live broker with arbitrary and
adversarial message sequences, from a real process on a real channel.

tests/programs/fuzz_peer.c runs inside the sandbox and puts whatever bytes
the test hands it, raw, on its broker channel; the broker loop runs in a
thread of this process.  After every step: the broker has raised nothing and
logged no internal error; a well-formed request was answered with its own
sequence number; anything else ended that sandbox with a `protocol
violation: ...` (a well-formed exit or fault op ends it without one).  After
every example a healthy sandbox runs in the same process."""

from __future__ import annotations

import errno
import os
import select
import threading

import msgpack
import pytest
from hypothesis import HealthCheck, assume, settings, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, rule,
                                 run_state_machine_as_test)

import strictbox
from strictbox import api
from strictbox.loop import Broker

U64 = 1 << 64
STEP_TIMEOUT = 20  # seconds; only a hang would reach it

# Calls a well-formed request may name with arbitrary arguments.  Left out:
# calls that may wait forever for something this test never sends (sleeps,
# poll, futex, pipes, pause and rt_sigsuspend until a signal), that replace the program (execve), that change the
# caller's own memory map (mmap, munmap, mremap, madvise, brk, mprotect: a
# peer that unmaps itself crashes, as it would natively), and that could move
# the test's own stdin/stdout bytes (dup*, fcntl; read/write/readv/writev on
# fds 0-2 are filtered below).
WAITING = {7, 23, 34, 130, 35, 202, 230, 270, 271, 22, 293, 59, 322, 32, 33, 292, 72, 61, 247,
           9, 10, 11, 12, 25, 28}
STDIO_IO = {0, 1, 17, 18, 19, 20, 295, 296}  # read, write, pread, pwrite, readv, writev, preadv, pwritev


WAKE_WAIT_MAX_NS = 50_000_000  # a wake_wait longer than this would hold the test up
POKE = -7  # a real signal to one of the peer's threads, which would cut its own reads short


def dangerous(op: int, args) -> bool:
    if op in WAITING or op == POKE or (op == -5 and args[0] > WAKE_WAIT_MAX_NS):
        return True
    return op in STDIO_IO and (args[0] & 0xFFFFFFFF) in (0, 1, 2)


def expected(data: bytes, seq: int):
    """The specification in docs/protocol.md, restated independently of
    strictbox.protocol: ("reply", op, args), ("end", op, args) for an exit or
    fault op, or ("violation", None, None)."""
    bad = ("violation", None, None)
    if not 1 <= len(data) <= 256:
        return bad
    try:
        msg = msgpack.unpackb(data, raw=True, max_array_len=8, max_map_len=8, max_str_len=256,
                              max_bin_len=256, max_ext_len=256)
    except Exception:
        return bad
    if not isinstance(msg, list) or not 2 <= len(msg) <= 8:
        return bad
    if any(isinstance(v, bool) or not isinstance(v, int) for v in msg):
        return bad
    s, op, *args = msg
    if s != seq or any(not 0 <= a < U64 for a in args):
        return bad
    if 0 <= op < 1 << 31:
        return ("reply", op, args) if len(args) == 6 else bad
    if op in (-3, -8):  # time, spread
        return ("reply", op, args) if not args else bad
    if op == -4:  # cancel: nothing waits here, so only of the request just answered
        return ("reply", op, args) if len(args) == 1 and args[0] == seq - 1 else bad
    if op in (-5, -7):  # wake_wait, poke
        return ("reply", op, args) if len(args) == 1 else bad
    if op == -1:
        return ("end", op, args) if len(args) == 1 and args[0] <= 255 else bad
    if op == -2:
        ok = len(args) == 4 and 1 <= args[0] <= 64 and not (1 << 31 <= args[1] < U64 - (1 << 31))
        return ("end", op, args) if ok else bad
    return bad


class Peer:
    """fuzz_peer in a sandbox of a broker whose loop runs in a thread."""

    def __init__(self, prog):
        in_r, self.stdin = os.pipe2(os.O_CLOEXEC)
        self.stdout, out_w = os.pipe2(os.O_CLOEXEC)
        devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        self.sb = api.prepare([str(prog)], stdio=(in_r, out_w, devnull), timeout=60)
        self.broker = Broker()
        try:
            self.broker.add(self.sb)
        finally:
            for fd in (in_r, out_w, devnull):
                os.close(fd)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        self.buf = b""
        hello = self.line()
        assert hello is not None and hello.startswith(b"P "), hello
        _, fd, seq, addr, size = hello.split()
        self.seq, self.scratch, self.scratch_size = int(seq), int(addr), int(size)
        self.ended = False

    def _loop(self):
        try:
            self.broker.run()
        except BaseException as e:  # noqa: BLE001 - the test asserts there is none
            self.error = e

    def line(self) -> bytes | None:
        """The next report line, or None at end of file (the sandbox ended)."""
        while b"\n" not in self.buf:
            ready, _, _ = select.select([self.stdout], [], [], STEP_TIMEOUT)
            assert ready, "the sandbox neither answered nor ended: a hang"
            chunk = os.read(self.stdout, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def command(self, cmd: bytes, payload: bytes = b"") -> None:
        data = cmd + len(payload).to_bytes(2, "little") + payload
        try:
            os.write(self.stdin, data)
        except BrokenPipeError:
            pass  # it ended already; the next line() says so

    def finish(self):
        """Waits for the broker loop to end; returns the sandbox's outcome."""
        try:
            os.close(self.stdin)
        except OSError:
            pass
        self.thread.join(STEP_TIMEOUT)
        assert not self.thread.is_alive(), "the broker loop did not end"
        os.close(self.stdout)
        api.release(self.sb)
        self.ended = True
        assert self.error is None, f"the broker raised {self.error!r}"
        assert not any("internal broker error" in l for l in self.sb.log), self.sb.log
        return self.sb.outcome


def decode_reply(line: bytes) -> list[int]:
    tag, n, *hexed = line.split(b" ")
    assert tag == b"R", line
    raw = bytes.fromhex(hexed[0].decode()) if hexed and hexed[0] else b""
    assert int(n) == len(raw) > 0, line
    rep = msgpack.unpackb(raw)
    assert isinstance(rep, list) and len(rep) >= 2 and all(type(v) is int for v in rep), rep
    return rep


u64 = st.integers(0, U64 - 1)
small = st.integers(0, 4096)
wild = st.sampled_from([0, 1, 0xFFF, 0x10000 - 1, U64 - 1, U64 - 16, 1 << 63, 1 << 47, 0xFFFFFFFF,
                        0x7FFFFFFF, 0x80000000, 0xFFFFFFFF_FFFFFF9C])  # ... AT_FDCWD


@st.composite
def call_args(draw, peer_scratch):
    """Six registers: small numbers, wild values, or pointers into the peer's scratch."""
    base, size = peer_scratch
    out = []
    for _ in range(6):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            out.append(draw(small))
        elif kind == 1:
            out.append(draw(wild))
        elif kind == 2:
            out.append(base + draw(st.integers(0, size)))
        else:
            out.append(draw(u64))
    return out


def mutate(data: bytes, pos: int, byte: int) -> bytes:
    if not data:
        return bytes([byte])
    pos %= len(data)
    return data[:pos] + bytes([byte]) + data[pos + 1:]


@pytest.fixture(scope="module")
def peer_prog(compile_c):
    return compile_c("fuzz_peer.c", "-DSB_CFFI", "-static")


@pytest.fixture(scope="module")
def healthy_prog(compile_c):
    return compile_c("hello.c", "-static")


def machine_for(peer_prog, healthy_prog):
    class BrokerChannel(RuleBasedStateMachine):
        """One live sandbox at a time; a new one whenever the last has ended."""

        def __init__(self):
            super().__init__()
            self.peer: Peer | None = None
            self.ends = 0

        @initialize()
        def start(self):
            self.peer = Peer(peer_prog)

        # -- helpers ---------------------------------------------------------

        def _expect_reply(self, seq: int, extras: int | None = None) -> list[int]:
            line = self.peer.line()
            assert line is not None, f"a well-formed request ended the sandbox: {self.peer.finish()}"
            rep = decode_reply(line)
            assert rep[0] == seq, (rep, seq)
            if extras is not None:
                assert len(rep) == 2 + extras, rep
            return rep

        def _expect_end(self, violation: str | None) -> None:
            line = self.peer.line()
            assert line is None, f"the sandbox went on after a bad message: {line!r}"
            out = self.peer.finish()
            if violation is None:
                assert out.reason is None or not out.reason.startswith("protocol violation"), out
            else:
                assert out.reason is not None and out.reason.startswith("protocol violation: "), out
                assert violation in out.reason, (violation, out.reason)
                assert out.returncode == -9
            self.ends += 1
            self.peer = Peer(peer_prog)  # the broker serves a fresh one

        def _send(self, data: bytes) -> None:
            """Sends data and checks the broker did what the specification says."""
            kind, op, args = expected(data, self.peer.seq + 1)
            if kind == "reply":
                assume(not dangerous(op, args))
            self.peer.command(b"S", data)
            if kind == "reply":
                self.peer.seq += 1
                rep = self._expect_reply(self.peer.seq, 3 if op == -3 else None)
                if op == -4:
                    assert rep[1] == -errno.ESRCH, rep
                if op == -5:
                    assert rep[1] == -errno.ETIMEDOUT, rep
            elif kind == "end":
                self._expect_end(None)
            else:
                self._expect_end("")

        # -- well-formed traffic ---------------------------------------------

        @rule(data=st.data())
        def arbitrary_system_call(self, data):
            op = data.draw(st.integers(0, 460).filter(lambda n: n not in WAITING), label="op")
            args = data.draw(call_args((self.peer.scratch, self.peer.scratch_size)), label="args")
            assume(not dangerous(op, args))
            self._send(msgpack.packb([self.peer.seq + 1, op, *args]))

        @rule(op=st.integers(1 << 9, (1 << 31) - 1), args=st.lists(u64, min_size=6, max_size=6))
        def unknown_system_call_number(self, op, args):
            self._send(msgpack.packb([self.peer.seq + 1, op, *args]))

        @rule()
        def getcwd(self):
            self.peer.seq += 1
            self.peer.command(b"S", msgpack.packb([self.peer.seq, 79, self.peer.scratch, 4096, 0, 0, 0, 0]))
            rep = self._expect_reply(self.peer.seq)
            assert rep[1] == 2  # "/" and its NUL

        @rule()
        def time_op(self):
            self._send(msgpack.packb([self.peer.seq + 1, -3]))

        @rule()
        def late_cancel(self):
            """A cancel that crossed its call's answer: ESRCH, not a violation."""
            self._send(msgpack.packb([self.peer.seq + 1, -4, self.peer.seq]))

        @rule(ns=st.integers(0, WAKE_WAIT_MAX_NS))
        def timed_wake_wait(self, ns):
            """A timed futex wait nobody wakes: ETIMEDOUT (with the clock, if it waited)."""
            self._send(msgpack.packb([self.peer.seq + 1, -5, ns]))

        @rule(offset=st.integers(0, 4095), data=st.binary(min_size=1, max_size=64))
        def scribble_on_scratch(self, offset, data):
            self.peer.command(b"M", offset.to_bytes(8, "little") + data)
            line = self.peer.line()
            assert line is not None and line.startswith(b"M "), line

        @rule(n=st.integers(2, 6))
        def pipelined_requests_are_answered_in_order(self, n):
            first = self.peer.seq + 1
            for i in range(n):
                self.peer.command(b"N", msgpack.packb([first + i, 79, self.peer.scratch, 64, 0, 0, 0, 0]))
                line = self.peer.line()
                assert line is not None and line.startswith(b"W "), line
            self.peer.seq += n
            for i in range(n):
                self.peer.command(b"D")
                self._expect_reply(first + i)

        # -- adversarial traffic ---------------------------------------------

        @rule(data=st.binary(max_size=300))
        def arbitrary_bytes(self, data):
            self._send(data)

        @rule(value=st.recursive(
            st.none() | st.booleans() | st.integers(-(1 << 63), U64 - 1) | st.floats()
            | st.binary(max_size=4),
            lambda inner: st.lists(inner, max_size=9), max_leaves=12))
        def arbitrary_msgpack(self, value):
            self._send(msgpack.packb(value))

        @rule(pos=st.integers(0, 80), byte=st.integers(0, 255))
        def one_byte_off_a_good_request(self, pos, byte):
            good = msgpack.packb([self.peer.seq + 1, 79, self.peer.scratch, 64, 0, 0, 0, 0])
            self._send(mutate(good, pos, byte))

        @rule(delta=st.integers(-(1 << 20), 1 << 20).filter(lambda d: d != 1))
        def wrong_sequence_number(self, delta):
            self._send(msgpack.packb([self.peer.seq + delta, 79, self.peer.scratch, 64, 0, 0, 0, 0]))

        @rule(kind=st.sampled_from(["empty", "oversize", "few", "many", "negative", "bool",
                                    "nested", "trailing", "op", "status", "signal", "cancel",
                                    "ready"]))
        def known_violation(self, kind):
            s = self.peer.seq + 1
            data, why = {
                "empty": (b"", "empty message"),
                "oversize": (b"\x98" + b"\x00" * 299, "exceeds 256"),
                "few": (msgpack.packb([s, 79, 0, 0]), "with 2 arguments, not 6"),
                "many": (msgpack.packb([s, 79] + [0] * 7), "undecodable"),
                "negative": (msgpack.packb([s, 79, -1, 0, 0, 0, 0, 0]), "64-bit range"),
                "bool": (msgpack.packb([s, 79, True, 0, 0, 0, 0, 0]), "other than integers"),
                "nested": (msgpack.packb([s, 79, [0], 0, 0, 0, 0, 0]), "other than integers"),
                "trailing": (msgpack.packb([s, -3]) + b"\xc0", "undecodable"),
                "op": (msgpack.packb([s, -77]), "unknown op"),
                "status": (msgpack.packb([s, -1, 999]), "exit status"),
                "signal": (msgpack.packb([s, -2, 0, 0, 0, 0]), "signal number"),
                "cancel": (msgpack.packb([s, -4, s + 5]), "cancel of a call that is not waiting"),
                "ready": (msgpack.packb([s, -6]), "ready message is the first on each channel"),
            }[kind]
            self.peer.command(b"S", data)
            self._expect_end(why)

        @rule()
        def flood_without_reading(self):
            s = self.peer.seq
            msgs = b"".join(
                b"N" + len(m).to_bytes(2, "little") + m
                for m in (msgpack.packb([s + 1 + i, 79, self.peer.scratch, 64, 0, 0, 0, 0])
                          for i in range(3000)))
            writer = threading.Thread(target=self._write_all, args=(msgs,), daemon=True)
            writer.start()
            while (line := self.peer.line()) is not None:
                assert line.startswith(b"W "), line
            writer.join(STEP_TIMEOUT)
            out = self.peer.finish()
            assert out.reason is not None and "left unread" in out.reason, out
            self.ends += 1
            self.peer = Peer(peer_prog)

        def _write_all(self, data):
            try:
                for i in range(0, len(data), 4096):  # PIPE_BUF: each write whole
                    os.write(self.peer.stdin, data[i:i + 4096])
            except OSError:
                pass  # the sandbox ended: its stdin has no reader

        @rule(status=st.integers(0, 255))
        def exit_op(self, status):
            self.peer.command(b"S", msgpack.packb([self.peer.seq + 1, -1, status]))
            assert self.peer.line() is None
            out = self.peer.finish()
            assert (out.returncode, out.reason) == (status, None)
            self.ends += 1
            self.peer = Peer(peer_prog)

        # -- checks ----------------------------------------------------------

        @invariant()
        def broker_is_healthy(self):
            if self.peer is not None:
                assert self.peer.error is None, repr(self.peer.error)
                assert not any("internal broker error" in l for l in self.peer.sb.log), self.peer.sb.log

        def teardown(self):
            if self.peer is None:
                return
            if not self.peer.ended:  # hand the numbering back and exit through the runtime
                self.peer.command(b"Q", self.peer.seq.to_bytes(8, "little"))
                assert self.peer.line() is None
                out = self.peer.finish()
                assert (out.returncode, out.reason) == (0, None), out
            r = strictbox.run([str(healthy_prog)], capture_output=True, timeout=20)
            assert (r.returncode, r.reason) == (0, None), r

    return BrokerChannel


def test_broker_survives_arbitrary_channel_traffic(peer_prog, healthy_prog):
    run_state_machine_as_test(
        machine_for(peer_prog, healthy_prog),
        settings=settings(max_examples=30, stateful_step_count=15, deadline=None,
                          suppress_health_check=list(HealthCheck)))
