"""Case 7: storage growth is bounded: bytes per minute per document and per API
key, a stored-size limit, and a real bound on the log when nobody answers
snapshot_request. Whatever was acknowledged is kept."""

from __future__ import annotations

import base64
import os

from tests.adversarial.helpers import joined
from tests.collab.helpers import storage_info
from tests.support.server import serve_in_loop

DOC = "growth-doc"


async def new_document(server, make_client, doc=DOC):
    a = make_client(server, "alice", doc, initial_content="<p>start</p>")
    await a.start()
    await a.wait_synced()
    await a.close()


def big_update(raw, counter: int, size: int) -> dict:
    assert raw.cipher is not None and raw.welcome is not None
    data = raw.cipher.seal_update(raw.client_id, counter, os.urandom(size))
    return {
        "type": "update",
        "session_id": raw.welcome["session"]["session_id"],
        "counter": counter,
        "data": base64.b64encode(data).decode(),
    }


async def flood(raw, count: int, size: int) -> tuple[int, dict | None]:
    """Send ``count`` updates of ``size`` bytes one after another; returns (acked, error)."""
    acked = 0
    for counter in range(1, count + 1):
        await raw.send(big_update(raw, counter, size))
        reply = await raw.recv_type("ack", "error", timeout=30)
        if reply["type"] == "error":
            return acked, reply
        acked += 1
    return acked, None


async def test_one_editor_cannot_store_without_bound(server, make_client):
    await new_document(server, make_client)
    raw = await joined(server, DOC, user="hog")
    await raw.recv_type("synced")
    raw.unlock()
    acked, error = await flood(raw, 80, 1024 * 1024)  # 80 MiB, as fast as acks come
    assert error is not None and error["code"] == "quota_exceeded", (acked, error)
    assert error.get("retry_after", 0) > 0
    info = await storage_info(server, DOC)
    assert info.stored_updates == acked  # what was acknowledged is stored


async def test_the_log_is_bounded_when_nobody_answers_snapshot_requests(tmp_path, make_client):
    async with serve_in_loop(tmp_path / "data", snapshot_threshold=5, max_log_updates=20) as server:
        await new_document(server, make_client)
        raw = await joined(server, DOC, user="lazy")
        await raw.recv_type("synced")
        raw.unlock()
        acked, error = await flood(raw, 40, 100)
        assert error is not None and error["code"] == "storage_quota_exceeded", (acked, error)
        info = await storage_info(server, DOC)
        assert info.stored_updates == acked <= 20


async def test_stored_size_per_document_and_per_api_key(tmp_path, make_client):
    async with serve_in_loop(
        tmp_path / "data", max_document_bytes=300_000, max_api_key_bytes=500_000
    ) as server:
        await new_document(server, make_client, "doc-1")
        raw = await joined(server, "doc-1", user="hog")
        await raw.recv_type("synced")
        raw.unlock()
        acked, error = await flood(raw, 10, 100_000)
        assert error is not None and error["code"] == "storage_quota_exceeded", (acked, error)
        assert (await storage_info(server, "doc-1")).stored_bytes <= 300_000 + 100_100
        await new_document(server, make_client, "doc-2")
        other = await joined(server, "doc-2", user="hog")
        await other.recv_type("synced")
        other.unlock()
        _acked2, error2 = await flood(other, 10, 100_000)
        assert error2 is not None and error2["code"] == "storage_quota_exceeded", error2
        total = (await storage_info(server, "doc-1")).stored_bytes + (
            await storage_info(server, "doc-2")
        ).stored_bytes
        assert total <= 500_000 + 100_100
