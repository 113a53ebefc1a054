"""Deleting a document under live connections: the admin endpoint, a deletion by another
process (``tandem doc delete`` on the SQLite file) and a PostgreSQL cluster. Connected
clients end with ``document_deleted`` (close 4004) and stay closed."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from urllib.parse import quote

import asyncpg
import httpx

from tandem.client import DocumentClient
from tandem.protocol.errors import CLOSE_CODES
from tandem.storage.sqlite import SQLiteStore
from tests.collab.helpers import wait_until
from tests.conftest import new_client
from tests.erasure.test_store_erasure import _files, _traces
from tests.support.cluster import pg_cluster
from tests.support.server import serve_in_loop

ADMIN = "admin-secret-for-tests-0123456789"
DOC = "gdpr-doc-4e8b1f"


def delete(url: str, api_key: str | None, doc: str, token: str | None = ADMIN) -> httpx.Response:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if api_key is not None:
        headers["Tandem-Api-Key"] = api_key
    return httpx.delete(f"{url}/v1/documents/{quote(doc, safe='')}", headers=headers, timeout=60)


async def adelete(*args, **kw) -> httpx.Response:
    return await asyncio.to_thread(delete, *args, **kw)


async def closed_as_deleted(*clients: DocumentClient, timeout: float = 15) -> None:
    await wait_until(
        lambda: all(c.error is not None for c in clients),
        timeout,
        "the connections to be closed for good",
    )
    for client in clients:
        assert client.error.code == "document_deleted", client.error
        assert client.error.fatal
        assert "deleted" in str(client.error)


def stored_ciphertexts(db_path, document_id: str) -> list[bytes]:
    conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [
            bytes(r[0])
            for table in ("updates", "versions")
            for r in conn.execute(
                f"SELECT ciphertext FROM {table} WHERE document_id = ?", (document_id,)
            )
        ]
    finally:
        conn.close()


def test_the_close_code_is_documented():
    assert CLOSE_CODES["document_deleted"] == (4004, "general")


async def test_admin_endpoint_deletes_and_closes_connections(tmp_path):
    async with serve_in_loop(tmp_path / "data", admin_token=ADMIN) as server:
        key = server.tenant.api_key
        editor = new_client(server, "alice", DOC, initial_content="<p>secret words</p>")
        viewer = new_client(server, "victor", DOC, role="viewer")
        bystander = new_client(server, "bob", "other-doc", initial_content="<p>kept</p>")
        clients = [editor, viewer, bystander]
        try:
            for client in clients:
                await client.start()
                await client.wait_synced()
            editor.append_paragraph("more secret words")
            await editor.flush()

            # Authentication and errors first.
            assert (await adelete(server.url, key, DOC, token=None)).status_code == 401
            wrong = await adelete(server.url, key, DOC, token="guess")
            assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
            missing = await adelete(server.url, key, "no-such-doc")
            assert missing.status_code == 404 and missing.json()["code"] == "unknown_document"
            other_tenant = await adelete(server.url, "tk_other", DOC)
            assert other_tenant.status_code == 404
            no_key = await adelete(server.url, None, DOC)
            assert no_key.status_code == 400
            assert editor.error is None

            # What the server stored for the document, to look for afterwards.
            stored = stored_ciphertexts(server.db_path, DOC)
            assert stored and _traces(_files(server.db_path), [DOC.encode()])

            started = time.monotonic()
            response = await adelete(server.url, key, DOC)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["deleted"] is True and body["document_id"] == DOC
            assert body["closed_connections"] == 2
            assert "truncated" in body["scrub"]
            await closed_as_deleted(editor, viewer, timeout=5)
            assert time.monotonic() - started < 5
            # No trace in the files of the running server: the id, the user who wrote
            # it, 16-byte pieces of every ciphertext it held.
            needles = [
                DOC.encode(),
                b"alice",
                *(c[i : i + 16] for c in stored for i in range(0, len(c) - 16, 64)),
            ]
            assert _traces(_files(server.db_path), needles) == []
            # The clients stay closed: no reconnect re-creates the document.
            await asyncio.sleep(1.5)
            assert (await adelete(server.url, key, DOC)).status_code == 404
            # Other documents are untouched and their clients stay connected.
            assert bystander.error is None and bystander.synced
            bystander.append_paragraph("still here")
            await bystander.flush()

            # The id can be used again: a new, empty document.
            fresh = new_client(server, "carol", DOC, initial_content="<p>new start</p>")
            clients.append(fresh)
            await fresh.start()
            await fresh.wait_synced()
            assert "secret" not in fresh.to_html() and "new start" in fresh.to_html()
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def test_admin_endpoint_is_off_without_a_token(tmp_path):
    async with serve_in_loop(tmp_path / "data") as server:
        response = await adelete(server.url, server.tenant.api_key, DOC)
        assert response.status_code == 404
        assert response.json()["code"] == "admin_disabled"


async def test_odd_document_ids_travel_in_the_path(tmp_path):
    odd = "a/b?c#d%20 é/../x"
    async with serve_in_loop(tmp_path / "data", admin_token=ADMIN) as server:
        client = new_client(server, "alice", odd, initial_content="<p>x</p>")
        await client.start()
        await client.wait_synced()
        await client.flush()
        try:
            response = await adelete(server.url, server.tenant.api_key, odd)
            assert response.status_code == 200, response.text
            assert response.json()["document_id"] == odd
            await closed_as_deleted(client)
        finally:
            await client.close()


async def test_deletion_by_another_process_closes_connections(tmp_path):
    """``tandem doc delete`` changes the SQLite file of a running server: the node
    notices within ``revocation_check_interval`` (or at the next write)."""
    async with serve_in_loop(tmp_path / "data", revocation_check_interval=0.5) as server:
        editor = new_client(server, "alice", DOC, initial_content="<p>secret</p>")
        viewer = new_client(server, "victor", DOC, role="viewer")
        try:
            for client in (editor, viewer):
                await client.start()
                await client.wait_synced()
            other_process = SQLiteStore(server.db_path)
            await other_process.open()
            try:
                assert await other_process.delete_document(server.tenant.api_key, DOC)
                await other_process.scrub()
            finally:
                await other_process.close()
            await closed_as_deleted(editor, viewer, timeout=10)
        finally:
            await asyncio.gather(editor.close(), viewer.close(), return_exceptions=True)


async def test_a_write_after_a_deletion_by_another_process_gets_document_deleted(tmp_path):
    """Without waiting for the watcher: the next update finds the document gone."""
    async with serve_in_loop(tmp_path / "data", revocation_check_interval=0) as server:
        editor = new_client(server, "alice", DOC, initial_content="<p>secret</p>")
        try:
            await editor.start()
            await editor.wait_synced()
            other_process = SQLiteStore(server.db_path)
            await other_process.open()
            try:
                assert await other_process.delete_document(server.tenant.api_key, DOC)
            finally:
                await other_process.close()
            editor.append_paragraph("typed after the deletion")
            await closed_as_deleted(editor, timeout=10)
        finally:
            await editor.close()


async def test_deleting_on_one_node_closes_clients_on_every_node():
    async with pg_cluster(2, admin_token=ADMIN) as cluster:
        a, b = cluster.nodes
        on_a = new_client(a, "alice", DOC, initial_content="<p>secret</p>")
        on_b = new_client(b, "bob", DOC)
        viewer_b = new_client(b, "victor", DOC, role="viewer")
        clients = [on_a, on_b, viewer_b]
        try:
            for client in clients:
                await client.start()
                await client.wait_synced()
            on_b.append_paragraph("from b")
            await on_b.flush()
            response = await adelete(a.url, cluster.tenant.api_key, DOC)
            assert response.status_code == 200, response.text
            assert response.json()["closed_connections"] == 1  # node A's own
            await closed_as_deleted(*clients, timeout=10)
            assert (await adelete(b.url, cluster.tenant.api_key, DOC)).status_code == 404
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def test_a_deletion_missed_while_not_listening_is_found_by_the_resync():
    """A node whose LISTEN connection was down when the document was deleted (it missed
    the event) closes the document's connections in the resync that follows."""
    async with pg_cluster(1) as cluster:
        (node,) = cluster.nodes
        state = cluster.servers[0].config.app.state.tandem
        client = new_client(node, "alice", DOC, initial_content="<p>secret</p>")
        try:
            await client.start()
            await client.wait_synced()
            conn = await asyncpg.connect(cluster.database_url)
            try:  # deleted without the event, as if it had been lost
                await conn.execute("DELETE FROM documents WHERE document_id = $1", DOC)
            finally:
                await conn.close()
            await asyncio.sleep(0.5)
            assert client.error is None  # nothing told the node yet
            state.cluster.handle({"k": "resync"})
            await closed_as_deleted(client, timeout=10)
            assert DOC not in {d for _k, d in state.hubs.hubs}
        finally:
            await client.close()
