"""Case 5: one user (one token) cannot fill a document's connection slots, and the
SDK retries a full document instead of giving up."""

from __future__ import annotations

import asyncio

from tests.adversarial.helpers import closed_with, raw_hello
from tests.collab.helpers import converged
from tests.support.server import serve_in_loop

DOC = "slots-doc"


async def test_one_token_cannot_fill_a_document(server, make_client):
    a = make_client(server, "alice", DOC, initial_content="<p>start</p>")
    await a.start()
    await a.wait_synced()
    token = server.tenant.token("flood", role="viewer")
    sockets = []
    refused = 0
    for _ in range(250):  # the default per-document limit
        raw = await raw_hello(server, DOC, token=token)
        reply = await raw.recv_type("welcome", "error")
        if reply["type"] == "error":
            assert reply["code"] == "too_many_connections", reply
            refused += 1
            await closed_with(raw, 2)
            await raw.close()
        else:
            sockets.append(raw)
    assert refused > 0, "one token opened 250 connections"
    editor = make_client(server, "bob", DOC)
    await editor.start()
    await editor.wait_synced(10)
    editor.append_paragraph("bob got in")
    await converged([a, editor])
    await asyncio.gather(*(s.close() for s in sockets))


async def test_the_sdk_retries_a_full_document(tmp_path, make_client):
    async with serve_in_loop(tmp_path / "data", max_connections_per_document=2) as server:
        a = make_client(server, "alice", DOC, initial_content="<p>start</p>")
        await a.start()
        await a.wait_synced()
        b = make_client(server, "bob", DOC)
        await b.start()
        await b.wait_synced()
        late = make_client(server, "carol", DOC)
        events = []
        late.on(lambda kind, info: events.append(info) if kind == "disconnected" else None)
        await late.start()
        while not events:
            await asyncio.sleep(0.05)
        assert events[0]["code"] == "too_many_connections", events
        await b.close()  # a slot frees up: the SDK gets in by itself
        await late.wait_synced(20)
        late.append_paragraph("carol got in")
        html = await converged([a, late])
        assert "carol got in" in html
