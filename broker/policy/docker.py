"""Import a Docker/OCI seccomp profile (JSON) as a strictbox policy.

Names, actions and argument rules carry over: the comparisons of one entry
are joined with &&, and several entries for one call and action become
several filters (any may hold), as libseccomp reads them.  An argument is
written by its name when strictbox's syscall table knows it and the value
reads the same either way, else as argN (the raw 64-bit register, which is
what seccomp compares).  Entries for other architectures or that need a
capability (strictbox grants none) are left out, and every such choice is
returned as a note."""

from __future__ import annotations

import errno as errno_mod
import json

from . import expr
from .errors import PolicyError
from .model import Action, Policy, Rule

AMD64 = {"amd64", "x86_64", "SCMP_ARCH_X86_64"}
OPS = {"SCMP_CMP_NE": "!=", "SCMP_CMP_LT": "<", "SCMP_CMP_LE": "<=", "SCMP_CMP_EQ": "==",
       "SCMP_CMP_GE": ">=", "SCMP_CMP_GT": ">", "SCMP_CMP_MASKED_EQ": "&=="}
UNSIGNED_KINDS = ("flags", "size", "ptr")


def _action(name: str, errno_ret, notes: list[str]) -> Action:
    if name == "SCMP_ACT_ALLOW":
        return Action("allow")
    if name == "SCMP_ACT_LOG":
        return Action("log")
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"):
        if name == "SCMP_ACT_TRAP":
            notes.append("SCMP_ACT_TRAP became kill: strictbox delivers no SIGSYS for policy")
        return Action("kill")
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_NOTIFY"):
        if name != "SCMP_ACT_ERRNO":  # no tracer or listener here: seccomp answers ENOSYS
            notes.append(f"{name} became errno(ENOSYS): strictbox has no tracer or listener")
            return Action("errno", "ENOSYS")
        code = errno_mod.EPERM if errno_ret is None else errno_ret
        name_of = errno_mod.errorcode.get(code) if isinstance(code, int) else None
        if name_of is None:
            raise PolicyError(f"unknown errno number {code!r}")
        return Action("errno", name_of)
    raise PolicyError(f"unknown seccomp action {name!r}",
                      hint="expected SCMP_ACT_ALLOW, ERRNO, KILL, KILL_PROCESS, KILL_THREAD, "
                           "TRAP, TRACE, LOG or NOTIFY")


def _num(v: int) -> expr.Expr:
    if v < 0:
        return expr.Unary("-", expr.Num(-v))
    return expr.Num(v, 16 if v > 255 else 10)


def _operand(call: str, index: int, values: list[int], op: str) -> expr.Expr:
    from ..syscall_table import BY_NAME
    row = BY_NAME.get(call)
    if row and index < len(row.args):
        kind, name = row.args[index].split(":", 1)
        plain = all(0 <= v < 1 << 31 for v in values)
        if kind != "path" and plain and (kind in UNSIGNED_KINDS or op in ("==", "!=", "&==")):
            return expr.Name(name)
    return expr.Name(f"arg{index}")


def _condition(call: str, args: list[dict]) -> expr.Expr | None:
    tree = None
    for a in args:
        index, op = a.get("index"), OPS.get(a.get("op"))
        value, two = a.get("value", 0), a.get("valueTwo", 0)
        if not isinstance(index, int) or not 0 <= index < 6:
            raise PolicyError(f"{call}: argument index {index!r} is not 0 to 5")
        if op is None:
            raise PolicyError(f"{call}: unknown comparison {a.get('op')!r}",
                              hint=f"expected one of {', '.join(OPS)}")
        if not isinstance(value, int) or not isinstance(two, int):
            raise PolicyError(f"{call}: comparison values must be integers")
        left = _operand(call, index, [value, two] if op == "&==" else [value], op)
        if op == "&==":  # libseccomp: (arg & value) == valueTwo
            cmp = expr.Binary("==", expr.Binary("&", left, _num(value)), _num(two))
        else:
            cmp = expr.Binary(op, left, _num(value))
        tree = cmp if tree is None else expr.Binary("&&", tree, cmp)
    return tree


def _applies(entry: dict, call_notes: list[str], label: str) -> bool:
    inc, exc = entry.get("includes") or {}, entry.get("excludes") or {}
    if inc.get("caps"):
        call_notes.append(f"left out {label}: it needs {', '.join(inc['caps'])}")
        return False
    if inc.get("arches") and not AMD64 & set(inc["arches"]):
        return False
    if exc.get("arches") and AMD64 & set(exc["arches"]):
        return False
    return True


def from_json(data: dict, source: str = "profile") -> tuple[Policy, list[str]]:
    """(policy, notes) from a parsed Docker seccomp profile."""
    from ..kernel import SYSCALL_NR
    if not isinstance(data, dict) or not isinstance(data.get("syscalls", []), list):
        raise PolicyError(f"{source}: not a Docker seccomp profile (no syscalls list)")
    notes: list[str] = []
    policy = Policy(default=_action(data.get("defaultAction", "SCMP_ACT_ALLOW"),
                                    data.get("defaultErrnoRet"), notes),
                    name=f"imported from {source}")
    unknown: set[str] = set()
    for n, entry in enumerate(data.get("syscalls", [])):
        names = entry.get("names") or ([entry["name"]] if entry.get("name") else [])
        label = f"entry {n} ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
        if not _applies(entry, notes, label):
            continue
        act = _action(entry.get("action", ""), entry.get("errnoRet", data.get("defaultErrnoRet")),
                      notes)
        for call in names:
            if call not in SYSCALL_NR:
                unknown.add(call)
                continue
            when = _condition(call, entry.get("args") or [])
            clash = [r for r in policy.rules if r.target == call and r.when is None
                     and when is None and r.action != act]
            if clash:
                notes.append(f"{call}: kept {clash[0].action}, left out {act} from {label}")
                continue
            policy._add(Rule(call, act, when))
    if unknown:
        notes.append(f"left out {len(unknown)} calls x86_64 does not have: "
                     + " ".join(sorted(unknown)))
    return policy, list(dict.fromkeys(notes))


def load(path: str) -> tuple[Policy, list[str]]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise PolicyError(f"not valid JSON: {e.msg}", line=e.lineno, source=path) from None
    return from_json(data, path)
