"""The request parser takes arbitrary bytes: a Request or a ProtocolError."""

import msgpack
import pytest
from hypothesis import given, settings, strategies as st

from strictbox import protocol
from strictbox.protocol import ProtocolError, Request

u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)


@given(st.binary(max_size=400))
@settings(max_examples=2000)
def test_arbitrary_bytes_never_escape(data):
    try:
        req = protocol.parse(data, 1)
    except ProtocolError:
        return
    assert isinstance(req, Request) and req.seq == 1


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
                    | st.binary(max_size=5),
                    lambda inner: st.lists(inner, max_size=9)
                    | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=20))
def test_arbitrary_msgpack_values_never_escape(value):
    try:
        data = msgpack.packb(value)
    except (OverflowError, ValueError):  # not representable in msgpack at all
        return
    try:
        protocol.parse(data, 1)
    except ProtocolError:
        pass


@given(st.integers(min_value=1, max_value=1 << 40), st.integers(0, 450), st.lists(u64, min_size=6, max_size=6))
def test_well_formed_syscall_requests_round_trip(seq, nr, args):
    req = protocol.parse(msgpack.packb([seq, nr, *args]), seq)
    assert req == Request(seq, nr, tuple(args))


@pytest.mark.parametrize("msg, why", [
    ([1, 0, 1, 2, 3, 4, 5], "arguments, not 6"),
    ([2, 0, 0, 0, 0, 0, 0, 0], "sequence number"),
    ([1, -99], "unknown op"),
    ([1, -1], "exit op"),
    ([1, 0, 0, 0, 0, 0, 0, -1], "64-bit range"),
    ([1, 0, 0, 0, 0, 0, 0, True], "other than integers"),
    ({"a": 1}, "undecodable"),
    (5, "not an array"),
])
def test_each_bad_field_is_named(msg, why):
    with pytest.raises(ProtocolError, match=why):
        protocol.parse(msgpack.packb(msg), 1)


def test_size_limit():
    with pytest.raises(ProtocolError, match="exceeds"):
        protocol.parse(b"\x90" * (protocol.MAX_MESSAGE + 1), 1)
