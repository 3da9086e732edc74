"""The broker channel's wire format (see docs/protocol.md).

One SOCK_SEQPACKET message per request: a msgpack array
[seq, op, arg...] of integers.  op >= 0 is a system call number with exactly
six register arguments (unsigned 64-bit); op < 0 is a runtime op with its own
argument count and ranges.  Replies are [seq, result, extra...].  Every field
is checked here; the first bad message is a ProtocolError, which ends that
sandbox.  The format is part of the arena ABI: it changes only together
with SB_ABI_VERSION, which the broker writes into the boot block and the stub
checks before it enters strict mode."""

from __future__ import annotations

from typing import NamedTuple

import msgpack

from ._native import lib

VERSION = lib.SB_ABI_VERSION
MAX_MESSAGE = 256  # bytes in one request
MAX_ITEMS = 8  # seq, op and at most six arguments
U64 = 1 << 64
MAX_SYSCALL = 1 << 31  # the kernel takes the call number from eax, and negative is ENOSYS
S32_LOW, S32_HIGH = 1 << 31, U64 - (1 << 31)  # a 32-bit int sign-extended to 64 bits
OPS = {lib.SB_OP_EXIT: ("exit", 1), lib.SB_OP_FAULT: ("fault", 4), lib.SB_OP_TIME: ("time", 0),
       lib.SB_OP_CANCEL: ("cancel", 1), lib.SB_OP_WAKE_WAIT: ("wake_wait", 1),
       lib.SB_OP_READY: ("ready", 0), lib.SB_OP_POKE: ("poke", 1), lib.SB_OP_SPREAD: ("spread", 0),
       lib.SB_OP_YIELD: ("yield", 0), lib.SB_OP_UNPIN: ("unpin", 3),
       lib.SB_OP_HAND_BACK: ("hand_back", 2)}


class ProtocolError(Exception):
    pass


class Request(NamedTuple):  # (one per request: quicker to make than a frozen dataclass)
    seq: int
    op: int
    args: tuple[int, ...]


def parse(data: bytes, expected_seq: int) -> Request:
    if not data:
        raise ProtocolError("empty message")
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    try:
        msg = msgpack.unpackb(data, raw=True, strict_map_key=True, max_array_len=MAX_ITEMS,
                              max_map_len=0, max_str_len=0, max_bin_len=0, max_ext_len=0,
                              use_list=True)
    except Exception as e:  # msgpack raises several unrelated types
        raise ProtocolError(f"undecodable message ({type(e).__name__})") from None
    if type(msg) is not list or len(msg) < 2:
        raise ProtocolError("message is not an array of at least two items")
    for v in msg:
        if type(v) is not int:  # booleans, floats, nil, strings, nested arrays
            raise ProtocolError("message holds something other than integers")
    seq, op, *args = msg
    if seq != expected_seq:
        raise ProtocolError(f"sequence number {seq}, expected {expected_seq}")
    for a in args:
        if not 0 <= a < U64:
            raise ProtocolError("argument out of the unsigned 64-bit range")
    if 0 <= op < MAX_SYSCALL:
        if len(args) != 6:
            raise ProtocolError(f"system call {op} with {len(args)} arguments, not 6")
    elif op in OPS:
        name, count = OPS[op]
        if len(args) != count:
            raise ProtocolError(f"{name} op with {len(args)} arguments, not {count}")
        if op == lib.SB_OP_EXIT and args[0] > 255:
            raise ProtocolError(f"exit status {args[0]} outside 0..255")
        if op == lib.SB_OP_FAULT:
            if not 1 <= args[0] <= 64:
                raise ProtocolError(f"fault with signal number {args[0]} outside 1..64")
            if S32_LOW <= args[1] < S32_HIGH:
                raise ProtocolError(f"fault with si_code {args[1]:#x} outside 32 bits")
    elif op >= MAX_SYSCALL:
        raise ProtocolError(f"system call number {op} outside 0..{MAX_SYSCALL - 1}")
    else:
        raise ProtocolError(f"unknown op {op}")
    return Request(seq, op, tuple(args))


def reply(seq: int, result: int, *extra: int) -> bytes:
    return msgpack.packb([seq, result, *extra])
