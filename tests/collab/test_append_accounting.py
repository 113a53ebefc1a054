"""A document's write accounting returns to zero: after writers flood it past its write
gate, and after writers vanish with appends still in flight, the hub counts no queued
update, no queued byte, no byte in its write gate and no store task in flight. (Quota
checks add these counts to what is stored: a leak would refuse writes one day.)"""

from __future__ import annotations

import asyncio

import pytest

from tests.collab.helpers import RawClient, wait_until
from tests.support.postgres import create_database, drop_database
from tests.support.server import serve_in_loop

BIG = "x" * 150_000  # four writers × eight of these exceed the 1 MiB write gate at once
WRITERS = 4
PER_WRITER = 8


async def _writer(server, doc: str, name: str) -> RawClient:
    raw = await RawClient.connect(server)
    await raw.hello(server.tenant, doc, user=name)
    raw.unlock()
    await raw.drain(0.1)
    return raw


@pytest.fixture(params=["sqlite", "postgres"])
async def engine_server(request, tmp_path):
    """A server on SQLite (its group commit is a writer thread) or on PostgreSQL (a
    group-commit task per document)."""
    if request.param == "sqlite":
        async with serve_in_loop(tmp_path / "data") as srv:
            yield srv
        return
    url = await create_database()
    try:
        async with serve_in_loop(tmp_path / "data", database_url=url) as srv:
            yield srv
    finally:
        await drop_database(url)


async def stored_seqs(server, doc: str) -> list[int]:
    store = server.app.state.tandem.store
    return [u.seq for u in await store.updates_after(server.tenant.api_key, doc, 0)]


def _settled(hub) -> bool:
    return (
        hub.queued == 0
        and hub.queued_bytes == 0
        and hub.write_gate.in_flight == 0
        and hub.inflight == 0
    )


async def test_write_accounting_returns_to_zero_after_floods_and_vanished_writers(
    engine_server, make_client
):
    server = engine_server
    doc = "accounting"
    owner = make_client(server, "owner", doc, initial_content="<p>start</p>")
    await owner.start()
    await owner.wait_synced()
    state = server.app.state.tandem
    hub = state.hubs.hubs[(server.tenant.api_key, doc)]
    assert _settled(hub)

    # 1. A flood: every writer pipelines all its updates without waiting for acks.
    writers = [await _writer(server, doc, f"w{i}") for i in range(WRITERS)]
    frames = {
        raw: [raw.update_frame(c, f"{i}-{c}-{BIG}") for c in range(1, PER_WRITER + 1)]
        for i, raw in enumerate(writers)
    }
    await asyncio.gather(*(raw.send(f) for raw, fs in frames.items() for f in fs))

    async def acks(raw: RawClient) -> list[int]:
        seqs = []
        while len(seqs) < PER_WRITER:
            msg = await raw.recv_type("ack", timeout=30)
            seqs.append(msg["seq"])
        return seqs

    acked = await asyncio.gather(*(acks(raw) for raw in writers))
    every = sorted(s for seqs in acked for s in seqs)
    assert len(set(every)) == WRITERS * PER_WRITER
    for seqs in acked:
        assert seqs == sorted(seqs)  # a writer's own updates keep their order
    await wait_until(lambda: _settled(hub), what="accounting back to zero after the flood")
    assert await stored_seqs(server, doc) == list(range(1, max(every) + 1))

    # 2. Writers that vanish with appends in flight (socket closed right after sending).
    vanishing = [await _writer(server, doc, f"v{i}") for i in range(WRITERS)]
    for i, raw in enumerate(vanishing):
        for c in range(1, PER_WRITER + 1):
            await raw.send(raw.update_frame(c, f"v{i}-{c}-{BIG}"))
        raw.ws.transport.abort()  # no close handshake
    # The server may still read what they sent before their sockets closed: wait until
    # they have left the document, then for the accounting.
    await wait_until(lambda: len(hub.members) == 1 + WRITERS, what="the vanished writers left")
    await wait_until(lambda: _settled(hub), what="accounting back to zero after the vanished")

    # Whatever of theirs was stored is contiguous, and the document still takes writes.
    seqs = await stored_seqs(server, doc)
    assert seqs == list(range(1, len(seqs) + 1))
    before = len(seqs)
    last = await _writer(server, doc, "last")
    await last.send(last.update_frame(1, "after"))
    ack = await last.recv_type("ack", timeout=30)
    assert ack["seq"] == before + 1
    assert await stored_seqs(server, doc) == list(range(1, before + 2))
    await wait_until(lambda: _settled(hub), what="accounting back to zero at the end")
    for raw in [*writers, last]:
        # They never read the others' 150 kB updates: a close handshake would wait for
        # the server's close frame behind them.
        raw.ws.transport.abort()
