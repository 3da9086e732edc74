#!/usr/bin/env python3
"""strictbox benchmarks: sandboxed vs native, measured in the same run.

    python3 benchmarks/run.py [--quick]

Prints one table (see benchmarks/README.md for what each line means).  Every
number is a median over repeated runs; ratios are strictbox / native measured
here and now.  Nothing is asserted about absolute times: the only failures
are a helper that does not build or a run that does not complete.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import strictbox
from strictbox import afterwards

HERE = os.path.dirname(os.path.abspath(__file__))
BUSYBOX = "/usr/bin/busybox"
TIMEOUT = 120.0  # per sandboxed run: only a guard against hangs


@dataclass
class Notes:
    """What strictbox told us along the way: routes, denied calls, failures."""
    lines: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)

    def add(self, text: str) -> None:
        if text not in self.seen:
            self.seen.add(text)
            self.lines.append(text)

    def from_result(self, what: str, res) -> None:
        for entry in res.log:
            self.add(f"{what}: {entry}")
        if res.reason:
            self.add(f"{what}: strictbox ended the run: {res.reason}")


class BenchError(Exception):
    pass


def build(tmp: str, name: str, *flags: str) -> str:
    cc = os.environ.get("CC", "cc")
    out = os.path.join(tmp, name)
    cmd = [cc, "-O2", "-static", *flags, "-o", out, os.path.join(HERE, f"{name}.c")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise BenchError(f"building {name} failed:\n{' '.join(cmd)}\n{r.stderr}")
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def fmt(x: float | None, digits: int = 1) -> str:
    if x is None:
        return "failed"
    return f"{x:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "-"
    r = a / b
    return f"{r:,.0f}x" if r >= 100 else f"{r:,.1f}x" if r >= 10 else f"{r:.2f}x"


# -- 1. per-call cost --------------------------------------------------------

def parse_self_timed(out: bytes, what: str) -> float:
    fields = out.decode(errors="replace").split()
    try:
        return float(fields[-1])
    except (IndexError, ValueError):
        raise BenchError(f"{what}: unexpected output {out!r}") from None


def native_call(prog: str, call: str, n: int) -> float:
    r = subprocess.run([prog, call, str(n)], capture_output=True, timeout=TIMEOUT)
    if r.returncode:
        raise BenchError(f"native {call}: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
    return parse_self_timed(r.stdout, f"native {call}")


def sandboxed_call(prog: str, call: str, n: int, notes: Notes,
                   tag: str = "callbench") -> tuple[float, dict]:
    settled()
    res = strictbox.run([prog, call, str(n)], capture_output=True, timeout=TIMEOUT)
    notes.from_result(f"{tag} {call}", res)
    if res.returncode != 0:
        raise BenchError(f"sandboxed {call}: returncode {res.returncode} ({res.reason}); "
                         f"stderr {res.stderr.decode(errors='replace').strip()!r}")
    return parse_self_timed(res.stdout, f"sandboxed {call}"), res.stats


def self_timed(prog: str, tag: str, plan: list[tuple], quick: bool, notes: Notes,
               least: int) -> list[tuple]:
    """Runs each (argument, label, native n, sandboxed n) of plan natively and
    sandboxed, median of 5 each: rows (label, native ns, strictbox ns)."""
    reps = 5
    rows = []
    for what, label, n_native, n_sb in plan:
        if quick:
            n_native, n_sb = n_native // 10, max(least, n_sb // 10)
        native = sandboxed = None
        try:
            native = median([native_call(prog, what, n_native) for _ in range(reps)])
        except (BenchError, subprocess.SubprocessError) as e:
            notes.add(f"FAILED {tag} {e}")
        try:
            runs = [sandboxed_call(prog, what, n_sb, notes, tag) for _ in range(reps)]
            sandboxed = median([t for t, _ in runs])
            stats = runs[-1][1]
            served = "sandbox" if stats.get("sandbox", 0) >= n_sb else \
                "broker" if stats.get("broker", 0) >= n_sb else "both"
            notes.add(f"{tag} {what} x{n_sb}: strictbox counted {stats.get('sandbox', 0)} calls "
                      f"served in the sandbox, {stats.get('broker', 0)} by the broker "
                      f"(loop served by: {served})")
        except (BenchError, strictbox.StrictboxError) as e:
            notes.add(f"FAILED {e}")
        rows.append((label, native, sandboxed))
    return rows


def bench_calls(prog: str, quick: bool, notes: Notes) -> list[tuple]:
    plan = [(call, f"{call:<13} {how}", n_native, n_sb) for call, how, n_native, n_sb in [
        ("getppid", "in-sandbox (SIGSYS)", 2_000_000, 200_000),
        ("clock_getres", "broker round trip", 1_000_000, 4_000),
        ("lseek", "in-sandbox (prefetched file)", 1_000_000, 40_000),
    ]]
    return self_timed(prog, "callbench", plan, quick, notes, least=500)


# -- 2. IPC floor ------------------------------------------------------------

def ipc(prog: str, mode: str, placement: str, n: int) -> float:
    r = subprocess.run([prog, mode, placement, str(n)], capture_output=True, timeout=TIMEOUT)
    if r.returncode:
        raise BenchError(f"ipcbench {mode} {placement}: exit {r.returncode}: "
                         f"{r.stderr.decode(errors='replace').strip()}")
    if r.stderr:
        raise BenchError(f"ipcbench {mode} {placement}: {r.stderr.decode(errors='replace').strip()}")
    return parse_self_timed(r.stdout, "ipcbench")


def bench_ipc(prog: str, quick: bool, notes: Notes) -> list[tuple]:
    n = 1_000 if quick else 4_000
    reps = 5
    rows = []
    for placement, label in (("any", "placement left to the scheduler"),
                             ("same", "both ends pinned to one CPU"),
                             ("paired", "a CPU each, both polling")):
        vals = {}
        for mode in ("plain", "strict"):
            try:
                vals[mode] = median([ipc(prog, mode, placement, n) for _ in range(reps)])
            except (BenchError, subprocess.SubprocessError) as e:
                notes.add(f"FAILED {e}")
                vals[mode] = None
        rows.append((label, vals["plain"], vals["strict"]))
    return rows


# -- 3. whole process --------------------------------------------------------

def settled() -> None:
    """No earlier run's leftovers in flight: a sandbox's teardown (its
    process's memory, its arena's pages) is done after its result is out
    (strictbox/afterwards.py), and must not slow the next measurement."""
    afterwards.wait()


def wall(fn, runs: int) -> float:
    fn()  # warm up caches (page cache, Python imports, the stub binary)
    times = []
    for _ in range(runs):
        settled()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times) * 1e3


def wall_pair(native, sandboxed, runs: int) -> tuple[float, float]:
    """Medians of both, each native run next to a sandboxed one: a busy
    or drifting machine then weighs on both sides of the ratio alike."""
    return tuple(wall_side_by_side([native, sandboxed], runs))


def wall_side_by_side(fns, runs: int) -> list[float]:
    """Medians (ms) of each of fns, run in turn `runs` times after a warm-up."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, t in zip(fns, times):
            settled()
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return [median(t) * 1e3 for t in times]


def cli_command() -> list[str]:
    exe = shutil.which("strictbox")
    return [exe] if exe else [sys.executable, "-m", "strictbox"]


def bench_process(runs: int, notes: Notes) -> list[tuple]:
    def native():
        r = subprocess.run([BUSYBOX, "true"], capture_output=True)
        if r.returncode:
            raise BenchError(f"native busybox true: exit {r.returncode}")

    def api():
        res = strictbox.run([BUSYBOX, "true"], capture_output=True, timeout=TIMEOUT)
        notes.from_result("busybox true (API)", res)
        if res.returncode:
            raise BenchError(f"strictbox.run busybox true: returncode {res.returncode} ({res.reason})")

    cli = cli_command() + ["run", "--", BUSYBOX, "true"]

    def via_cli():
        r = subprocess.run(cli, capture_output=True, timeout=TIMEOUT)
        if r.returncode:
            raise BenchError(f"{' '.join(cli)}: exit {r.returncode}: "
                             f"{r.stderr.decode(errors='replace').strip()}")

    def interp():
        subprocess.run([sys.executable, "-c", "import strictbox"], check=True)

    base = wall(native, runs)
    rows = [("native: subprocess.run([busybox, true])", base, None)]
    for label, fn in (("Python API: strictbox.run([busybox, true])", api),
                      ("CLI: strictbox run -- busybox true", via_cli),
                      ("  (for scale: python3 -c 'import strictbox')", interp)):
        try:
            rows.append((label, base, wall(fn, runs)))
        except (BenchError, strictbox.StrictboxError, subprocess.SubprocessError) as e:
            notes.add(f"FAILED {e}")
            rows.append((label, base, None))
    return rows


# -- 4. sha256sum of a large file -------------------------------------------

def bench_sha(size: int, tmp: str, notes: Notes) -> tuple:
    data_dir = os.path.join(tmp, "data")
    os.mkdir(data_dir)
    path = os.path.join(data_dir, "random.bin")
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    want = h.hexdigest()
    argv = [BUSYBOX, "sha256sum", path]

    def check(out: bytes, what: str):
        got = out.split()[:1]
        if got != [want.encode()]:
            raise BenchError(f"{what}: wrong digest {out[:80]!r}")

    def native():
        r = subprocess.run(argv, capture_output=True)
        check(r.stdout, "native sha256sum")

    stats = {}

    def sandboxed():
        res = strictbox.run(argv, capture_output=True, timeout=TIMEOUT, ro=[data_dir])
        notes.from_result("busybox sha256sum", res)
        if res.returncode:
            raise BenchError(f"sandboxed sha256sum: returncode {res.returncode} ({res.reason})")
        check(res.stdout, "sandboxed sha256sum")
        stats.update(res.stats)

    base = sb = None
    try:
        base = wall(native, 5)
    except (BenchError, subprocess.SubprocessError) as e:
        notes.add(f"FAILED {e}")
    try:
        sb = wall(sandboxed, 3)
        notes.add(f"busybox sha256sum {size >> 20} MiB: strictbox counted {stats.get('sandbox', 0)} "
                  f"calls served in the sandbox, {stats.get('broker', 0)} by the broker")
    except (BenchError, strictbox.StrictboxError) as e:
        notes.add(f"FAILED {e}")
    return base, sb


# -- 5. CPython start-up -----------------------------------------------------

PYTHON = "/usr/bin/python3"
PYTHON_CASES = [("python3 -I -c pass", "pass"),
                ("python3 -I -c 'import json, decimal, sqlite3'", "import json, decimal, sqlite3")]


def bench_python(runs: int, notes: Notes) -> list[tuple]:
    """Each case natively, in a fresh sandbox, and in sandboxes that share a
    strictbox.WarmStart (each run starts with what the ones before it
    looked up and opened), in turn: (label, native, cold, warm, stats of each)."""
    rows = []
    for label, code in PYTHON_CASES:
        argv = [PYTHON, "-I", "-c", code]
        cold: dict = {}
        warm: dict = {}
        memory = strictbox.WarmStart()

        def native():
            r = subprocess.run(argv, capture_output=True)
            if r.returncode:
                raise BenchError(f"native {label}: exit {r.returncode}")

        def sandboxed(stats: dict, **options):
            res = strictbox.run(argv, capture_output=True, timeout=TIMEOUT, **options)
            notes.from_result(label, res)
            if res.returncode:
                raise BenchError(f"sandboxed {label}: returncode {res.returncode} ({res.reason})")
            stats.update(res.stats)

        times = [None, None, None]
        try:
            times = wall_side_by_side([native, lambda: sandboxed(cold),
                                       lambda: sandboxed(warm, warm=memory)], runs)
        except (BenchError, strictbox.StrictboxError, subprocess.SubprocessError) as e:
            notes.add(f"FAILED {e}")
        rows.append((label, *times, cold, warm))
    return rows


FIRST_RUN = """
import sys, time, strictbox
t = time.perf_counter()
r = strictbox.run(sys.argv[1:], capture_output=True)
print(time.perf_counter() - t, r.returncode)
"""


def bench_first_run(runs: int, notes: Notes) -> tuple[float | None, float | None]:
    """python3 -I -c pass as a process's first run (a new broker process
    each time, strictbox imported beforehand): no standby stub, no spare
    arena, nothing the process learnt; native runs take turns with it."""
    argv = [PYTHON, "-I", "-c", "pass"]
    native, first = [], []
    try:
        for _ in range(runs):
            settled()
            t0 = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True)
            native.append(time.perf_counter() - t0)
            out = subprocess.run([sys.executable, "-c", FIRST_RUN, *argv], capture_output=True,
                                 text=True, timeout=TIMEOUT, check=True).stdout.split()
            if out[1] != "0":
                raise BenchError(f"first run: returncode {out[1]}")
            first.append(float(out[0]))
    except (BenchError, subprocess.SubprocessError, ValueError, IndexError) as e:
        notes.add(f"FAILED first run in a process: {e}")
        return None, None
    return median(native) * 1e3, median(first) * 1e3


# -- 6. threads ---------------------------------------------------------------

SPAWN = 32

def bench_threads(prog: str, quick: bool, notes: Notes) -> list[tuple]:
    """threads_bench: ns per uncontended mutex lock+unlock pair and per
    round of a two-thread condvar ping-pong, native and sandboxed."""
    plan = [
        ("mutex", "pthread_mutex lock+unlock, uncontended", 10_000_000, 10_000_000),
        ("pingpong", "condvar ping-pong, 2 threads, per round", 50_000, 2_000),
    ]
    # 32 threads at once: each grows a fresh sandbox's pool (never scaled down)
    spawn = [("spawn", "pthread_create+join, 32 live at once, per thread", SPAWN, SPAWN)]
    return (self_timed(prog, "threads_bench", plan, quick, notes, least=200)
            + self_timed(prog, "threads_bench", spawn, False, notes, least=SPAWN))


# -- 7. CPython at work -------------------------------------------------------

# Timed by the program itself, after a warm-up: each pass CPython frees and
# maps again its 1 MiB arenas and glibc trims and regrows the heap, as a
# program that builds and drops data does.
PYTHON_WORK = """
import json, time
data = [{"a": i, "b": str(i), "c": [i, i * 2.5, None]} for i in range(20000)]
text = json.dumps(data)
for _ in range(3):
    json.loads(text)
times = []
for _ in range(15):
    t = time.perf_counter(); json.loads(text); json.dumps(data); times.append(time.perf_counter() - t)
print(sorted(times)[7])
"""


def bench_python_work(runs: int, notes: Notes) -> tuple[float | None, float | None]:
    """ms per pass of PYTHON_WORK (the program's own median), native and
    sandboxed in turns; the median of each side's runs."""
    argv = [PYTHON, "-I", "-c", PYTHON_WORK]
    native, sandboxed = [], []
    try:
        for _ in range(runs):
            settled()
            native.append(float(subprocess.run(argv, capture_output=True, check=True, text=True).stdout))
            settled()
            res = strictbox.run(argv, capture_output=True, timeout=TIMEOUT)
            notes.from_result("json passes", res)
            if res.returncode:
                raise BenchError(f"sandboxed json passes: returncode {res.returncode} ({res.reason})")
            sandboxed.append(float(res.stdout))
    except (BenchError, strictbox.StrictboxError, subprocess.SubprocessError, ValueError) as e:
        notes.add(f"FAILED json passes: {e}")
        return None, None
    return median(native) * 1e3, median(sandboxed) * 1e3


# -- the table ---------------------------------------------------------------

W = 58


def section(title: str, left: str, right: str) -> None:
    print()
    print(f"{title:<{W}} {left:>12} {right:>12} {'ratio':>8}")


def row(label: str, a: float | None, b: float | None, digits: int = 1) -> None:
    print(f"  {label:<{W - 2}} {fmt(a, digits):>12} {fmt(b, digits):>12} {ratio(b, a):>8}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer iterations (a smoke test, noisier)")
    p.add_argument("--runs", type=int, default=20, help="runs per whole-process measurement (default 20)")
    p.add_argument("--size-mib", type=int, default=64, help="sha256sum file size (default 64)")
    args = p.parse_args()
    if not os.path.exists(BUSYBOX):
        print(f"{BUSYBOX} not found (install busybox-static)", file=sys.stderr)
        return 2
    notes = Notes()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="strictbox-bench-") as tmp:
        try:
            callbench = build(tmp, "callbench")
            ipcbench = build(tmp, "ipcbench")
            threadsbench = build(tmp, "threads_bench", "-pthread")
        except BenchError as e:
            print(e, file=sys.stderr)
            return 2
        u = os.uname()
        print(f"strictbox benchmarks: Linux {u.release} {u.machine}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}")
        print("medians over repeated runs; ratio = strictbox (or strict mode) / native")

        section("1. Per-call cost, ns/call (self-timed loop)", "native", "strictbox")
        call_rows = bench_calls(callbench, args.quick, notes)
        for r in call_rows:
            row(*r)
        sys.stdout.flush()

        section("2. IPC floor: SEQPACKET round trip, 64 B, ns", "plain", "strict mode")
        ipc_rows = bench_ipc(ipcbench, args.quick, notes)
        for r in ipc_rows:
            row(*r)
        broker = [sb for label, _, sb in call_rows if label.startswith("clock_getres") and sb]
        floor = ipc_rows[-1][2]  # a CPU each, polling: as strictbox.run pairs them
        if broker and floor:
            print(f"  (a strictbox broker call, clock_getres in 1., costs {fmt(broker[0])} ns: "
                  f"{ratio(broker[0], floor)} the paired strict-mode floor above)")
        sys.stdout.flush()

        runs = 5 if args.quick else args.runs
        section(f"3. Whole process: busybox true, ms wall (median of {runs})", "native", "strictbox")
        for label, a, b in bench_process(runs, notes):
            if b is None and label.startswith("native"):
                print(f"  {label:<{W - 2}} {fmt(a, 2):>12}")
            else:
                row(label, a, b, 2)
        sys.stdout.flush()

        size = (8 if args.quick else args.size_mib) << 20
        section(f"4. busybox sha256sum, {size >> 20} MiB file, ms wall", "native", "strictbox")
        base, sb = bench_sha(size, tmp, notes)
        row("sha256sum (native median of 5, strictbox of 3)", base, sb)
        if base and sb:
            mib = size / (1 << 20)
            print(f"  {'  throughput, MiB/s':<{W - 2}} {mib / base * 1e3:>12,.0f} {mib / sb * 1e3:>12,.0f}")

        if os.path.exists(PYTHON):
            section(f"5. CPython start-up, ms wall (median of {runs})", "native", "strictbox")
            for label, a, cold, warm, cold_stats, warm_stats in bench_python(runs, notes):
                row(label, a, cold, 2)
                if cold_stats:
                    print(f"  {'    broker round trips per run':<{W - 2}} {'':>12} "
                          f"{cold_stats.get('broker', 0):>12,}")
                row("    warm start (runs sharing a strictbox.WarmStart)", a, warm, 2)
                if warm_stats:
                    print(f"  {'    broker round trips per run':<{W - 2}} {'':>12} "
                          f"{warm_stats.get('broker', 0):>12,}")
            a, first = bench_first_run(runs, notes)
            row("python3 -I -c pass as a process's first run", a, first, 2)

        section("6. Threads, ns per operation (self-timed loop)", "native", "strictbox")
        for r in bench_threads(threadsbench, args.quick, notes):
            row(*r)
        sys.stdout.flush()

        if os.path.exists(PYTHON):
            work_runs = 3 if args.quick else 7
            section(f"7. CPython at work, ms per pass (median of {work_runs} runs)", "native", "strictbox")
            row("json loads+dumps of 20000 dicts (timed inside)", *bench_python_work(work_runs, notes), 2)

    print()
    print("Notes (from RunResult.stats / RunResult.log):")
    for line in notes.lines or ["(none)"]:
        print(f"  - {line}")
    print(f"\ntotal benchmark time {time.perf_counter() - started:.1f} s")
    return 1 if any(line.startswith("FAILED") for line in notes.lines) else 0


if __name__ == "__main__":
    sys.exit(main())
