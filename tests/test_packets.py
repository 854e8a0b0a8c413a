"""The app's Socket.IO packets: python-socketio's wire format, byte for byte."""

import pytest
from socketio import packet

from app.extensions import socketio
from app.serving import ChatPacket
from tests.support import run_python

MESSAGE = {
    "id": 41,
    "from": "ann",
    "to": "bob",
    "msg": '你好 <b>&amp;</b> "quoted" \u2028 😀',
    "at": "2026-12-07T06:00:00.123Z",
}

PACKETS = [
    {"packet_type": packet.EVENT, "namespace": "/chat", "data": ["say", MESSAGE]},
    {"packet_type": packet.EVENT, "namespace": "/chat", "data": ["online", {"user": "ann", "count": 2}]},
    {"packet_type": packet.ACK, "namespace": "/chat", "id": 7, "data": [{"ok": True, "id": 41, "at": "x"}]},
    {
        "packet_type": packet.ACK,
        "namespace": "/chat",
        "id": 8,
        "data": [{"ok": False, "error": "rate_limited"}],
    },
    {
        "packet_type": packet.EVENT,
        "namespace": "/",
        "data": ["nested", [[1, 2.5, None], {"a": {"b": [False]}}]],
    },
    {"packet_type": packet.CONNECT, "namespace": "/chat", "data": {"sid": "abc"}},
    {"packet_type": packet.DISCONNECT, "namespace": "/chat"},
    {
        "packet_type": packet.EVENT,
        "namespace": "/chat",
        "data": ["file", {"name": "a", "bytes": b"\x00\x01"}],
    },
]


@pytest.mark.parametrize("fields", PACKETS, ids=lambda fields: str(fields.get("data", ""))[:30])
def test_each_packet_is_encoded_as_python_socketio_encodes_it(fields):
    assert ChatPacket(**fields).encode() == packet.Packet(**fields).encode()


@pytest.mark.parametrize(
    ("data", "binary"),
    [
        (["say", MESSAGE], False),
        ([{"ok": True}], False),
        ("text", False),
        (None, False),
        (b"raw", True),
        (["file", {"parts": [1, {"bytes": bytearray(b"x")}]}], True),
        ({"deep": [[[[b"x"]]]]}, True),
        ([{}, [], "", 0], False),
    ],
)
def test_binary_data_is_found_wherever_it_is(data, binary):
    assert ChatPacket.data_is_binary(data) is binary
    assert packet.Packet.data_is_binary(data) is binary


def test_a_binary_packet_keeps_its_attachments():
    fields = {"packet_type": packet.EVENT, "namespace": "/chat", "data": ["file", b"\x00\xff"]}
    ours, theirs = ChatPacket(**fields), packet.Packet(**fields)
    assert ours.packet_type == packet.BINARY_EVENT
    assert ours.encode() == theirs.encode()


def test_the_app_sends_its_packets(app):
    """``create_app`` hands the class to Flask-SocketIO: every emit and ack is built with it."""
    assert socketio.server.packet_class is ChatPacket


def test_the_benchmark_floor_sends_the_same_packets():
    """The bare app gets Chatroom's serving choices (bench/README.md): in its own interpreter, as served."""
    code = "from bench import bare_app; print(bare_app.socketio.server.packet_class.__qualname__)"
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ChatPacket"]
