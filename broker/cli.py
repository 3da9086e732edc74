"""The strictbox command line."""

from __future__ import annotations

import argparse
import re
import sys

from . import syscall_table
from .api import StrictboxError, run
from .policy import cli as policy_cli

SIZE = re.compile(r"^(\d+)([KMG]?)i?B?$", re.I)


def parse_size(text: str) -> int:
    m = SIZE.match(text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 512M or 2G)")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]


def parse_env(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"not NAME=VALUE: {text!r}")
    return key, value


def cmd_run(args, tracer=None) -> int:
    env = dict(args.env) if args.env else None
    try:
        result = run(args.program, ro=args.ro, rw=args.rw, memory=args.mem, cpu=args.cpu,
                     timeout=args.timeout, env=env, cwd=args.cwd, max_threads=args.max_threads,
                     forward_signals=True,
                     policy=getattr(args, "policy", None), tracer=tracer)
    except StrictboxError as e:
        print(f"strictbox: {e}", file=sys.stderr)
        return 127
    if args.verbose:
        for line in result.log:
            print(f"strictbox: {line}", file=sys.stderr)
        s = result.stats
        print(f"strictbox: calls served in sandbox {s.get('sandbox', 0)}, by broker "
              f"{s.get('broker', 0)}, denied {s.get('denied', 0)}", file=sys.stderr)
    if result.reason:
        print(f"strictbox: {result.reason}", file=sys.stderr)
    rc = result.returncode
    return 128 - rc if rc < 0 else rc


def cmd_trace(args) -> int:
    from .trace import Tracer
    try:
        out = open(args.output, "w", encoding="utf-8") if args.output else sys.stderr
    except OSError as e:
        print(f"strictbox: {args.output}: {e.strerror}", file=sys.stderr)
        return 127
    try:
        return cmd_run(args, tracer=Tracer(out, as_json=args.json))
    finally:
        if args.output:
            out.close()


def cmd_learn(args) -> int:
    from .learn import learn
    env = dict(args.env) if args.env else None
    try:
        result, policy = learn(args.program, args.output, ro=args.ro, rw=args.rw, memory=args.mem,
                               cpu=args.cpu, timeout=args.timeout, env=env, cwd=args.cwd)
    except (StrictboxError, OSError) as e:
        print(f"strictbox: {e}", file=sys.stderr)
        return 127
    if result.reason:
        print(f"strictbox: {result.reason}", file=sys.stderr)
    print(f"strictbox: wrote {args.output}: {len(policy.rules)} call rules, "
          f"{len(policy.paths)} path rules (the program exited {result.returncode})",
          file=sys.stderr)
    rc = result.returncode
    return 128 - rc if rc < 0 else rc


def cmd_syscalls(args) -> int:
    from .kernel import SYSCALL_NR
    for c in syscall_table.TABLE:
        where = c.where if c.where != syscall_table.DENIED else f"denied ({c.errno})"
        print(f"{SYSCALL_NR.get(c.name, '?'):>4} {c.name:<18} {where:<16} {c.note}")
    print(f"(any other call: denied (ENOSYS) and logged; {len(SYSCALL_NR)} calls in the kernel headers)")
    return 0


def add_run_options(r, policy: bool = True) -> None:
    """The options run, trace and learn share."""
    r.add_argument("--ro", action="append", default=[], metavar="HOST[:PATH]",
                   help="show a host file or directory read-only (at PATH)")
    r.add_argument("--rw", action="append", default=[], metavar="HOST[:PATH]",
                   help="show a host directory read-write (at PATH)")
    r.add_argument("--mem", type=parse_size, default=None, metavar="SIZE",
                   help="memory limit, the size of the arena (default 1G)")
    r.add_argument("--cpu", type=float, default=None, metavar="SECONDS", help="CPU time limit")
    r.add_argument("--max-threads", type=int, default=None, metavar="N",
                   help="threads that can run at once (default 64; each starts when the program first needs it)")
    r.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="wall-clock limit")
    r.add_argument("--env", type=parse_env, action="append", metavar="NAME=VALUE",
                   help="environment for the program (default: PATH only)")
    r.add_argument("--cwd", default="/", help="working directory inside the sandbox")
    if policy:
        r.add_argument("--policy", metavar="FILE",
                       help="a policy file (TOML) or a built-in profile: "
                            + ", ".join(policy_cli.profiles.PROFILES))
    r.add_argument("-v", "--verbose", action="store_true",
                   help="print denied calls and call counts")
    r.add_argument("program", nargs=argparse.REMAINDER, metavar="-- PROGRAM [ARGS]")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="strictbox", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a program in a new sandbox")
    add_run_options(r)
    r.set_defaults(func=cmd_run)
    t = sub.add_parser("trace", help="run a program, printing a line per system call")
    t.add_argument("-o", "--output", metavar="FILE", help="write the trace here (default: stderr)")
    t.add_argument("--json", action="store_true", help="one JSON object per line")
    add_run_options(t)
    t.set_defaults(func=cmd_trace)
    lp = sub.add_parser("learn", help="run a program permissively and write the policy it needs")
    lp.add_argument("-o", "--output", metavar="FILE", required=True, help="the policy to write")
    add_run_options(lp, policy=False)
    lp.set_defaults(func=cmd_learn)
    s = sub.add_parser("syscalls", help="print where each system call is served")
    s.set_defaults(func=cmd_syscalls)
    policy_cli.add_parser(sub)
    args = p.parse_args(argv)
    if args.command in ("run", "trace", "learn"):
        if args.program[:1] == ["--"]:
            args.program = args.program[1:]
        if not args.program:
            p.error(f"{args.command}: no program given")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
