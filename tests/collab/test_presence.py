"""Presence is relayed (encrypted) and never stored; joins and leaves carry carets 1-8."""

from __future__ import annotations

import asyncio

from tests.collab.helpers import RawClient, raw_bytes, storage_info, wait_until
from tests.conftest import close_all, new_client

MARK = "PRESENCE-SELECTION-MARKER-2718"


async def test_presence_is_relayed_and_never_stored(server, make_client):
    doc = "presence-doc"
    a = make_client(server, "alice", doc, initial_content="<p>hi</p>")
    await a.start()
    await a.wait_synced()
    b = make_client(server, "bob", doc)
    await b.start()
    await b.wait_synced()
    watcher = await RawClient.connect(server)
    await watcher.hello(server.tenant, doc)
    await watcher.recv_type("synced")
    before = await storage_info(server, doc)

    got: list[dict] = []
    echoed: list[dict] = []
    a.on(lambda kind, info: echoed.append(info) if kind == "presence" else None)
    b.on(lambda kind, info: got.append(info) if kind == "presence" else None)
    for i in range(3):
        await a.set_presence({"caret": i, "note": MARK})
    await wait_until(lambda: len(got) == 3, what="presence at bob")
    assert [g["state"] for g in got] == [{"caret": i, "note": MARK} for i in range(3)]
    assert {g["client_id"] for g in got} == {a.client_id}
    assert {g["user_id"] for g in got} == {"alice"}
    assert b.clients[a.client_id]["presence"] == {"caret": 2, "note": MARK}

    # On the wire it is ciphertext; the sender does not get its own presence back.
    frames = [f for f in await watcher.drain(0.3) if f["type"] == "presence"]
    assert len(frames) == 3 and MARK not in str(frames)
    assert echoed == []

    after = await storage_info(server, doc)
    assert (after.version, after.stored_updates, after.stored_bytes) == (
        before.version,
        before.stored_updates,
        before.stored_bytes,
    )
    assert MARK.encode() not in raw_bytes(server.data_dir)
    await watcher.close()


async def test_join_and_leave_with_carets(server):
    doc = "caret-doc"
    clients = [
        new_client(
            server, f"user{i}", doc, initial_content="<p>x</p>", client_info={"name": f"User {i}"}
        )
        for i in range(9)
    ]
    try:
        first = clients[0]
        joined: list[dict] = []
        left: list[dict] = []
        first.on(
            lambda kind, info: (
                (joined if kind == "client_joined" else left).append(info)
                if kind in ("client_joined", "client_left")
                else None
            )
        )
        await first.start()
        await first.wait_synced()
        assert first.caret == 1
        for client in clients[1:]:
            await client.start()
            await client.wait_synced()
        carets = [c.caret for c in clients]
        assert carets[:8] == list(range(1, 9))  # distinct, in join order
        assert 1 <= carets[8] <= 8  # the ninth shares a caret colour
        await wait_until(lambda: len(joined) == 8, what="8 client_joined at the first client")
        assert [j["caret"] for j in joined] == carets[1:]
        assert [j["user_id"] for j in joined] == [f"user{i}" for i in range(1, 9)]
        assert joined[0]["client_info"] == {"name": "User 1"}
        assert joined[0]["role"] == "editor"
        # The last to join is told who is already there.
        assert set(clients[8].clients) == {c.client_id for c in clients[:8]}

        await clients[3].close()
        await wait_until(lambda: len(left) == 1, what="client_left")
        assert left[0]["client_id"] == clients[3].client_id
        assert left[0]["caret"] == 4
        assert clients[3].client_id not in first.clients
        # The freed caret goes to the next newcomer.
        newcomer = new_client(server, "late", doc)
        clients.append(newcomer)
        await newcomer.start()
        await newcomer.wait_synced()
        assert newcomer.caret == 4
        await asyncio.sleep(0.1)
    finally:
        await close_all(clients)
