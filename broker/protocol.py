"""The broker channel's wire format (see docs/protocol.md).

One SOCK_SEQPACKET message per request: a msgpack array
[seq, op, arg...] of integers.  op >= 0 is a system call number with exactly
six register arguments (unsigned 64-bit); op < 0 is a runtime op.  Replies
are [seq, result, extra...].  Every field is checked; the first bad message
is a ProtocolError, which ends that sandbox."""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from ._native import lib

MAX_MESSAGE = 256
U64 = 1 << 64
OPS = {lib.SB_OP_EXIT: ("exit", 1), lib.SB_OP_FAULT: ("fault", 4), lib.SB_OP_TIME: ("time", 0)}


class ProtocolError(Exception):
    pass


@dataclass(frozen=True)
class Request:
    seq: int
    op: int
    args: tuple[int, ...]


def parse(data: bytes, expected_seq: int) -> Request:
    if not data:
        raise ProtocolError("empty message")
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    try:
        msg = msgpack.unpackb(data, raw=True, strict_map_key=True, max_array_len=8,
                              max_map_len=0, max_str_len=0, max_bin_len=0, max_ext_len=0,
                              use_list=True)
    except Exception as e:  # msgpack raises several unrelated types
        raise ProtocolError(f"undecodable message ({type(e).__name__})") from None
    if not isinstance(msg, list) or len(msg) < 2:
        raise ProtocolError("message is not an array of at least two items")
    if not all(type(v) is int for v in msg):
        raise ProtocolError("message holds something other than integers")
    seq, op, *args = msg
    if seq != expected_seq:
        raise ProtocolError(f"sequence number {seq}, expected {expected_seq}")
    if op >= 0:
        if len(args) != 6:
            raise ProtocolError(f"system call {op} with {len(args)} arguments, not 6")
    elif op in OPS:
        if len(args) != OPS[op][1]:
            raise ProtocolError(f"{OPS[op][0]} op with {len(args)} arguments")
    else:
        raise ProtocolError(f"unknown op {op}")
    if not all(0 <= a < U64 for a in args):
        raise ProtocolError("argument out of the unsigned 64-bit range")
    return Request(seq, op, tuple(args))


def reply(seq: int, result: int, *extra: int) -> bytes:
    return msgpack.packb([seq, result, *extra])
