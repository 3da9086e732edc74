"""`strictbox trace`: one line per system call, as strace prints them.

Calls the broker serves are traced from `calls.serve`, with the policy's
decision and the rule that made it.  Calls the runtime serves inside the
sandbox never reach the broker: in trace mode (boot.trace) the runtime
appends a record (nr, six arguments, result, thread) for each of them to a
ring in the arena (struct sb_trace_ring), and the broker drains that ring at
every request it receives and when the sandbox ends, so those lines come out
in order, before the broker-served call that followed them.  The ring is
sandbox memory: read with bounds on everything, decoded defensively and
labelled "(reported by the sandbox)"; nothing is decided on it.

Each call becomes an event (a dict, also the --json line):
  tid, call, nr, args ({name: value}; paths as strings), result, errno (name
  or None), where ("sandbox" or "broker"), reported_by_sandbox, decision and
  rule (None for calls served in the sandbox: the policy never sees them).
Listeners (`learn`) receive every event; `out` gets them printed.
"""

from __future__ import annotations

import errno as errno_mod
import json
import os
import struct

from . import kernel
from .arena import BASE, Fault
from .syscall_table import BY_NAME, DENIED
from ._native import ffi, lib

REC = struct.Struct(f"<q6QqiI{lib.SB_TRACE_PATH}s")  # struct sb_trace_rec
RING = BASE + ffi.offsetof("struct sb_state", "trace")
RECS = RING + ffi.offsetof("struct sb_trace_ring", "rec")
SLOTS = lib.SB_TRACE_SLOTS
ADDRESS_RESULTS = {"brk", "mmap", "mremap", "shmat"}  # results shown in hex
SANDBOX_LABEL = "(reported by the sandbox)"
assert REC.size == ffi.sizeof("struct sb_trace_rec")


def _signed64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


def decode_args(sb, call: str | None, raw, paths: dict | None = None) -> dict:
    """name -> value as the syscall table's kinds say (paths read from the arena)."""
    from .policy.enforce import convert
    row = BY_NAME.get(call) if call else None
    if row is None:
        return {f"arg{i}": v for i, v in enumerate(raw)}
    out = {}
    for i, spec in enumerate(row.args):
        kind, _, name = spec.partition(":")
        v = raw[i] if i < len(raw) else 0
        if kind == "path":
            if paths and v in paths:
                out[name] = paths[v]
            elif v == 0:
                out[name] = None
            else:
                try:
                    out[name] = os.fsdecode(sb.arena.read_cstr(v))
                except (Fault, OSError, ValueError):
                    out[name] = f"<unreadable {v:#x}>"
        else:
            out[name] = convert(call, kind, v)
    return out


def format_args(call: str | None, args: dict) -> str:
    row = BY_NAME.get(call) if call else None
    kinds = dict((s.partition(":")[2], s.partition(":")[0]) for s in (row.args if row else ()))
    parts = []
    for name, v in args.items():
        kind = kinds.get(name, "ptr")
        if kind == "path":
            parts.append(f"{name}=NULL" if v is None else f"{name}={json.dumps(v, ensure_ascii=False)}")
        elif kind == "fd" and v == lib.AT_FDCWD:
            parts.append(f"{name}=AT_FDCWD")
        elif kind in ("flags", "ptr"):
            parts.append(f"{name}={v:#x}")
        else:
            parts.append(f"{name}={v}")
    return ", ".join(parts)


def format_result(call: str | None, result: int | None) -> str:
    if result is None:
        return "?"
    if -4096 < result < 0:
        name = errno_mod.errorcode.get(-result, str(-result))
        return f"-1 {name} ({os.strerror(-result)})"
    if call in ADDRESS_RESULTS:
        return f"{result & ((1 << 64) - 1):#x}"
    return str(result)


def format_event(e: dict) -> str:
    head = f"[{e['tid']}] {e['call']}({format_args(e['call'], e['args'])}) = " \
           f"{format_result(e['call'], e['result'])}"
    if e["where"] == "sandbox":
        return f"{head}  <sandbox> {SANDBOX_LABEL}"
    tail = f"  <broker> {e['decision']}" if e["decision"] else "  <broker>"
    if e["rule"]:
        tail += f" by {e['rule']}"
    return head + tail


class Tracer:
    def __init__(self, out=None, as_json: bool = False):
        self.out = out  # a text stream, or None (listeners only)
        self.as_json = as_json
        self.listeners: list = []
        self.next: dict[int, int] = {}  # id(sandbox) -> next ring record to read
        self._pending: dict[tuple[int, int], dict] = {}  # by sandbox and channel

    # -- output ----------------------------------------------------------------

    def emit(self, e: dict) -> None:
        for fn in self.listeners:
            fn(e)
        if self.out is not None:
            line = json.dumps(e) if self.as_json else format_event(e)
            self._write(line)

    def _write(self, line: str) -> None:
        # Paths are the sandbox's bytes: undecodable ones arrive as surrogates.
        line = line.encode("utf-8", "backslashreplace").decode("utf-8")
        try:
            self.out.write(line + "\n")
            self.out.flush()
        except (OSError, ValueError):  # a closed or full trace file must not stop the run
            self.out = None

    def note(self, sb, text: str) -> None:
        """Something about the trace itself (ring damage, lost records)."""
        e = {"tid": sb.identity.pid, "call": None, "note": text, "where": "sandbox",
             "reported_by_sandbox": True}
        for fn in self.listeners:
            fn(e)
        if self.out is not None:
            self._write(json.dumps(e) if self.as_json else f"strictbox trace: {text}")

    # -- the sandbox's ring ----------------------------------------------------

    def drain(self, sb) -> None:
        """Emits the records the runtime added since the last drain; never
        raises for anything the sandbox wrote."""
        try:
            self._drain(sb)
        except Exception as e:
            sb.log.append(f"trace: {e!r}")

    def _drain(self, sb) -> None:
        key = id(sb)
        start = self.next.get(key, 0)
        try:
            head = struct.unpack("<Q", sb.arena.read(RING, 8))[0]
        except Exception:  # closed or damaged arena: nothing to report
            return
        if head == start:
            return
        if head < start:
            self.note(sb, f"trace ring head went back from {start} to {head} "
                          f"{SANDBOX_LABEL}: records ignored")
            self.next[key] = head
            return
        if head - start > SLOTS:
            self.note(sb, f"{head - start - SLOTS} calls served in the sandbox were not "
                          f"traced (ring of {SLOTS} overflowed, or a damaged count)")
            start = head - SLOTS
        self.next[key] = head
        try:
            data = self._read_records(sb, start, head)
        except Exception:
            self.note(sb, "trace ring unreadable")
            return
        for i in range(head - start):
            self._emit_record(sb, REC.unpack_from(data, i * REC.size))

    @staticmethod
    def _read_records(sb, start: int, end: int) -> bytes:
        first, n = start % SLOTS, end - start
        take = min(n, SLOTS - first)
        data = sb.arena.read(RECS + first * REC.size, take * REC.size)
        if n > take:
            data += sb.arena.read(RECS, (n - take) * REC.size)
        return data

    def _emit_record(self, sb, rec) -> None:
        nr, *rest = rec
        raw, result, tid, flags, path = tuple(rest[:6]), rest[6], rest[7], rest[8], rest[9]
        call = kernel.SYSCALL_NAME.get(nr)
        try:
            args = decode_args(sb, call, raw, _copied_path(raw, flags, path))
        except Exception:
            args = {f"arg{i}": v for i, v in enumerate(raw)}
        self.emit({"tid": tid, "call": call or f"syscall_{nr}", "nr": nr, "args": args,
                   "result": result, "errno": _errno_name(result), "where": "sandbox",
                   "reported_by_sandbox": True, "decision": None, "rule": None})

    # -- hooks -------------------------------------------------------------------

    def request(self, sb, req) -> None:
        """A request arrived: first what the sandbox served since the last one."""
        try:
            self._request(sb, req)
        except Exception as e:  # tracing must never cost the run
            sb.log.append(f"trace: {e!r}")

    def _request(self, sb, req) -> None:
        self.drain(sb)
        if req.op == lib.SB_OP_EXIT:
            self.emit({"tid": sb.identity.pid, "call": "exit_group", "nr": kernel.SYSCALL_NR.get("exit_group"),
                       "args": {"status": req.args[0] & 0xFF}, "result": None, "errno": None,
                       "where": "sandbox", "reported_by_sandbox": True, "decision": None,
                       "rule": None})

    def begin(self, sb, nr: int, raw) -> None:
        """Before a broker-served call: its arguments, paths resolved as the
        policy judges them (a later change of the file does not change the line)."""
        from .policy.enforce import PATH_CALLS, arguments
        sb.last_decision = None
        call = kernel.SYSCALL_NAME.get(nr)
        resolved = {}
        if call in PATH_CALLS:
            saved, sb.checked_paths = sb.checked_paths, None
            try:
                env, _ = arguments(sb, call, tuple(raw), with_paths=True)
                resolved = {k: v for k, v in env.items() if isinstance(v, str)}
            except Exception:
                pass
            sb.checked_paths = saved
        self._pending[(id(sb), id(sb.cur))] = resolved

    def end(self, sb, nr: int, raw, out) -> None:
        try:
            self._end(sb, nr, raw, out)
        except Exception as e:  # tracing must never cost the run
            sb.log.append(f"trace: {e!r}")

    def _end(self, sb, nr: int, raw, out) -> None:
        call = kernel.SYSCALL_NAME.get(nr)
        resolved = self._pending.pop((id(sb), id(sb.cur)), {})
        try:
            args = decode_args(sb, call, raw, sb.checked_paths)
        except Exception:
            args = {f"arg{i}": v for i, v in enumerate(raw)}
        result = _signed64(out[0]) if out else None
        decision, rule = _decision(sb, call)
        e = {"tid": sb.current_tid(), "call": call or f"syscall_{nr}", "nr": nr, "args": args,
             "result": result, "errno": _errno_name(result), "where": "broker",
             "reported_by_sandbox": False, "decision": decision, "rule": rule}
        if resolved:
            e["resolved"] = resolved
        self.emit(e)
        if call in ("execve", "execveat") and result is not None and result >= 0:
            self.next[id(sb)] = 0  # the new image starts with a fresh ring


def _copied_path(raw, flags: int, path: bytes) -> dict[int, str] | None:
    """The path argument the runtime copied into a record as it served the
    call ({its address: the path}, "..." after one cut short): the
    program's buffer may hold something else by now.  Untrusted, like all
    of the record."""
    i = (flags >> lib.SB_TRACE_ARG_SHIFT) & 7
    if not flags & lib.SB_TRACE_COPIED or i > 5:
        return None
    text = os.fsdecode(path.split(b"\0", 1)[0])
    return {raw[i]: text + "..." if flags & lib.SB_TRACE_CUT else text}


def _errno_name(result) -> str | None:
    if isinstance(result, int) and -4096 < result < 0:
        return errno_mod.errorcode.get(-result, str(-result))
    return None


def _decision(sb, call: str | None) -> tuple[str | None, str | None]:
    if call is None:
        return "denied", "not in strictbox's syscall table"
    row = BY_NAME.get(call)
    if row is None:
        return "denied", "not in strictbox's syscall table"
    d = getattr(sb, "last_decision", None)
    if d is not None and not d.allowed:
        return (f"errno({errno_mod.errorcode.get(d.errno, d.errno)})" if d.action == "errno"
                else d.action), d.rule
    if row.where == DENIED:
        return f"denied ({row.errno})", f"syscall table: {row.note}" if row.note else "syscall table"
    if d is None:
        return None, None
    return d.action, d.rule
