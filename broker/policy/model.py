"""The policy model, its builder API and the decision function.

How a call is decided (the order never depends on how the policy was
written, so a policy means the same after a TOML round trip):

1. If rules name the call itself, only they count; its groups' rules count
   only for a call no rule names.  So `[allow] read = "fd == 0"` limits
   read even where "@basic-io" is allowed, and a call with only a
   conditional deny rule needs its own allow rule for the other cases.
2. Among the rules that count, those whose filter holds come before the
   unconditional ones; if several apply, the strictest action wins
   (kill > errno > log > allow; between two errnos, the first by name).
3. No rule applies: the policy's default action.
4. A call allowed (or logged) so far is then held against the path rules,
   for each of its path arguments: the first rule whose glob matches the
   path (resolved in the view) and whose access fits decides; no match
   leaves the call allowed.
"""

from __future__ import annotations

import errno as errno_mod
import fnmatch
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from . import expr, groups
from .errors import PolicyError

ALLOW, LOG, ERRNO, KILL = "allow", "log", "errno", "kill"
RANK = {ALLOW: 0, LOG: 1, ERRNO: 2, KILL: 3}
MOUNT_MODES = ("ro", "rw", "tmp")
TIME_MODES = ("real", "coarse", "deterministic")
ACCESS = ("any", "read", "write")
RAW_ARGS = tuple(f"arg{i}" for i in range(6))
LIMIT_FIELDS = ("memory", "cpu", "wall", "threads", "open_files", "output", "file_size", "disk")
SIZE_LIMITS = ("memory", "output", "file_size", "disk")  # bytes; the rest are counts or seconds
ACTION = re.compile(r"^\s*(allow|log|kill|errno\s*\(\s*([A-Z0-9]+)\s*\))\s*$")


def _errno_names() -> list[str]:
    return sorted(errno_mod.errorcode.values())


# -- TOML spelling shared by messages and the writer -------------------------

BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_str(s: str) -> str:
    """A TOML string, literal ('...') when that spares escapes (filters with ")."""
    control = any(ord(c) < 32 or ord(c) == 127 for c in s)
    if not control and '"' not in s and "\\" not in s:
        return f'"{s}"'
    if not control and "'" not in s:
        return f"'{s}'"
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 32 or ord(c) == 127:
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(c, f"\\u{ord(c):04x}"))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def toml_key(k: str) -> str:
    return k if BARE_KEY.match(k) else '"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- actions and rules -------------------------------------------------------

@dataclass(frozen=True)
class Action:
    kind: str  # allow, log, errno, kill
    errno: str | None = None  # the errno's name, for kind errno

    @classmethod
    def parse(cls, text) -> "Action":
        if isinstance(text, Action):
            return text
        m = ACTION.match(text) if isinstance(text, str) else None
        if not m:
            raise PolicyError(f"unknown action {text!r}",
                              hint='use "allow", "log", "kill" or "errno(EPERM)" (any errno name)')
        if m.group(2):
            name = m.group(2)
            if not isinstance(getattr(errno_mod, name, None), int):
                import difflib
                close = difflib.get_close_matches(name, _errno_names(), 3)
                raise PolicyError(f"unknown errno {name!r}",
                                  hint=f"did you mean {' or '.join(close)}?" if close
                                  else "use a name from errno(3), such as EPERM or EACCES")
            return cls(ERRNO, name)
        return cls(m.group(1))

    @property
    def code(self) -> int | None:
        return getattr(errno_mod, self.errno) if self.errno else None

    @property
    def table(self) -> str:
        """Its table in the TOML file."""
        return f"errno.{self.errno}" if self.kind == ERRNO else self.kind

    def __str__(self) -> str:
        return f"errno({self.errno})" if self.kind == ERRNO else self.kind


@dataclass(frozen=True)
class Rule:
    target: str  # a call's name or "@group"
    action: Action
    when: expr.Expr | None = None  # the filter; None: always
    key: tuple = field(default=(), compare=False)  # where it came from in a TOML file
    source: str | None = field(default=None, compare=False)  # the filter as written

    @property
    def text(self) -> str:
        value = "true" if self.when is None else toml_str(expr.unparse(self.when))
        return f"[{self.action.table}] {toml_key(self.target)} = {value}"


@dataclass(frozen=True)
class Mount:
    path: str  # inside the sandbox
    mode: str = "ro"  # ro, rw or tmp (a fresh empty writable directory)
    host: str | None = None  # None for tmp
    key: tuple = field(default=(), compare=False)


@dataclass(frozen=True)
class PathRule:
    match: str  # glob over the resolved virtual path
    action: Action
    access: str = "any"  # any, read or write
    key: tuple = field(default=(), compare=False)

    @property
    def text(self) -> str:
        acc = "" if self.access == "any" else f", access = {toml_str(self.access)}"
        return f"[[path]] match = {toml_str(self.match)}, action = {toml_str(str(self.action))}{acc}"


@dataclass
class Limits:
    """None leaves strictbox's default; sizes in bytes, times in seconds."""
    memory: int | None = None
    cpu: float | None = None
    wall: float | None = None
    threads: int | None = None
    open_files: int | None = None
    output: int | None = None
    file_size: int | None = None
    disk: int | None = None  # bytes the sandbox may add to its writable mounts


@dataclass
class Identity:
    uid: int | None = None
    gid: int | None = None
    hostname: str | None = None


@dataclass(frozen=True)
class Decision:
    action: str  # allow, log, errno, kill
    errno: int | None  # the errno number for action errno
    rule: str  # the rule that decided, as written in TOML
    arg: str | None = None  # the argument a path rule judged

    @property
    def allowed(self) -> bool:
        return self.action in (ALLOW, LOG)


# -- what a call looks like to a filter --------------------------------------

def arg_types(call: str) -> dict[str, str]:
    """Argument name -> expr.INT or expr.STR for one call."""
    from ..syscall_table import BY_NAME
    types = {a: expr.INT for a in RAW_ARGS}
    row = BY_NAME.get(call)
    for spec in row.args if row else ():
        kind, _, name = spec.partition(":")
        types[name] = expr.STR if kind == "path" else expr.INT
    return types


def writes(call: str, args: Mapping[str, int | str]) -> bool:
    """Whether the call may change the file its path names."""
    if call in groups.GROUPS["file-write"]:
        return True
    if call in ("open", "openat", "openat2"):
        flags = args.get("flags")
        if not isinstance(flags, int):
            return True  # unknown (openat2's flags are behind a pointer): assume the worst
        c = expr.constants()
        return bool((flags & c["O_ACCMODE"]) != c["O_RDONLY"]
                    or flags & (c["O_CREAT"] | c["O_TRUNC"] | c["O_APPEND"])
                    or (flags & c["O_TMPFILE"]) == c["O_TMPFILE"])
    return False


def _known_call(name: str) -> bool:
    from ..kernel import SYSCALL_NR
    return name in SYSCALL_NR


def _close(word: str, choices: Iterable[str]) -> str:
    import difflib
    close = difflib.get_close_matches(word, list(choices), 3, 0.6)
    return f"did you mean {' or '.join(close)}? " if close else ""


# -- the policy --------------------------------------------------------------

def _rule_key(r: Rule) -> tuple:
    return (r.action.table, r.target, "" if r.when is None else expr.unparse(r.when))


# What a policy with no call rules decides, by (default, call): its default
# alone decides, so every such policy (each run without a policy file makes
# one) shares these instead of working them out again (~10 µs a call).
_RULELESS: dict[tuple, tuple] = {}


@dataclass(eq=False)
class Policy:
    """A whole policy.  Build one with the chaining methods:

        Policy(default="errno(EPERM)").allow("@basic-io").allow("read", "fd == 0")
            .deny("openat", "flags & O_ACCMODE != O_RDONLY", errno="EACCES")
            .mount("/data", host="/srv/in").set_limits(memory="256M", cpu=5)
    """

    default: Action | str = field(default_factory=lambda: Action(ALLOW))
    rules: list[Rule] = field(default_factory=list)
    system_mounts: bool = True  # read-only /usr, /lib, /lib64, /bin, /sbin
    mounts: list[Mount] = field(default_factory=list)
    paths: list[PathRule] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    identity: Identity = field(default_factory=Identity)
    time: str = "real"
    name: str = ""
    description: str = ""

    def __post_init__(self):
        self.default = Action.parse(self.default)
        self._cache: dict = {}  # decisions by call (_levels, allows_each)

    def __setattr__(self, name, value) -> None:
        super().__setattr__(name, value)
        if name in ("default", "rules") and "_cache" in self.__dict__:
            self._cache.clear()  # (what was decided under the old ones no longer holds)

    # equality ignores the order of call rules, which never changes a decision
    def __eq__(self, other) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        mine = (sorted(map(_rule_key, self.rules)), self._plain())
        return mine == (sorted(map(_rule_key, other.rules)), other._plain())

    def _plain(self) -> tuple:
        return (self.default, self.system_mounts, self.mounts, self.paths, self.limits,
                self.identity, self.time, self.name, self.description)

    @classmethod
    def permissive(cls) -> "Policy":
        """What strictbox does without a policy: every call it serves is allowed."""
        return cls()

    # -- builder -------------------------------------------------------------

    def rule(self, target: str | Iterable[str], action: Action | str,
             when: str | expr.Expr | None = None) -> "Policy":
        targets = [target] if isinstance(target, str) else list(target)
        act = Action.parse(action)
        tree = expr.parse(when) if isinstance(when, str) else when
        for t in targets:
            self._add(Rule(t, act, tree, source=when if isinstance(when, str) else None))
        return self

    def _add(self, rule: Rule, key: tuple = ()) -> list[tuple[tuple, PolicyError]]:
        problems = self._rule_problems(rule)
        if not key and rule.when is None and not rule.target.startswith("@"):
            for r in self.rules:
                if r.target == rule.target and r.when is None and r.action != rule.action:
                    problems.append(((), PolicyError(
                        f"{rule.target} is already {r.action}", hint=f"remove {r.text} first")))
        if problems and not key:  # the builder raises at once; the loader collects
            raise problems[0][1]
        same = [r for r in self.rules if r.target == rule.target and r.action == rule.action]
        if any(r.when is None or r.when == rule.when for r in same):
            return problems  # already covered: same action, same or wider condition
        if rule.when is None:  # an unconditional rule makes its conditional ones moot
            self.rules = [r for r in self.rules if r not in same]
        self.rules.append(rule)
        self._cache.clear()
        return problems

    def allow(self, target, when=None) -> "Policy":
        return self.rule(target, Action(ALLOW), when)

    def log(self, target, when=None) -> "Policy":
        return self.rule(target, Action(LOG), when)

    def kill(self, target, when=None) -> "Policy":
        return self.rule(target, Action(KILL), when)

    def deny(self, target, when=None, errno: str = "EPERM") -> "Policy":
        return self.rule(target, Action.parse(f"errno({errno})"), when)

    def mount(self, path: str, host: str | None = None, mode: str = "ro") -> "Policy":
        m = Mount(path, mode, host)
        problems = self._mount_problems(m)
        if problems:
            raise problems[0][1]
        self.mounts.append(m)
        return self

    def path(self, match: str, action: Action | str = "errno(EACCES)", access: str = "any") -> "Policy":
        pr = PathRule(match, Action.parse(action), access)
        problems = self._path_problems(pr)
        if problems:
            raise problems[0][1]
        self.paths.append(pr)
        self._cache.clear()
        return self

    def set_limits(self, **values) -> "Policy":
        from .tomlio import size_value
        for k, v in values.items():
            if k not in LIMIT_FIELDS:
                raise PolicyError(f"unknown limit {k!r}", hint=f"{_close(k, LIMIT_FIELDS)}"
                                  f"limits: {', '.join(LIMIT_FIELDS)}")
            if k in SIZE_LIMITS and isinstance(v, str):
                v = size_value(v)
            setattr(self.limits, k, v)
        problems = self._limit_problems()
        if problems:
            raise problems[0][1]
        return self

    def set_identity(self, uid: int | None = None, gid: int | None = None,
                     hostname: str | None = None) -> "Policy":
        self.identity = Identity(uid, gid, hostname)
        problems = self._identity_problems()
        if problems:
            raise problems[0][1]
        return self

    def set_time(self, mode: str) -> "Policy":
        if mode not in TIME_MODES:
            raise PolicyError(f"unknown time mode {mode!r}", hint=f"use {', '.join(TIME_MODES)}")
        self.time = mode
        return self

    def set_default(self, action: Action | str) -> "Policy":
        self.default = Action.parse(action)
        self._cache.clear()
        return self

    # -- checking ------------------------------------------------------------

    def _rule_problems(self, r: Rule) -> list[tuple[tuple, PolicyError]]:
        out = []
        if r.target.startswith("@"):
            if r.target[1:] not in groups.GROUPS:
                out.append((r.key, PolicyError(
                    f"unknown group {r.target!r}",
                    hint=_close(r.target[1:], groups.GROUPS) + "`strictbox policy groups` lists them")))
            elif r.when is not None:
                out.append((r.key, PolicyError(
                    f"{r.target}: a filter needs one call, not a group",
                    hint=f"write the filter under each call of {r.target} you mean")))
        elif not _known_call(r.target):
            from ..kernel import SYSCALL_NR
            out.append((r.key, PolicyError(
                f"unknown system call {r.target!r}",
                hint=_close(r.target, SYSCALL_NR) + "groups start with @, as in \"@file-read\"")))
        elif r.when is not None:
            try:
                expr.check(r.when, arg_types(r.target), r.source)
            except PolicyError as e:
                out.append((r.key, e.located(prefix=f"{r.target}: ")))
        return out

    def _mount_problems(self, m: Mount) -> list[tuple[tuple, PolicyError]]:
        out = []
        if not isinstance(m.path, str) or not m.path.startswith("/"):
            out.append((m.key + ("path",), PolicyError(
                f"mount path {m.path!r} is not absolute", hint="write it from /, as in /data")))
        if m.mode not in MOUNT_MODES:
            out.append((m.key + ("mode",), PolicyError(
                f"unknown mount mode {m.mode!r}", hint="use ro, rw or tmp")))
        elif m.mode == "tmp" and m.host is not None:
            out.append((m.key + ("host",), PolicyError(
                "a tmp mount has no host directory", hint="remove host, or use mode = \"rw\"")))
        elif m.mode != "tmp" and (not isinstance(m.host, str) or not m.host):
            out.append((m.key, PolicyError(
                f"{m.mode} mount of {m.path} needs a host path", hint='add host = "/srv/data"')))
        return out

    def _path_problems(self, p: PathRule) -> list[tuple[tuple, PolicyError]]:
        out = []
        if not isinstance(p.match, str) or not p.match.startswith(("/", "*")):
            out.append((p.key + ("match",), PolicyError(
                f"path pattern {p.match!r} matches no absolute path",
                hint="paths are judged resolved and absolute: start the glob with / or *")))
        if p.access not in ACCESS:
            out.append((p.key + ("access",), PolicyError(
                f"unknown access {p.access!r}", hint="use any, read or write")))
        return out

    def _limit_problems(self) -> list[tuple[tuple, PolicyError]]:
        out = []
        for k in LIMIT_FIELDS:
            v = getattr(self.limits, k)
            if v is None:
                continue
            integral = k not in ("cpu", "wall")
            ok = (isinstance(v, int) if integral else isinstance(v, (int, float))) \
                and not isinstance(v, bool) and v > 0
            if not ok:
                what = "a positive integer" if integral else "a positive number of seconds"
                hint = 'sizes may be written "256M" or "2G"' if k in SIZE_LIMITS else None
                out.append((("limits", k), PolicyError(f"limit {k} must be {what}, not {v!r}",
                                                       hint=hint)))
        return out

    def _identity_problems(self) -> list[tuple[tuple, PolicyError]]:
        out = []
        for k in ("uid", "gid"):
            v = getattr(self.identity, k)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)
                                  or not 0 <= v < 2 ** 32 - 1):
                out.append((("identity", k), PolicyError(
                    f"{k} must be an integer from 0 to 4294967294, not {v!r}")))
        h = self.identity.hostname
        if h is not None and (not isinstance(h, str) or not 0 < len(h.encode()) <= 64
                              or "\0" in h):
            out.append((("identity", "hostname"), PolicyError(
                f"hostname must be 1 to 64 bytes, not {h!r}")))
        return out

    def problems(self) -> list[tuple[tuple, PolicyError]]:
        """Every problem, each with the TOML key it belongs to."""
        out = []
        for r in self.rules:
            out += self._rule_problems(r)
        return out + self.conflicts() + self.setting_problems()

    def conflicts(self) -> list[tuple[tuple, PolicyError]]:
        """The same call named twice, unconditionally, with different actions:
        the stricter would win silently, which is rarely what was meant."""
        out, seen = [], {}
        for r in self.rules:
            if r.when is None and not r.target.startswith("@"):
                first = seen.setdefault(r.target, r)
                if first.action != r.action:
                    out.append((r.key, PolicyError(
                        f"{r.target} is both {first.action} and {r.action}",
                        hint=f"keep one of {first.text} and {r.text}")))
        return out

    def setting_problems(self) -> list[tuple[tuple, PolicyError]]:
        """Problems outside the call rules: mounts, paths, limits, identity, time."""
        out = []
        for m in self.mounts:
            out += self._mount_problems(m)
        for p in self.paths:
            out += self._path_problems(p)
        out += self._limit_problems() + self._identity_problems()
        if self.time not in TIME_MODES:
            out.append((("time",), PolicyError(f"unknown time mode {self.time!r}",
                                               hint=f"use {', '.join(TIME_MODES)}")))
        return out

    def notes(self) -> list[tuple[tuple, str]]:
        """Rules that will not do all they seem to (calls served in the
        sandbox whatever the policy says: not the gated ones, whose local
        answers stop where a rule could decide otherwise)."""
        from ..syscall_table import BY_NAME, SANDBOX
        out = []
        for r in self.rules:
            row = BY_NAME.get(r.target)
            if row is not None and row.where == SANDBOX and not row.gated and (
                    r.when is not None or r.action.kind != ALLOW):
                out.append((r.key, f"{r.target} is served inside the sandbox: the broker "
                                   f"applies {r.text} only to the {r.target} calls it is "
                                   f"forwarded ({row.note or 'see strictbox syscalls'})"))
        return out

    def warnings(self) -> list[tuple[tuple, str]]:
        """Calls whose own rules are all conditional denials while a group of
        theirs is allowed: the other cases get the default, not the group's allow."""
        out = []
        if self.default.kind in (ALLOW, LOG):
            return out
        for call in dict.fromkeys(r.target for r in self.rules if not r.target.startswith("@")):
            direct, grouped, _ = self._levels(call)
            if all(r.when is not None and not Decision(r.action.kind, None, "").allowed
                   for r in direct) and any(r.action.kind in (ALLOW, LOG) for r in grouped):
                g = next(r for r in grouped if r.action.kind in (ALLOW, LOG))
                out.append((direct[0].key, f"{call} is named only by conditional denials, so "
                            f"its other calls get the default ({self.default}), not {g.text}; "
                            f"add {call} = true under [allow] if that is what you mean"))
        return out

    # -- deciding ------------------------------------------------------------

    def _levels(self, call: str) -> tuple[list[Rule], list[Rule]]:
        hit = self._cache.get(call)
        if hit is None:
            ruleless = (self.default, call) if not self.rules else None
            hit = _RULELESS.get(ruleless) if ruleless else None
            if hit is None:
                direct = [r for r in self.rules if r.target == call]
                grouped = [r for r in self.rules if r.target.startswith("@")
                           and call in groups.GROUPS.get(r.target[1:], ())]
                static = None
                if not any(r.when is not None for r in direct or grouped):
                    static = self._by_rules(call, (direct, grouped), {})
                hit = (direct, grouped, static)
                if ruleless:
                    _RULELESS[ruleless] = hit
            self._cache[call] = hit
        return hit

    def static_decision(self, call: str, has_paths: bool) -> Decision | None:
        """The decision when it cannot depend on the arguments, else None."""
        static = self._levels(call)[2]
        if static is None or (has_paths and self.paths and static.allowed):
            return None
        return static

    def allows(self, call: str) -> bool:
        """The call rules allow call (not log it) whatever its arguments:
        only path rules may still say otherwise."""
        static = self.static_decision(call, False)
        return static is not None and static.action == ALLOW

    def allows_each(self, call: str, cases: tuple[tuple[tuple[str, int], ...], ...]) -> bool:
        """The call rules allow call (not log it) in each of these cases
        (argument name, value pairs), whatever else it is given: no filter
        looks at an argument the cases leave out.  Only path rules may
        still say otherwise."""
        if self.allows(call):
            return True
        key = ("each", call, cases)  # (hashing the cases costs: only for filtered calls)
        hit = self._cache.get(key)
        if hit is None:
            direct, grouped, _ = self._levels(call)
            known = {name for case in cases for name, _ in case} | set(expr.constants())
            hit = (all(r.when is None or expr.names(r.when) <= known for r in (*direct, *grouped))
                   and all(self._by_rules(call, (direct, grouped), dict(c)).action == ALLOW for c in cases))
            self._cache[key] = hit
        return hit

    def decide(self, call: str, args: Mapping[str, int | str]) -> Decision:
        """What to do with `call` made with `args` (argument name -> value;
        path arguments as resolved virtual paths)."""
        direct, grouped, static = self._levels(call)
        d = static or self._by_rules(call, (direct, grouped), args)
        if d.allowed and self.paths:
            return self._by_paths(call, args, d)
        return d

    def _by_rules(self, call: str, levels, args) -> Decision:
        direct, grouped = levels
        counted = direct or grouped
        tried = [r for r in counted if r.when is not None]
        chosen = [r for r in tried if _matches(r, args)] or [r for r in counted if r.when is None]
        if chosen:
            best = min(chosen, key=lambda r: (-RANK[r.action.kind], r.action.errno or ""))
            return Decision(best.action.kind, best.action.code, best.text)
        text = f"default = {toml_str(str(self.default))}"
        if tried:
            text += " (no filter held: " + "; ".join(r.text for r in tried) + ")"
        return Decision(self.default.kind, self.default.code, text)

    def _by_paths(self, call: str, args, d: Decision) -> Decision:
        write = None
        for name, value in args.items():
            if not isinstance(value, str):
                continue
            for p in self.paths:
                if p.access != "any":
                    if write is None:
                        write = writes(call, args)
                    if write != (p.access == "write"):
                        continue
                if fnmatch.fnmatchcase(value, p.match):
                    if p.action.kind != ALLOW:
                        return Decision(p.action.kind, p.action.code, p.text, name)
                    break
        return d


def _matches(r: Rule, args) -> bool:
    try:
        return expr.holds(r.when, args)
    except PolicyError:
        # A filter that cannot be evaluated (never so after check): fail
        # closed, so a denying rule applies and an allowing one does not.
        return RANK[r.action.kind] >= RANK[ERRNO]
