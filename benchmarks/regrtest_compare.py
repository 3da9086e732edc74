"""How CPython's own regression tests fare sandboxed against native.

    python3 benchmarks/regrtest_compare.py [-j N] [--json FILE] [MODULE ...]

Runs each module (default: CHOSEN in tests/test_cpython_regrtest.py) with
Debian's /usr/bin/python3 -m test, natively and inside strictbox, and prints
per module regrtest's verdict and the test cases passed, failed and skipped
both ways, then the totals, and for each module that fails sandboxed the
first cases that passed natively but not in the sandbox, with their error,
and the calls the sandbox denied.  -j runs that many modules at once (each
run is still a single process).  Needs libpython3.11-testsuite."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_cpython_regrtest import CHOSEN, KEPT, available, run_module  # noqa: E402


def compare(module: str, work: Path) -> dict:
    t0 = time.monotonic()
    native = run_module(module, work / "n" / module, sandboxed=False)
    t1 = time.monotonic()
    boxed = run_module(module, work / "s" / module, sandboxed=True)
    t2 = time.monotonic()
    lost = sorted(native.passed - boxed.passed)
    return {
        "module": module,
        "native": {"verdict": native.verdict, "passed": len(native.passed),
                   "failed": len(native.failed), "skipped": len(native.skipped),
                   "seconds": round(t1 - t0, 1)},
        "sandboxed": {"verdict": boxed.verdict, "passed": len(boxed.passed),
                      "failed": len(boxed.failed), "skipped": len(boxed.skipped),
                      "seconds": round(t2 - t1, 1), "status": boxed.returncode,
                      "reason": boxed.reason},
        "lost": [(name, boxed.failed.get(name, "skipped" if name in boxed.skipped else "not run"))
                 for name in lost],
        "denied": sorted(set(boxed.log)),
        "tail": boxed.output[-1500:] if boxed.verdict != "SUCCESS" else "",
        "kept": module in KEPT,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", default=CHOSEN)
    ap.add_argument("-j", type=int, default=1, help="modules at once")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--detail", type=int, default=8, help="lost cases shown per module")
    args = ap.parse_args()
    if not available():
        print("CPython's test suite is not installed (libpython3.11-testsuite)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="regrtest-compare-") as d:
        with ThreadPoolExecutor(max(1, args.j)) as pool:
            rows = list(pool.map(lambda m: compare(m, Path(d)), args.modules))
    print(f"{'module':24} {'native':>22} {'sandboxed':>22}  time n/s")
    for r in rows:
        n, s = r["native"], r["sandboxed"]
        cell = lambda x: f"{x['verdict'][:7]:7} {x['passed']:4}/{x['failed']:<3}/{x['skipped']:<3}"
        print(f"{r['module']:24} {cell(n):>22} {cell(s):>22}  {n['seconds']:5}/{s['seconds']:<5}"
              f"{'  (kept)' if r['kept'] else ''}")
    ok_n = sum(r["native"]["verdict"] == "SUCCESS" for r in rows)
    ok_s = sum(r["sandboxed"]["verdict"] == "SUCCESS" for r in rows)
    both = sum(r["native"]["verdict"] == r["sandboxed"]["verdict"] == "SUCCESS" and not r["lost"]
               for r in rows)
    cases_n = sum(r["native"]["passed"] for r in rows)
    cases_s = sum(r["sandboxed"]["passed"] for r in rows)
    print(f"\nmodules: {len(rows)} chosen; SUCCESS natively {ok_n}, sandboxed {ok_s}; "
          f"sandboxed SUCCESS with every native pass also passing: {both}")
    print(f"test cases passed (passed/failed-or-error/skipped above): natively {cases_n}, "
          f"sandboxed {cases_s}")
    for r in rows:
        if r["sandboxed"]["verdict"] == "SUCCESS" and not r["lost"]:
            continue
        print(f"\n== {r['module']}: sandboxed {r['sandboxed']['verdict']}, "
              f"{len(r['lost'])} cases lost; reason {r['sandboxed']['reason']}")
        for name, why in r["lost"][:args.detail]:
            print(f"   {name}: {why}")
        if r["denied"]:
            print("   denied: " + "; ".join(r["denied"][:12]))
        if not r["lost"] and r["tail"]:
            print("   " + r["tail"][-800:].replace("\n", "\n   "))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
