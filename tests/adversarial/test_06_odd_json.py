"""Case 6: deep nesting, non-finite numbers and duplicate keys are bad frames; the
document stays usable for everyone who joins later."""

from __future__ import annotations

import json

import pytest

from tests.adversarial.helpers import closed_with, raw_hello
from tests.collab.helpers import converged

DOC = "json-doc"


def hello_text(server, client_info_json: str, user: str = "mallory") -> str:
    frame = {
        "type": "hello",
        "protocol": 1,
        "api_key": server.tenant.api_key,
        "document_id": DOC,
        "token": server.tenant.token(user, role="viewer"),
        "client_id": f"{user}-client-1",
        "client_info": "CLIENT_INFO",
    }
    return json.dumps(frame).replace('"CLIENT_INFO"', client_info_json)


ODD = {
    **{
        f"nesting {depth} deep": '{"a": ' + "[" * depth + "]" * depth + "}"
        for depth in (40, 500, 900, 960, 985)
    },
    "non-finite number": '{"zoom": 1e999}',
    "negative non-finite": '{"zoom": -1e999}',
    "duplicate keys": '{"name": "a", "name": "b"}',
}


@pytest.mark.parametrize("name", list(ODD))
async def test_odd_client_info_is_a_bad_frame_and_later_joiners_work(server, make_client, name):
    a = make_client(server, "alice", DOC, initial_content="<p>start</p>")
    await a.start()
    await a.wait_synced()
    raw = await raw_hello(server, DOC, text=hello_text(server, ODD[name]))
    reply = await raw.recv_type("error", "welcome")
    assert reply["type"] == "error" and reply["code"] == "bad_frame", reply
    await closed_with(raw, 5)

    later = make_client(server, "bob", DOC)
    await later.start()
    await later.wait_synced(10)
    later.append_paragraph("bob joined later")
    assert "bob joined later" in await converged([a, later])
    state = server.app.state.tandem
    assert len(state.hubs.hubs) == 1


async def test_deep_json_in_any_frame_is_a_bad_frame(server):
    raw = await raw_hello(
        server, DOC, text='{"type": "hello", "x": ' + "[" * 10_000 + "]" * 10_000 + "}"
    )
    code, errors = await closed_with(raw)
    assert code == 4000 and [e["code"] for e in errors] == ["bad_frame"], (code, errors)
