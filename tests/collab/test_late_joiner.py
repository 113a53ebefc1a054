"""A late joiner on a long-lived document gets one snapshot plus a short tail."""

from __future__ import annotations

import asyncio

import pytest

from tandem.client.richtext import insert_text
from tests.collab.helpers import RawClient, converged, storage_info
from tests.conftest import close_all, new_client
from tests.support.server import serve_in_loop

UPDATES = 10_000
THRESHOLD = 500
BATCH = 250


@pytest.mark.slow
async def test_late_joiner_gets_snapshot_and_short_tail(tmp_path):
    settings = {
        "snapshot_threshold": THRESHOLD,
        "messages_per_second": 1_000_000,
        "message_burst": 1_000_000,
    }
    async with serve_in_loop(tmp_path / "data", **settings) as server:
        doc = "long-doc"
        writer = new_client(server, "writer", doc, initial_content="<p>x</p>")
        late = None
        snapshot_acks: list[dict] = []
        writer.on(lambda kind, info: snapshot_acks.append(info) if kind == "snapshot_ack" else None)
        try:
            await writer.start()
            await writer.wait_synced()
            for batch in range(UPDATES // BATCH):
                for i in range(BATCH):
                    # one small transaction = one update
                    insert_text(writer.fragment, 0, 0, "abcdefghij"[(batch + i) % 10])
                await writer.flush(60)
            assert writer.version == UPDATES
            await asyncio.sleep(0.2)
            assert any(a["accepted"] for a in snapshot_acks), "the writer never sent a snapshot"

            info = await storage_info(server, doc)
            assert info.version == UPDATES
            assert info.snapshot_seq >= UPDATES - 2 * THRESHOLD
            # The history keeps every update inside the retention window (issue 12); what
            # the snapshots bound is what a joiner must read, below.
            assert info.stored_updates == UPDATES

            # Count frames as a raw protocol client sees them...
            raw = await RawClient.connect(server)
            await raw.hello(server.tenant, doc)
            frames = [raw.welcome]
            while frames[-1]["type"] != "synced":
                frames.append(await raw.recv())
            await raw.close()
            kinds = [f["type"] for f in frames]
            assert kinds.count("snapshot") == 1
            assert kinds.count("update") < 2 * THRESHOLD
            assert kinds.count("update") == UPDATES - info.snapshot_seq
            assert frames[-1]["version"] == UPDATES

            # ...and as the SDK does: same content as the writer.
            late = new_client(server, "late", doc)
            events: list[str] = []
            late.on(
                lambda kind, info: (
                    events.append("snapshot" if info.get("snapshot") else "update")
                    if kind == "remote_change"
                    else None
                )
            )
            await late.start()
            await late.wait_synced()
            assert events.count("snapshot") == 1
            assert events.count("update") < 2 * THRESHOLD
            await converged([writer, late])
            assert late.to_html() == writer.to_html()
            assert late.version == UPDATES
            assert len(late.to_html()) == len("<p>x</p>") + UPDATES
        finally:
            await close_all([writer, *([late] if late else [])])
