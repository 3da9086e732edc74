"""A policy in TOML: reading with an error per problem, each with its line,
and writing (a small writer for the few shapes a policy has).

    name = "example"
    default = "errno(EPERM)"        # allow, log, kill or errno(NAME)
    time = "real"                   # real, coarse or deterministic
    system_mounts = true            # read-only /usr /lib /lib64 /bin /sbin

    [allow]                         # also [log], [kill], [errno.EACCES], ...
    "@basic-io" = true              # a group: always
    read = "fd == 0"                # a call: when the filter holds
    write = ["fd == 1", "fd == 2"]  # when any of them holds

    [[mount]]
    path = "/data"                  # inside the sandbox
    host = "/srv/in"
    mode = "ro"                     # ro, rw, or tmp (empty, writable, no host)

    [[path]]                        # first match wins, for every path argument
    match = "/data/secret/*"
    action = "errno(EACCES)"
    access = "any"                  # any, read or write

    [limits]                        # memory, cpu, wall, threads, open_files, output, file_size, disk
    memory = "256M"

    [identity]                      # uid, gid, hostname
"""

from __future__ import annotations

import os
import re

from . import expr
from .errors import PolicyError
from .model import (LIMIT_FIELDS, SIZE_LIMITS, Action, Identity, Limits, Mount,
                    PathRule, Policy, Rule, toml_key, toml_str)

TOP_KEYS = ("name", "description", "default", "time", "system_mounts", "allow", "log", "kill",
            "errno", "mount", "path", "limits", "identity")
RULE_TABLES = ("allow", "log", "kill")
SIZE = re.compile(r"^\s*(\d+)\s*([KMG]?)(?:i?B)?\s*$", re.I)
UNITS = {"": 0, "K": 10, "M": 20, "G": 30}


def size_value(v) -> int:
    """A size: an integer of bytes or a string such as "256M" (K, M, G: powers of 1024)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    m = SIZE.match(v) if isinstance(v, str) else None
    if not m:
        raise PolicyError(f"not a size: {v!r}", hint='write bytes (65536) or "64K", "256M", "2G"')
    return int(m.group(1)) << UNITS[m.group(2).upper()]


def size_text(n: int):
    for unit in ("G", "M", "K"):
        if n and n % (1 << UNITS[unit]) == 0:
            return f"{n >> UNITS[unit]}{unit}"
    return n


# -- where each key is ---------------------------------------------------------

class _Lines:
    """Line numbers of the keys, tables and array items of a TOML text that
    tomllib has already accepted (tomllib itself reports no positions)."""

    def __init__(self, text: str):
        self.text, self.i, self.at = text, 0, {}
        self.counters: dict[tuple, int] = {}
        self._scan()

    def line(self, i: int | None = None) -> int:
        return self.text.count("\n", 0, self.i if i is None else i) + 1

    def _peek(self, k: int = 1) -> str:
        return self.text[self.i:self.i + k]

    def _blank(self, newlines: bool) -> None:
        t = self.text
        while self.i < len(t):
            c = t[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                while self.i < len(t) and t[self.i] != "\n":
                    self.i += 1
            else:
                return

    def _string(self) -> str:
        t, start = self.text, self.i
        for q in ('"""', "'''"):
            if t.startswith(q, self.i):
                end = self.i + 3
                while True:
                    end = t.index(q, end)
                    if q == '"""':  # a backslash run of odd length escapes the quote
                        k = end
                        while t[k - 1] == "\\":
                            k -= 1
                        if (end - k) % 2:
                            end += 1
                            continue
                    break
                while t.startswith(q[0], end + 3):  # up to two quotes may end the content
                    end += 1
                self.i = end + 3
                return ""
        q = t[self.i]
        self.i += 1
        while t[self.i] != q:
            self.i += 2 if (q == '"' and t[self.i] == "\\") else 1
        self.i += 1
        raw = t[start + 1:self.i - 1]
        if q == '"':
            import tomllib  # (only this module reads TOML, and only for a policy file)
            try:
                return tomllib.loads(f"k = {t[start:self.i]}")["k"]
            except tomllib.TOMLDecodeError:
                return raw
        return raw

    def _key(self) -> tuple:
        parts = []
        while True:
            self._blank(False)
            if self._peek() in ('"', "'"):
                parts.append(self._string())
            else:
                m = re.compile(r"[A-Za-z0-9_-]+").match(self.text, self.i)
                parts.append(m.group())
                self.i = m.end()
            self._blank(False)
            if self._peek() != ".":
                return tuple(parts)
            self.i += 1

    def _value(self, path: tuple) -> None:
        self._blank(False)
        c = self._peek()
        self.at.setdefault(path, self.line())
        if c in ('"', "'"):
            self._string()
        elif c == "[":
            self.i += 1
            n = 0
            while True:
                self._blank(True)
                if self._peek() == "]":
                    self.i += 1
                    return
                self._value(path + (n,))
                n += 1
                self._blank(True)
                if self._peek() == ",":
                    self.i += 1
        elif c == "{":
            self.i += 1
            while True:
                self._blank(False)
                if self._peek() == "}":
                    self.i += 1
                    return
                key = self._key()
                self.i += 1  # '='
                self.at.setdefault(path + key, self.line())
                self._value(path + key)
                self._blank(False)
                if self._peek() == ",":
                    self.i += 1
        else:
            m = re.compile(r"[^,\]\}\s#]+(?:[ T][0-9:.+\-Z]+)?").match(self.text, self.i)
            self.i = m.end() if m else self.i + 1

    def _scan(self) -> None:
        table: tuple = ()
        while True:
            self._blank(True)
            if self.i >= len(self.text):
                return
            if self.text.startswith("[[", self.i):
                self.i += 2
                name = self._key()
                self.i += 2
                n = self.counters[name] = self.counters.get(name, -1) + 1
                table = name + (n,)
                self.at.setdefault(name, self.line())
                self.at[table] = self.line()
            elif self._peek() == "[":
                self.i += 1
                table = self._key()
                self.i += 1
                self.at.setdefault(table, self.line())
            else:
                key = self._key()
                self._blank(False)
                self.i += 1  # '='
                self.at.setdefault(table + key, self.line())
                self._value(table + key)

    def find(self, key: tuple) -> int | None:
        """The line of key, or of its nearest enclosing key that has one."""
        for n in range(len(key), 0, -1):
            if key[:n] in self.at:
                return self.at[key[:n]]
        return None


def key_lines(text: str) -> dict[tuple, int]:
    return _Lines(text).at


# -- reading -------------------------------------------------------------------

def _close(word: str, choices) -> str:
    import difflib
    close = difflib.get_close_matches(word, list(choices), 3, 0.6)
    return f"did you mean {' or '.join(close)}? " if close else ""


def _unknown_keys(table: dict, allowed, where: tuple, errors: list, label: str) -> None:
    for k in table:
        if k not in allowed:
            errors.append((where + (k,), PolicyError(
                f"unknown key {k!r} in {label}",
                hint=_close(k, allowed) + f"keys here: {', '.join(allowed)}")))


def _rules_from(policy: Policy, table: dict, action: Action, where: tuple, errors: list) -> None:
    if not isinstance(table, dict):
        errors.append((where, PolicyError(f"{'.'.join(where)} must be a table",
                                          hint=f"write [{'.'.join(where)}] then call = true lines")))
        return
    for target, value in table.items():
        key = where + (target,)
        items = value if isinstance(value, list) else [value]
        if value is False:
            errors.append((key, PolicyError(f"{target} = false does nothing",
                                            hint="remove the line, or give the call another action")))
            continue
        if isinstance(value, list) and not value:
            errors.append((key, PolicyError(f"{target} has an empty list of filters",
                                            hint="write true for the whole call, or remove it")))
            continue
        for n, item in enumerate(items):
            ikey = key + (n,) if isinstance(value, list) else key
            if item is True and not isinstance(value, list):
                tree, source = None, None
            elif isinstance(item, str):
                try:
                    tree, source = expr.parse(item), item
                except PolicyError as e:
                    errors.append((ikey, e.located(prefix=f"{target}: ")))
                    continue
            else:
                errors.append((ikey, PolicyError(
                    f"{target}: expected true, a filter string or a list of filter strings, "
                    f"not {item!r}", hint='for example read = "fd == 0"')))
                continue
            errors += policy._add(Rule(target, action, tree, key=ikey, source=source), ikey)


def _action(value, key: tuple, errors: list) -> Action | None:
    try:
        return Action.parse(value)
    except PolicyError as e:
        errors.append((key, e))
        return None


def from_dict(data: dict, errors: list) -> Policy:
    """A Policy from parsed TOML; problems go to errors as (key, PolicyError)."""
    p = Policy()
    _unknown_keys(data, TOP_KEYS, (), errors, "the policy")
    for k in ("name", "description"):
        if k in data:
            if isinstance(data[k], str):
                setattr(p, k, data[k])
            else:
                errors.append(((k,), PolicyError(f"{k} must be a string")))
    if "default" in data:
        act = _action(data["default"], ("default",), errors)
        if act:
            p.default = act
    if "time" in data:
        p.time = data["time"]
    if "system_mounts" in data:
        if isinstance(data["system_mounts"], bool):
            p.system_mounts = data["system_mounts"]
        else:
            errors.append((("system_mounts",), PolicyError("system_mounts must be true or false")))
    for t in RULE_TABLES:
        if t in data:
            _rules_from(p, data[t], Action(t), (t,), errors)
    if "errno" in data:
        if not isinstance(data["errno"], dict):
            errors.append((("errno",), PolicyError("errno must hold tables such as [errno.EACCES]")))
        else:
            for name, table in data["errno"].items():
                act = _action(f"errno({name})", ("errno", name), errors)
                if act:
                    _rules_from(p, table, act, ("errno", name), errors)
    for i, m in enumerate(_array(data, "mount", errors)):
        key = ("mount", i)
        _unknown_keys(m, ("path", "host", "mode"), key, errors, "[[mount]]")
        p.mounts.append(Mount(m.get("path"), m.get("mode", "ro"), m.get("host"), key=key))
    for i, r in enumerate(_array(data, "path", errors)):
        key = ("path", i)
        _unknown_keys(r, ("match", "action", "access"), key, errors, "[[path]]")
        if "action" not in r:
            errors.append((key, PolicyError("[[path]] needs an action",
                                            hint='add action = "errno(EACCES)" (or allow, log, kill)')))
            continue
        act = _action(r["action"], key + ("action",), errors)
        if act:
            p.paths.append(PathRule(r.get("match"), act, r.get("access", "any"), key=key))
    limits = _table(data, "limits", errors)
    _unknown_keys(limits, LIMIT_FIELDS, ("limits",), errors, "[limits]")
    lim = Limits()
    for k in LIMIT_FIELDS:
        if k in limits:
            v = limits[k]
            if k in SIZE_LIMITS:
                try:
                    v = size_value(v)
                except PolicyError as e:
                    errors.append((("limits", k), e))
                    continue
            setattr(lim, k, v)
    p.limits = lim
    ident = _table(data, "identity", errors)
    _unknown_keys(ident, ("uid", "gid", "hostname"), ("identity",), errors, "[identity]")
    p.identity = Identity(ident.get("uid"), ident.get("gid"), ident.get("hostname"))
    errors += p.conflicts() + p.setting_problems()  # each rule was checked as it was added
    return p


def _array(data: dict, key: str, errors: list) -> list[dict]:
    v = data.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        errors.append(((key,), PolicyError(f"{key} must be an array of tables",
                                           hint=f"write each one under [[{key}]]")))
        return []
    return v


def _table(data: dict, key: str, errors: list) -> dict:
    v = data.get(key, {})
    if not isinstance(v, dict):
        errors.append(((key,), PolicyError(f"{key} must be a table", hint=f"write [{key}]")))
        return {}
    return v


def loads(text: str, source: str | None = None) -> Policy:
    """A Policy from TOML text; PolicyError listing every problem otherwise."""
    policy, errors = check_text(text, source)
    if errors:
        raise errors[0] if len(errors) == 1 else PolicyError(
            f"{len(errors)} problems", errors=errors, source=source)
    return policy


def check_text(text: str, source: str | None = None) -> tuple[Policy | None, list[PolicyError]]:
    """The policy and every problem in it, each placed on its line."""
    import tomllib  # (not at start-up: most runs have no policy file)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(m.group(1)) if m else None
        return None, [PolicyError(f"not valid TOML: {msg}", line=line, source=source,
                                  hint="see https://toml.io; strings need quotes, "
                                       "keys with @ need quotes too: \"@basic-io\" = true")]
    errs: list = []
    policy = from_dict(data, errs)
    lines = _Lines(text)
    out = [e.located(line=lines.find(key), source=source) for key, e in errs]
    out.sort(key=lambda e: e.line or 0)
    return policy, out


def load(path: str | os.PathLike) -> Policy:
    with open(path, encoding="utf-8") as f:
        return loads(f.read(), os.fspath(path))


# -- writing -------------------------------------------------------------------

def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return toml_str(str(v))


def dumps(policy: Policy) -> str:
    """TOML that loads back to an equal Policy."""
    out = ["# strictbox policy"]
    if policy.name:
        out.append(f"name = {toml_str(policy.name)}")
    if policy.description:
        out.append(f"description = {toml_str(policy.description)}")
    out.append(f"default = {toml_str(str(policy.default))}")
    out.append(f"time = {toml_str(policy.time)}")
    out.append(f"system_mounts = {_scalar(policy.system_mounts)}")
    tables: dict[str, dict[str, list]] = {"allow": {}, "log": {}}
    for r in policy.rules:
        if r.action.kind == "errno":
            tables.setdefault(r.action.table, {})
    tables["kill"] = {}
    for r in policy.rules:
        tables[r.action.table].setdefault(r.target, []).append(r.when)
    for name, rules in tables.items():
        if not rules:
            continue
        out.append(f"\n[{name}]")
        for target, whens in rules.items():
            if None in whens:
                value = "true"
            else:
                texts = [toml_str(expr.unparse(w)) for w in whens]
                value = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
            out.append(f"{toml_key(target)} = {value}")
    limits = {k: getattr(policy.limits, k) for k in LIMIT_FIELDS
              if getattr(policy.limits, k) is not None}
    if limits:
        out.append("\n[limits]")
        for k, v in limits.items():
            out.append(f"{k} = {_scalar(size_text(v) if k in SIZE_LIMITS else v)}")
    ident = {k: v for k, v in vars(policy.identity).items() if v is not None}
    if ident:
        out.append("\n[identity]")
        out += [f"{k} = {_scalar(v)}" for k, v in ident.items()]
    for m in policy.mounts:
        out.append("\n[[mount]]")
        out.append(f"path = {toml_str(m.path)}")
        if m.host is not None:
            out.append(f"host = {toml_str(m.host)}")
        out.append(f"mode = {toml_str(m.mode)}")
    for r in policy.paths:
        out.append("\n[[path]]")
        out.append(f"match = {toml_str(r.match)}")
        out.append(f"action = {toml_str(str(r.action))}")
        if r.access != "any":
            out.append(f"access = {toml_str(r.access)}")
    return "\n".join(out) + "\n"


def dump(policy: Policy, path: str | os.PathLike) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(dumps(policy))


__all__ = ["check_text", "dump", "dumps", "key_lines", "load", "loads", "size_value"]
