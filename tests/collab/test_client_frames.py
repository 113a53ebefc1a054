"""How the Python client reads server frames, without a server: every message type
the server sends has a handler, only those are dispatched, and a frame that is not a
JSON object (or a batch whose messages are not a list) is a ``bad_frame`` error (the
client reconnects) instead of an internal error that stops the client for good.
"""

from __future__ import annotations

import inspect
import re

import pytest

from tandem.client import DocumentClient
from tandem.client.errors import ClientError
from tandem.protocol import server_frames


def _client() -> DocumentClient:
    return DocumentClient(
        "http://127.0.0.1:9",
        api_key="k",
        document_id="doc",
        token_provider=lambda _arg: {"token": "t"},
        encryption_provider=lambda _arg: {"key": "k", "keyHint": "h"},
    )


async def test_every_server_message_type_has_a_handler():
    sent = set(re.findall(r'"type": "(\w+)"', inspect.getsource(server_frames)))
    assert "welcome" in sent and "update" in sent
    assert sent - {"batch"} <= set(_client()._handlers)


@pytest.mark.parametrize(
    "frame",
    [
        "[]",
        "1",
        "null",
        '"welcome"',
        "not json",
        b"\xff\xfe{",
        '{"type": "batch", "messages": {"type": "ack"}}',
        '{"type": "batch", "messages": [1]}',
    ],
)
async def test_a_frame_that_is_not_a_json_object_is_a_bad_frame(frame):
    with pytest.raises(ClientError) as err:
        await _client()._receive_frame(frame)
    assert err.value.code == "bad_frame" and not err.value.fatal


async def test_only_server_message_types_are_dispatched():
    client = _client()
    # A method name is not a message type: this one is the pycrdt transaction callback.
    for kind in ("local_transaction", "handle", "_on_ack", "__init__", 7, None):
        await client._handle({"type": kind} if kind is not None else {})
    assert client.unacknowledged == 0 and client.synced is False


async def test_session_created_that_this_client_did_not_ask_for_is_ignored():
    client = _client()
    await client._handle({"type": "session_created"})
    await client._handle({"type": "session_created", "session_id": None, "version": 4})
    assert client.session is None and client.version == 0


async def test_known_messages_in_a_batch_are_handled_in_order():
    client = _client()
    seen: list[str] = []
    client.on(lambda kind, info: seen.append(f"{kind}:{info.get('client_id')}"))
    await client._receive_frame(
        '{"type": "batch", "messages": ['
        '{"type": "client_joined", "client_id": "c1", "user_id": "u1", "caret": 1},'
        '{"type": "client_left", "client_id": "c1"},'
        '{"type": "snapshot_request", "seq": 3},'
        '{"type": "token_accepted", "expires_at": 99.5, "role": "viewer"}]}'
    )
    assert seen == ["client_joined:c1", "client_left:c1"]
    assert client.role == "viewer" and client.clients == {}
