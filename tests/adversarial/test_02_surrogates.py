"""Case 2: lone surrogates (valid JSON escapes, not encodable as UTF-8) in a
viewer's client_info, a document id or a key hint are refused as bad frames; the
other members keep receiving."""

from __future__ import annotations

import base64
import json

import pytest

from tests.adversarial.helpers import closed_with, joined, raw_hello
from tests.collab.helpers import converged

DOC = "surrogate-doc"


async def editors(server, make_client):
    a = make_client(server, "alice", DOC, initial_content="<p>start</p>")
    await a.start()
    await a.wait_synced()
    b = make_client(server, "bob", DOC)
    await b.start()
    await b.wait_synced()
    return a, b


@pytest.mark.parametrize("field", ["client_info", "document_id"])
async def test_surrogate_in_hello_is_a_bad_frame_and_others_keep_working(
    server, make_client, field
):
    a, b = await editors(server, make_client)
    raw_frame = {
        "type": "hello",
        "protocol": 1,
        "api_key": server.tenant.api_key,
        "document_id": DOC,
        "token": server.tenant.token("mallory", role="viewer"),
        "client_id": "mallory-client-1",
        "client_info": {"name": "SURROGATE"},
    }
    text = json.dumps(raw_frame)
    if field == "client_info":
        text = text.replace('"SURROGATE"', '"\\ud800"')
    else:
        text = text.replace(f'"document_id": "{DOC}"', '"document_id": "x\\udfff"')
    raw = await raw_hello(server, DOC, text=text)
    error = await raw.recv_type("error")
    assert error["code"] == "bad_frame", error
    await closed_with(raw)

    a.append_paragraph("alice after the surrogate")
    b.append_paragraph("bob after the surrogate")
    html = await converged([a, b], timeout=10)
    assert "alice after the surrogate" in html and "bob after the surrogate" in html


async def test_surrogate_key_hint_is_a_bad_frame(server, make_client):
    raw = await joined(server, "surrogate-new-doc", user="mallory")
    frame = {
        "type": "create_session",
        "session_id": "S" * 20,
        "key_hint": "HINT",
        "salt": base64.b64encode(bytes(32)).decode(),
        "iterations": 10_000,
        "wrapped_key": base64.b64encode(bytes(60)).decode(),
        "snapshot": base64.b64encode(bytes(40)).decode(),
        "replaces": None,
        "seq": 0,
    }
    await raw.send(json.dumps(frame).replace('"HINT"', '"\\udbff"'))
    error = await raw.recv_type("error")
    assert error["code"] == "bad_frame", error
