"""Reconnect and resume: offline edits are sent after reconnecting; the server
deduplicates updates by (client id, counter)."""

from __future__ import annotations

import asyncio

from tandem.client.richtext import append_paragraph
from tests.collab.helpers import RawClient, converged, storage_info, wait_until


async def drop_abruptly(client) -> None:
    client._ws.transport.abort()  # the TCP connection dies, no close handshake


async def drop_cleanly(client) -> None:
    await client._ws.close()  # a clean close handshake (1000), e.g. a proxy or the OS


async def test_offline_edits_are_sent_after_reconnect(server, make_client):
    await offline_edits_scenario(server, make_client, drop_abruptly)


async def test_offline_edits_are_sent_after_a_clean_close(server, make_client):
    await offline_edits_scenario(server, make_client, drop_cleanly)


async def offline_edits_scenario(server, make_client, drop) -> None:
    doc = "resume-doc"
    a = make_client(server, "alice", doc, initial_content="<p>start</p>")
    await a.start()
    await a.wait_synced()
    b = make_client(server, "bob", doc)
    await b.start()
    await b.wait_synced()
    events: list[str] = []
    a.on(lambda kind, info: events.append(kind))

    a.append_paragraph("before the drop")
    await a.flush()
    session = a.session["session_id"]

    await drop(a)
    await wait_until(lambda: "disconnected" in events, 5, what="the client to notice")
    # Edits while offline (on the document itself; the SDK queues them).
    append_paragraph(a.fragment, "typed offline 1")
    append_paragraph(a.fragment, "typed offline 2")
    b.append_paragraph("bob while alice is away")
    assert a.unacknowledged >= 2

    await a.wait_synced(10)  # reconnected by itself
    html = await converged([a, b])
    for text in (
        "before the drop",
        "typed offline 1",
        "typed offline 2",
        "bob while alice is away",
    ):
        assert html.count(f"<p>{text}</p>") == 1, text
    assert a.session["session_id"] == session
    info = await storage_info(server, doc)
    assert info.session_count == 1
    assert a.version == b.version == info.version == 4


async def test_resume_sends_only_the_missed_tail(server, make_client):
    """A reconnecting client with last_seq gets the updates after it, no snapshot."""
    doc = "tail-doc"
    a = make_client(server, "alice", doc, initial_content="<p>start</p>")
    await a.start()
    await a.wait_synced()
    for i in range(5):
        a.append_paragraph(f"p{i}")
    await a.flush()

    raw = await RawClient.connect(server)
    welcome = await raw.hello(server.tenant, doc, session_id=a.session["session_id"], last_seq=3)
    assert welcome["version"] == 5
    frames = [await raw.recv()]
    while frames[-1]["type"] != "synced":
        frames.append(await raw.recv())
    assert [f["type"] for f in frames] == ["update", "update", "synced"]
    assert [f["seq"] for f in frames[:2]] == [4, 5]
    assert frames[-1]["version"] == 5
    await raw.close()


async def test_duplicate_counter_is_acknowledged_once_and_not_rebroadcast(server, make_client):
    doc = "dup-doc"
    a = make_client(server, "alice", doc, initial_content="<p>start</p>")
    await a.start()
    await a.wait_synced()
    seen: list[tuple[str, int]] = []
    a.on(
        lambda kind, info: (
            seen.append((info["client_id"], info["seq"]))
            if kind == "remote_change" and "client_id" in info
            else None
        )
    )

    watcher = await RawClient.connect(server)
    await watcher.hello(server.tenant, doc)
    await watcher.recv_type("synced")

    raw = await RawClient.connect(server)
    await raw.hello(server.tenant, doc)
    await raw.recv_type("synced")
    raw.unlock()
    frame = raw.update_frame(1, "sent twice")
    await raw.send(frame)
    first = await raw.recv_type("ack")
    await raw.send(frame)
    second = await raw.recv_type("ack")
    assert first == {"type": "ack", "counter": 1, "seq": 1, "duplicate": False}
    assert second == {"type": "ack", "counter": 1, "seq": 1, "duplicate": True}

    # After a reconnect with the same client id, the same counter is still a duplicate.
    await raw.close()
    again = await RawClient.connect(server)
    again.client_id = raw.client_id
    await again.hello(server.tenant, doc)
    await again.recv_type("synced")
    await again.send(frame)
    assert await again.recv_type("ack") == {
        "type": "ack",
        "counter": 1,
        "seq": 1,
        "duplicate": True,
    }
    # A new counter gets the next seq.
    again.cipher = raw.cipher
    await again.send(again.update_frame(2, "sent once"))
    assert await again.recv_type("ack") == {
        "type": "ack",
        "counter": 2,
        "seq": 2,
        "duplicate": False,
    }

    await asyncio.sleep(0.3)
    updates = [f for f in await watcher.drain(0.3) if f["type"] == "update"]
    assert [(u["seq"], u["counter"]) for u in updates] == [(1, 1), (2, 2)]
    assert seen == [(raw.client_id, 1), (raw.client_id, 2)]
    html = a.to_html()
    assert html.count("<p>sent twice</p>") == 1 and html.count("<p>sent once</p>") == 1
    info = await storage_info(server, doc)
    assert info.version == 2 and info.stored_updates == 2
    await watcher.close()
    await again.close()
