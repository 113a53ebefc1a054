"""Binary update frames (docs/protocol.md, "Binary frames"): negotiated, byte-exact in
both directions, mixed with JSON clients on one document, and every hostile binary
frame is a documented error that disturbs no one else."""

from __future__ import annotations

import asyncio
import base64
import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.protocol import binary, server_frames
from tandem.protocol.errors import ProtocolError
from tandem.protocol.messages import Update, parse_client_message
from tandem.protocol.server_connection import (
    ConnectionLimits,
    Credentials,
    ServerConnection,
)
from tests.collab.helpers import RawClient, converged
from tests.conftest import close_all, new_client

SID = "S" * 20
SEALED = bytes(range(40))


# -- the codec ---------------------------------------------------------------------------
def test_client_update_round_trip():
    frame = binary.encode_client_update(SID, 2**53 - 1, SEALED)
    assert frame[0] == 0x01 and frame[1] == 20 and frame[2:22] == SID.encode()
    assert struct.unpack(">Q", frame[22:30])[0] == 2**53 - 1 and frame[30:] == SEALED
    assert parse_client_message(frame, max_bytes=1000) == Update(SID, 2**53 - 1, SEALED)


def test_server_update_round_trip_and_json_twin():
    frame = server_frames.update(7, SID, "client-a", 3, "ünïcode-user", SEALED)
    decoded = binary.decode_server_update(frame.binary)
    assert decoded == binary.ServerUpdate(7, SID, "client-a", 3, "ünïcode-user", SEALED)
    as_json = json.loads(frame.text)
    assert as_json == {
        "type": "update",
        "seq": 7,
        "session_id": SID,
        "client_id": "client-a",
        "counter": 3,
        "user_id": "ünïcode-user",
        "data": base64.b64encode(SEALED).decode(),
    }
    # encoded once: the same objects are handed to every receiver
    assert frame.binary is frame.binary and frame.text is frame.text
    from_b64 = server_frames.update_from_b64(
        7, SID, "client-a", 3, "ünïcode-user", base64.b64encode(SEALED).decode()
    )
    assert from_b64.binary == frame.binary and from_b64.text == frame.text


def test_batch_round_trip_keeps_order_and_kinds():
    update = server_frames.update(1, SID, "client-a", 1, "u", SEALED).binary
    ack = server_frames.ack(4, 2, False)
    frame = server_frames.binary_batch([update, ack, update])
    assert binary.decode_batch(frame) == [update, ack, update]
    messages = binary.decode_server_frame(frame)
    assert isinstance(messages[0], binary.ServerUpdate) and json.loads(messages[1])["seq"] == 2


@pytest.mark.parametrize(
    "frame, message",
    [
        (b"\x01", "truncated"),
        (b"\x01\x14" + b"S" * 10, "truncated"),
        (b"\x01\x14" + b"S" * 20 + b"\x00" * 7, "truncated"),
        (b"\x02" + b"\x00" * 60, "unknown binary frame type 0x02"),
        (b"\x00" + b"\x00" * 60, "unknown binary frame type 0x00"),
        (b"\x08hello", "unknown binary frame type 0x08"),
        (b"\x01\x14" + b"S" * 19 + b"!" + struct.pack(">Q", 1) + SEALED, "session_id"),
        (b"\x01\x05" + b"S" * 5 + struct.pack(">Q", 1) + SEALED, "session_id"),
        (b"\x01\x14" + b"S" * 20 + struct.pack(">Q", 0) + SEALED, "counter"),
        (b"\x01\x14" + b"S" * 20 + struct.pack(">Q", 2**53) + SEALED, "counter"),
        (b"\x01\x14" + b"S" * 20 + struct.pack(">Q", 1) + b"x" * 27, "data"),
        (b"\x01\x14" + b"S" * 20 + struct.pack(">Q", 1) + b"x" * 1001, "data"),
    ],
)
def test_hostile_binary_frames_are_bad_frames(frame, message):
    with pytest.raises(ProtocolError) as err:
        parse_client_message(frame, max_bytes=1000)
    assert err.value.code == "bad_frame" and message in err.value.message


def _open_connection(limits: ConnectionLimits | None = None) -> ServerConnection:
    conn = ServerConnection(limits or ConnectionLimits())
    hello = {
        "type": "hello",
        "protocol": 1,
        "api_key": "k",
        "document_id": "d",
        "token": "t",
        "client_id": "client-0001",
        "binary": True,
    }
    conn.receive_frame(json.dumps(hello))
    conn.authenticated(Credentials("alice", "editor", 2e9))
    welcome = json.loads(conn.joined(caret=1, version=0, session=None, clients=[], counter=0))
    assert welcome["binary"] is True
    conn.session_changed(SID)
    return conn


def test_state_machine_limits_apply_to_binary_frames():
    conn = _open_connection(ConnectionLimits(max_frame_bytes=150))
    event = conn.receive_frame(binary.encode_client_update(SID, 1, SEALED))
    assert event.update == Update(SID, 1, SEALED)
    with pytest.raises(ProtocolError) as err:  # oversized: checked before parsing
        conn.receive_frame(binary.encode_client_update(SID, 2, b"x" * 300))
    assert err.value.code == "frame_too_large"
    with pytest.raises(ProtocolError) as err:  # the update names another session
        conn.receive_frame(binary.encode_client_update("T" * 20, 3, SEALED))
    assert err.value.code == "stale_session"
    # a binary update cannot stand in for hello
    fresh = ServerConnection(ConnectionLimits())
    with pytest.raises(ProtocolError) as err:
        fresh.receive_frame(binary.encode_client_update(SID, 1, SEALED))
    assert err.value.code == "protocol_violation"


def test_welcome_without_binary_when_not_asked():
    conn = ServerConnection(ConnectionLimits())
    conn.receive_frame(
        json.dumps(
            {
                "type": "hello",
                "protocol": 1,
                "api_key": "k",
                "document_id": "d",
                "token": "t",
                "client_id": "client-0001",
            }
        )
    )
    conn.authenticated(Credentials("alice", "editor", 2e9))
    assert "binary" not in json.loads(
        conn.joined(caret=1, version=0, session=None, clients=[], counter=0)
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120).map(lambda b: bytes([b[0] % 9]) + b[1:] if b else b"\x01"))
def test_any_binary_frame_is_an_update_or_a_bad_frame(frame):
    try:
        message = parse_client_message(frame, max_bytes=200)
    except ProtocolError as exc:
        assert exc.code == "bad_frame"
    else:
        assert isinstance(message, Update)


# -- over a real server ---------------------------------------------------------------------
async def _binary_raw(server, doc_id: str, user: str = "raw") -> RawClient:
    raw = await RawClient.connect(server)
    welcome = await raw.hello(server.tenant, doc_id, user=user, binary=True)
    assert welcome["binary"] is True
    raw.unlock()
    return raw


async def _next_update(raw: RawClient, timeout: float = 10.0) -> binary.ServerUpdate:
    while True:
        frame = await asyncio.wait_for(raw.ws.recv(), timeout)
        if isinstance(frame, bytes) and binary.is_binary(frame):
            for message in binary.decode_server_frame(frame):
                if isinstance(message, binary.ServerUpdate):
                    return message


async def _next_json(raw: RawClient, kind: str, timeout: float = 10.0) -> dict:
    while True:
        frame = await asyncio.wait_for(raw.ws.recv(), timeout)
        messages = (
            binary.decode_server_frame(frame)
            if isinstance(frame, bytes) and binary.is_binary(frame)
            else [frame]
        )
        for message in messages:
            if isinstance(message, str) and json.loads(message)["type"] == kind:
                return json.loads(message)


async def test_binary_and_json_clients_share_a_document(server):
    writer = new_client(server, "writer", "bin-doc", initial_content="<p>x</p>")
    writer.use_binary_frames = False  # this one speaks JSON
    sdk = new_client(server, "sdk", "bin-doc")
    try:
        await writer.start()
        await writer.wait_synced()
        await sdk.start()
        await sdk.wait_synced()
        assert sdk._binary_frames and not writer._binary_frames
        raw = await _binary_raw(server, "bin-doc")
        await raw.drain()
        json_raw = await RawClient.connect(server)
        await json_raw.hello(server.tenant, "bin-doc", user="json")
        await json_raw.drain()

        # a binary update from the raw client: acked, relayed byte-exact to both kinds
        sealed = base64.b64decode(raw.update_frame(1, "from raw")["data"])
        sid = raw.welcome["session"]["session_id"]
        await raw.ws.send(binary.encode_client_update(sid, 1, sealed))
        ack = await _next_json(raw, "ack")
        assert ack["type"] == "ack" and ack["counter"] == 1 and not ack["duplicate"]
        relayed = await json_raw.recv_type("update")
        assert base64.b64decode(relayed["data"]) == sealed
        assert (relayed["seq"], relayed["counter"]) == (ack["seq"], 1)

        writer.append_paragraph("from json sdk")
        sdk.append_paragraph("from binary sdk")
        update = await _next_update(raw)
        assert update.session_id == sid and update.user_id in ("writer", "sdk")
        html = await converged([writer, sdk])
        assert "from raw" in html and "from json sdk" in html and "from binary sdk" in html
        await close_all([raw, json_raw])
    finally:
        await close_all([writer, sdk])


async def test_hostile_binary_frames_close_only_their_connection(server):
    writer = new_client(server, "writer", "hostile-doc", initial_content="<p>x</p>")
    try:
        await writer.start()
        await writer.wait_synced()
        sid = writer.session["session_id"]
        hostile = [
            b"\x01",  # truncated header
            b"\x01\x14" + sid.encode()[:10],  # truncated session id
            b"\x05" + b"\x00" * 50,  # wrong type
            b"\x01" + bytes([len(sid)]) + sid.encode() + struct.pack(">Q", 1) + b"x" * 5,
        ]
        for frame in hostile:
            raw = await _binary_raw(server, "hostile-doc")
            await raw.drain(0.1)
            await raw.ws.send(frame)
            await raw.expect_error("bad_frame", close=4000)
        # oversized: over max_frame_bytes (4 MiB) the server answers frame_too_large
        raw = await _binary_raw(server, "hostile-doc")
        await raw.drain(0.1)
        big = binary.encode_client_update(sid, 1, b"x" * (4 * 1024 * 1024 + 1))
        await raw.ws.send(big)
        await raw.expect_error("frame_too_large", close=1009)
        # everyone else is undisturbed and the server still serves
        writer.append_paragraph("still here")
        await writer.flush()
        late = new_client(server, "late", "hostile-doc")
        await late.start()
        await late.wait_synced()
        assert "still here" in (await converged([writer, late]))
        await late.close()
    finally:
        await writer.close()
