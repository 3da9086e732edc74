"""`strictbox learn`: run a program permissively and write the policy it needs.

The program runs with no policy (every call strictbox serves is allowed) in
the view `strictbox run` would give it: the system mounts, a private /tmp and
the mounts the user names (the same host directories: an rw mount is written
for real).  The trace machinery (trace.py) reports every call, including
those served inside the sandbox, and every path argument as the policy would
judge it (resolved in the view).  From that:

* calls: a group is used when it has at least two members strictbox serves
  and the program made every one of them (so a group never lets through a
  call the program did not make); every other call is named;
* filters, where cheap and obvious: `open`/`openat` only ever read-only ->
  `flags & O_ACCMODE == O_RDONLY && !(flags & O_CREAT)`; read/write/... only
  on stdio fds -> `fd == 1 || fd == 2`;
* paths: one allow rule per directory (a path under a system mount collapses
  to that mount, any other to its parent directory; a top-level entry stays
  itself), then `match = "*"` -> errno(EACCES) for every other path;
* default errno(EPERM), not kill: a learning run sees one path through the
  program, and a call it missed (an error path, a locale file) then fails
  like a forbidden call usually does instead of killing the program; change
  `default` to "kill" for the strictest policy.

Calls strictbox denies whatever the policy says (its syscall table) are
denied by the policy with the table's errno (ENOSYS for sendfile, ...), so a
program that falls back on ENOSYS behaves as it did while learning.
"""

from __future__ import annotations

import os
import posixpath
from collections import Counter, defaultdict

from .policy import GROUPS, Policy, dumps, loads
from .policy.expr import constants
from .policy.model import toml_key, toml_str
from .syscall_table import BY_NAME, DENIED, SANDBOX

DEFAULT = "errno(EPERM)"
PATH_DENY = "errno(EACCES)"
SYSTEM_MOUNTS = ("/usr", "/lib", "/lib64", "/bin", "/sbin")
OPEN_CALLS = ("open", "openat")
STDIO_FD_CALLS = ("read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
                  "pwritev", "ioctl")
SKIP_GROUPS = {"privileged", "default"}


class Learner:
    """Listens to a Tracer's events and remembers what the program did."""

    def __init__(self):
        self.count: Counter = Counter()
        self.failed: Counter = Counter()
        self.where: dict[str, set] = defaultdict(set)
        self.fds: dict[str, set] = defaultdict(set)
        self.flags: dict[str, set] = defaultdict(set)
        self.paths: Counter = Counter()
        self.ignored: Counter = Counter()  # ring records naming a call the sandbox does not serve
        self.notes: list[str] = []

    def __call__(self, e: dict) -> None:
        call = e.get("call")
        if call is None:
            self.notes.append(e.get("note", ""))
            return
        row = BY_NAME.get(call)
        if e["where"] == "sandbox" and call != "exit_group" and (row is None or row.where != SANDBOX):
            self.ignored[call] += 1  # the ring is untrusted: it cannot add broker calls
            return
        self.count[call] += 1
        self.where[call].add(e["where"])
        if e.get("errno"):
            self.failed[call] += 1
        args = e.get("args") or {}
        if isinstance(args.get("fd"), int):
            self.fds[call].add(args["fd"])
        if call in OPEN_CALLS and e["where"] == "broker" and isinstance(args.get("flags"), int):
            self.flags[call].add(args["flags"])  # (the runtime serves only read-only ones)
        if e["where"] == "broker":
            for p in (e.get("resolved") or {}).values():
                if isinstance(p, str) and p.startswith("/"):
                    self.paths[p] += 1


def _read_only(flags: int) -> bool:
    c = constants()
    return (flags & c["O_ACCMODE"]) == c["O_RDONLY"] and not flags & c["O_CREAT"]


def _collapse(path: str, system_mounts: bool) -> tuple[str, ...]:
    """The path rule(s) that cover one observed path."""
    if system_mounts:
        for root in SYSTEM_MOUNTS:
            if path == root:
                return (root,)
            if path.startswith(root + "/"):
                return (root + "/*",)
    parent = posixpath.dirname(path.rstrip("/")) or "/"
    if parent == "/":
        return (path,)
    return (parent + "/*",)


def _covered(glob: str, others: set[str]) -> bool:
    """Whether a broader directory glob in others already covers glob."""
    stem = glob[:-2] if glob.endswith("/*") else glob
    for o in others:
        if o != glob and o.endswith("/*") and stem.startswith(o[:-1]):
            return True
    return False


def build(learner: Learner, argv: list[str], mounts: list[tuple[str, str, bool]],
          system_mounts: bool = True) -> tuple[Policy, str]:
    """The learned policy and its commented TOML text."""
    seen = {c for c in learner.count if c in BY_NAME and BY_NAME[c].where != DENIED}
    denied_anyway = sorted(c for c in learner.count if c not in seen)
    p = Policy(default=DEFAULT, system_mounts=system_mounts,
               description="learned by strictbox learn from: " + " ".join(argv))
    comments: dict[str, str] = {}

    def counts(c: str) -> str:
        n, f = learner.count[c], learner.failed[c]
        where = "/".join(sorted(learner.where[c]))
        return f"{c} {n}x" + (f" ({f} failed)" if f else "") + f" [{where}]"

    named = set(seen)
    p.allow("@default")
    for g, members in sorted(GROUPS.items()):
        if g in SKIP_GROUPS:
            continue
        served = [m for m in members if m in BY_NAME and BY_NAME[m].where != DENIED]
        if len(served) >= 2 and all(m in seen for m in served):
            p.allow("@" + g)
            comments["@" + g] = ", ".join(counts(m) for m in served)
            named -= set(served)
    filtered = set()
    for c in sorted(seen):
        cond = None
        if c in OPEN_CALLS and learner.flags[c] and all(map(_read_only, learner.flags[c])):
            cond = "flags & O_ACCMODE == O_RDONLY && !(flags & O_CREAT)"
            why = "only ever read-only"
        elif c in STDIO_FD_CALLS and learner.fds[c] and learner.fds[c] <= {0, 1, 2}:
            cond = " || ".join(f"fd == {fd}" for fd in sorted(learner.fds[c]))
            why = "only on stdio"
        if cond is not None:
            p.allow(c, cond)
            filtered.add(c)
            comments[c] = f"{counts(c)}, {why}"
        elif c in named:
            p.allow(c)
            comments[c] = counts(c)
    for c in denied_anyway:  # as the syscall table answers them, so fallbacks still work
        row = BY_NAME.get(c)
        p.deny(c, errno=row.errno if row is not None else "ENOSYS")
        comments[c] = counts(c) + ", denied by strictbox's syscall table anyway"
    for host, vpath, writable in mounts:
        p.mount(vpath, host, "rw" if writable else "ro")

    globs: Counter = Counter()
    example: dict[str, str] = {}
    for path, n in learner.paths.items():
        for g in _collapse(path, system_mounts):
            globs[g] += n
            example.setdefault(g, path)
    kept = [g for g in sorted(globs) if not _covered(g, set(globs))]
    for g in kept:
        p.path(g, "allow")
    p.path("*", PATH_DENY)
    text = _commented(p, learner, argv, comments, globs, example, denied_anyway, filtered)
    return p, text


def _commented(p: Policy, learner: Learner, argv, comments, globs, example,
               denied_anyway, filtered) -> str:
    total = sum(learner.count.values())
    local = sum(n for c, n in learner.count.items() if learner.where[c] == {"sandbox"})
    head = [
        f"# Learned by `strictbox learn` from: {' '.join(argv)}",
        f"# Observed {total} calls of {len(learner.count)} kinds ({local} served inside the "
        f"sandbox, which the broker never judges) and {len(learner.paths)} distinct paths.",
        f"# default = {DEFAULT}: a call not seen while learning fails (it does not kill: a",
        "# learning run sees one path through the program; use \"kill\" to be strict).",
        "# A group is allowed only where the program made every call of it strictbox serves.",
        f"# Paths: the directories seen are allowed, everything else is {PATH_DENY}.",
    ]
    if denied_anyway:
        head.append("# Denied with the errno strictbox's syscall table gives them anyway (so a "
                    "program's fallback still works): " + ", ".join(denied_anyway))
    if learner.ignored:
        head.append("# Ignored: the sandbox reported serving calls it does not serve: "
                    + ", ".join(f"{c} {n}x" for c, n in sorted(learner.ignored.items())))
    body = dumps(p).splitlines()
    by_key = {toml_key(t): c for t, c in comments.items()}
    by_match = {f"match = {toml_str(g)}": f"{n} path uses, e.g. {example[g]}" for g, n in globs.items()}
    by_match[f"match = {toml_str('*')}"] = "every path not seen while learning"
    out, table = [], None
    for line in body:
        s = line.strip()
        if s.startswith("["):
            table = s
        key = s.split(" = ", 1)[0]
        if (table == "[allow]" or (table or "").startswith("[errno.")) and key in by_key:
            line += f"  # {by_key[key]}"
        elif table == "[[path]]" and s in by_match:
            line += f"  # {by_match[s]}"
        out.append(line)
    text = "\n".join(head + out) + "\n"
    assert loads(text) == p, "the learned policy does not read back"
    return text


def learn(argv: list[str], output: str, *, ro=(), rw=(), trace_out=None, **options):
    """Runs argv permissively, writes the learned policy to output; returns
    (RunResult, Policy)."""
    from .api import parse_mount, run
    from .trace import Tracer
    tracer = Tracer(trace_out)
    learner = Learner()
    tracer.listeners.append(learner)
    result = run(argv, ro=ro, rw=rw, tracer=tracer, **options)
    mounts = [parse_mount(s, False) for s in ro] + [parse_mount(s, True) for s in rw]
    policy, text = build(learner, [os.fsdecode(a) for a in argv], mounts)
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    return result, policy
