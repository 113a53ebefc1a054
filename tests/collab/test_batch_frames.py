"""``batch`` frames: only for clients that asked for them, messages kept in order."""

from __future__ import annotations

from tests.collab.helpers import RawClient
from tests.conftest import close_all, new_client


async def joiner_frames(server, batch: bool) -> list[dict]:
    raw = await RawClient.connect(server)
    try:
        await raw.hello(server.tenant, "batch-doc", batch=batch)
        frames = []
        while True:
            frame = await raw.recv()
            frames.append(frame)
            inner = frame["messages"] if frame["type"] == "batch" else [frame]
            if any(m["type"] == "synced" for m in inner):
                return frames
    finally:
        await raw.close()


async def test_history_arrives_batched_only_when_asked_and_in_order(server):
    writer = new_client(server, "writer", "batch-doc", initial_content="<p>x</p>")
    try:
        await writer.start()
        await writer.wait_synced()
        for i in range(60):
            writer.append_paragraph(f"p{i}")
        await writer.flush()

        batched = await joiner_frames(server, batch=True)
        assert any(f["type"] == "batch" for f in batched)
        flat = [m for f in batched for m in (f["messages"] if f["type"] == "batch" else [f])]
        kinds = [m["type"] for m in flat]
        assert kinds[0] == "snapshot" and kinds[-1] == "synced"
        seqs = [m["seq"] for m in flat if m["type"] == "update"]
        assert seqs == list(range(1, 61))

        plain = await joiner_frames(server, batch=False)
        assert all(f["type"] != "batch" for f in plain)
        assert [m["seq"] for m in plain if m["type"] == "update"] == seqs
    finally:
        await close_all([writer])
