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
    ([1, 0, 0, 0, 0, 0, 0, 0, 0], "undecodable"),  # nine items
    ([1, 1 << 31, 0, 0, 0, 0, 0, 0], "outside 0..2147483647"),
    ([1, -12], "unknown op"),
    ([1, -11, 3], "hand_back op with 1 arguments"),
    ([1, -8, 1], "spread op with 1 arguments"),
    ([1, -7], "poke op with 0 arguments"),
    ([1, -4], "cancel op with 0 arguments"),
    ([1, -6, 1], "ready op with 1 arguments"),
    ([1, -1, 256], "exit status 256"),
    ([1, -2, 0, 0, 0, 0], "signal number 0"),
    ([1, -2, 65, 0, 0, 0], "signal number 65"),
    ([1, -2, 11, 1 << 31, 0, 0], "si_code"),
    ([1, -3, 0], "time op with 1 arguments"),
    ([1, 0, 0, 0, 0, 0, 0, None], "other than integers"),
    ([1, 0, 0, 0, 0, 0, 0, 1.0], "other than integers"),
    ([1, 0, 0, 0, 0, 0, 0, [0]], "other than integers"),
])
def test_each_bad_field_is_named(msg, why):
    with pytest.raises(ProtocolError, match=why):
        protocol.parse(msgpack.packb(msg), 1)


def test_size_limit():
    with pytest.raises(ProtocolError, match="exceeds"):
        protocol.parse(b"\x90" * (protocol.MAX_MESSAGE + 1), 1)


def test_trailing_bytes_are_a_violation():
    with pytest.raises(ProtocolError, match="undecodable"):
        protocol.parse(msgpack.packb([1, -3]) + b"\x00", 1)


@pytest.mark.parametrize("msg", [[1, -1, 0], [1, -1, 255], [1, -2, 11, 1, 0, 0],
                                 [1, -2, 64, (1 << 64) - 6, 0, 0], [1, -3],
                                 [1, (1 << 31) - 1, 0, 0, 0, 0, 0, 0]])
def test_edges_of_each_range_are_accepted(msg):
    assert protocol.parse(msgpack.packb(msg), 1).op == msg[1]


def test_a_stub_of_another_abi_version_refuses_to_start(tmp_path):
    """The channel format is versioned with the arena ABI: the stub checks the
    version the broker wrote into the boot block before it enters strict mode."""
    import os
    import subprocess

    from strictbox import api
    from strictbox.arena import BASE, Arena
    from strictbox.sandbox import stub_path

    sb = api.prepare(["/bin/true" if os.path.exists("/bin/true") else "/usr/bin/true"])
    try:
        sb.arena = Arena(sb.limits.memory)
        sb._load()
        version_offset = 8  # struct sb_boot: magic, version, ...
        assert int.from_bytes(sb.arena.read(BASE + version_offset, 8), "little") == protocol.VERSION
        sb.arena.write(BASE + version_offset, (protocol.VERSION + 1).to_bytes(8, "little"))
        import socket
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        clock = os.memfd_create("clock")
        os.ftruncate(clock, 4096)
        with parent, child:
            p = subprocess.run([stub_path(), str(sb.arena.fd), str(clock), str(os.getpid()),
                                str(child.fileno())],
                               pass_fds=(sb.arena.fd, clock, child.fileno()), capture_output=True,
                               timeout=10, env={})
        os.close(clock)
        assert p.returncode == 127
        assert b"arena boot block does not match this stub" in p.stderr
    finally:
        for f in sb.fds.values():
            if f.hostfd >= 0:
                os.close(f.hostfd)
        sb.arena.close()
        api.release(sb)
