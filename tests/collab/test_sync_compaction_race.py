"""A snapshot (and its compaction) landing while a joiner's history is being read:
the joiner must still get every update (it restarts from the newer snapshot)."""

from __future__ import annotations

import asyncio

import uvicorn

from tandem.server.app import create_app
from tandem.server.runner import uvicorn_config
from tandem.settings import load_settings
from tandem.storage.sqlite import SQLiteStore
from tests.collab.helpers import converged
from tests.conftest import close_all, new_client
from tests.support.server import RunningServer, free_port, make_tenant


class CompactingWhileReading(SQLiteStore):
    """Runs ``hook`` (once) right before the next read of the update log."""

    hook = None

    async def updates_after(self, api_key, document_id, seq, limit=None):
        hook, self.hook = self.hook, None
        if hook is not None:
            await hook()
        return await super().updates_after(api_key, document_id, seq, limit)


async def test_joiner_gets_everything_when_compaction_races_its_sync(tmp_path):
    data = tmp_path / "data"
    tenant = await make_tenant(data / "tandem.sqlite3")
    port = free_port()
    config = load_settings(data_dir=str(data), port=port, snapshot_threshold=10_000)
    store = CompactingWhileReading(data / "tandem.sqlite3")
    server = uvicorn.Server(uvicorn_config(create_app(config, store), config, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    srv = RunningServer(f"http://127.0.0.1:{port}", data, tenant)
    writer = new_client(srv, "writer", "race-doc", initial_content="<p>base</p>")
    joiner = None
    try:
        await writer.start()
        await writer.wait_synced()
        for i in range(20):
            writer.append_paragraph(f"p{i}")
            await writer.flush()
        assert writer.version == 20

        async def compact() -> None:
            state = writer._cipher.seal_snapshot(15, writer.doc.get_update())
            await store.store_snapshot(
                tenant.api_key, "race-doc", writer.session["session_id"], 15, state
            )

        store.hook = compact
        joiner = new_client(srv, "joiner", "race-doc")
        await joiner.start()
        await joiner.wait_synced()
        assert store.hook is None, "the race was not exercised"
        html = await converged([writer, joiner])
        assert all(f"<p>p{i}</p>" in html for i in range(20))
        assert joiner.version == 20
    finally:
        await close_all([c for c in (writer, joiner) if c is not None])
        server.should_exit = True
        await asyncio.wait_for(task, 15)
