"""Deleting a document in the storage engines: every row goes, in one transaction; on
SQLite no byte of it stays in the database files (free pages, WAL, shared memory)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import asyncpg

from tandem.storage import StaleSession
from tandem.storage.postgres import PostgresStore
from tandem.storage.sqlite import SQLiteStore
from tests.storage.test_store import make_store, session

DOC = "erase-me-7f3a9c2d"
KEEP = "keep-me-0b1c2d3e"
# Every ciphertext of a document carries its tag: the scan looks for the deleted
# document's tag (and id) byte for byte, in every page, free or not.
GONE = b"ZAPME-9f1c"


async def fill(store, api_key: str, doc: str, *, tag: bytes = GONE) -> None:
    """A document with two sessions, a compacted log, a snapshot and a big update
    (spanning overflow pages)."""
    first = await store.create_session(
        api_key, doc, session(f"{doc}-session-1"), tag + b"-snapshot-" + tag * 8
    )
    sid = first.session.session_id
    for i in range(1, 41):
        await store.append_update(
            api_key, doc, sid, f"{doc}-client", i, "user-" + doc, tag + b"-update-%03d" % i
        )
    await store.store_snapshot(api_key, doc, sid, 20, tag + b"-snapshot-at-20")
    await store.append_update(
        api_key, doc, sid, f"{doc}-client", 41, "user-" + doc, (tag + b"-big-overflow-") * 800
    )
    rotated = await store.create_session(
        api_key, doc, session(f"{doc}-session-2"), tag + b"-snapshot-rotated", replaces=sid
    )
    assert rotated.created
    await store.append_update(
        api_key,
        doc,
        rotated.session.session_id,
        f"{doc}-client",
        1,
        "user-" + doc,
        tag + b"-update-after-rotation",
    )


async def test_delete_document_removes_it_and_only_it(store, api_key):
    await fill(store, api_key, DOC)
    await fill(store, api_key, KEEP, tag=b"keep-")
    other_key = (await store.create_api_key("other")).key
    await fill(store, other_key, DOC, tag=b"other-")  # same id, another tenant
    assert await store.list_documents(api_key) == sorted([DOC, KEEP])
    assert await store.existing_documents(api_key, [DOC, KEEP, "nope"]) == {DOC, KEEP}

    assert await store.delete_document(api_key, DOC) is True
    assert await store.delete_document(api_key, DOC) is False
    assert await store.delete_document(api_key, "never-existed") is False
    assert await store.document_info(api_key, DOC) is None
    assert await store.active_session(api_key, DOC) is None
    assert await store.latest_snapshot(api_key, DOC) is None
    assert await store.updates_after(api_key, DOC, 0) == []
    assert await store.client_counter(api_key, DOC, f"{DOC}-session-2", f"{DOC}-client") is None
    assert await store.list_documents(api_key) == [KEEP]
    assert await store.existing_documents(api_key, [DOC, KEEP]) == {KEEP}
    assert await store.existing_documents(api_key, []) == set()
    # The other documents are untouched.
    assert (await store.document_info(api_key, KEEP)).version == 42
    assert (await store.document_info(other_key, DOC)).version == 42
    assert (await store.latest_snapshot(other_key, DOC)).ciphertext.startswith(b"other-")
    assert isinstance(await store.scrub(), str)
    # The id can be used again: a new, empty document.
    again = await store.create_session(api_key, DOC, session("fresh-session-0001"), b"new")
    assert again.created and again.version == 0


async def _rows_naming(store, document_id: str) -> dict[str, int]:
    """Rows that mention the document in any table with a document_id column (tables
    added by later migrations included)."""
    if isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path)
        try:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            found = {}
            for table in tables:
                columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
                if "document_id" in columns:
                    (n,) = conn.execute(
                        f'SELECT count(*) FROM "{table}" WHERE document_id = ?', (document_id,)
                    ).fetchone()
                    found[table] = n
            return found
        finally:
            conn.close()
    conn = await asyncpg.connect(store.url)
    try:
        tables = [
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.columns WHERE column_name ="
                " 'document_id' AND table_schema = 'public'"
            )
        ]
        return {
            t: await conn.fetchval(
                f'SELECT count(*) FROM "{t}" WHERE document_id = $1', document_id
            )
            for t in tables
        }
    finally:
        await conn.close()


async def test_no_row_of_a_deleted_document_remains_in_any_table(store, api_key):
    await fill(store, api_key, DOC)
    before = await _rows_naming(store, DOC)
    assert before["documents"] == 1 and before["updates"] > 0 and before["versions"] >= 1
    assert await store.delete_document(api_key, DOC)
    after = await _rows_naming(store, DOC)
    assert set(after) == set(before) and not any(after.values()), after


async def test_deleting_a_document_tells_every_node(engine, tmp_path):
    if engine != "postgres":
        return  # a single SQLite process has no other nodes
    node_a, node_b = make_store(engine, tmp_path), make_store(engine, tmp_path)
    await node_a.open()
    await node_b.open()
    try:
        key = (await node_a.create_api_key("t")).key
        await fill(node_a, key, DOC)
        heard: list[dict] = []
        await node_b.listen(heard.append)
        await asyncio.sleep(0.3)  # the LISTEN connection is up
        assert await node_a.delete_document(key, DOC)
        for _ in range(100):
            if any(e.get("k") == "x" for e in heard):
                break
            await asyncio.sleep(0.05)
        events = [e for e in heard if e.get("k") == "x"]
        assert events == [{"k": "x", "a": key, "d": DOC, "node": node_a.node_id}]
    finally:
        await node_a.close()
        await node_b.close()


def _files(path) -> dict[str, bytes]:
    found = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            found[candidate.name] = candidate.read_bytes()
    return found


def _traces(files: dict[str, bytes], needles: list[bytes]) -> list[tuple[str, bytes]]:
    return [(name, needle) for name, data in files.items() for needle in needles if needle in data]


NEEDLES = [DOC.encode(), GONE]


async def test_sqlite_files_hold_no_trace_of_a_deleted_document(tmp_path):
    """Scan the raw bytes of the database, its WAL and its shared memory: the
    document's id and every ciphertext are gone, including from free pages."""
    store = SQLiteStore(tmp_path / "data" / "tandem.sqlite3")
    await store.open()
    try:
        key = (await store.create_api_key("tenant")).key
        await fill(store, key, KEEP, tag=b"keep-")
        await fill(store, key, DOC)
        await fill(store, key, "after-" + KEEP, tag=b"keep-")
        # Control: before deletion the scan finds every needle somewhere.
        present = {needle for _name, needle in _traces(_files(store.path), NEEDLES)}
        assert present == set(NEEDLES)

        assert await store.delete_document(key, DOC)
        done = await store.scrub()
        assert "truncated" in done
        # While the store is open (a running server), and after it closed.
        files = _files(store.path)
        assert files.get("tandem.sqlite3-wal", b"") == b""
        assert _traces(files, NEEDLES) == []
        # The kept documents are intact (the scan is not trivially passing).
        assert (await store.latest_snapshot(key, KEEP)).ciphertext.startswith(b"keep-")
        assert b"keep--snapshot-rotated" in _files(store.path)["tandem.sqlite3"]
    finally:
        await store.close()
    assert _traces(_files(store.path), NEEDLES) == []
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (free,) = conn.execute("PRAGMA freelist_count").fetchone()
        assert free == 0  # the file was rebuilt: no free pages, no stale cells in live ones
    finally:
        conn.close()


async def test_sqlite_deleting_an_api_key_leaves_no_trace(tmp_path):
    store = SQLiteStore(tmp_path / "data" / "tandem.sqlite3")
    await store.open()
    try:
        key = (await store.create_api_key("tenant")).key
        other = (await store.create_api_key("other")).key
        await fill(store, key, DOC)
        await fill(store, other, KEEP, tag=b"keep-")
        assert await store.delete_api_key(key)
        await store.scrub()
    finally:
        await store.close()
    assert _traces(_files(store.path), [*NEEDLES, key.encode()]) == []


async def test_every_connection_deletes_securely(tmp_path):
    store = SQLiteStore(tmp_path / "data" / "tandem.sqlite3")
    await store.open()
    try:

        def pragma() -> int:
            return store._reader().execute("PRAGMA secure_delete").fetchone()[0]

        assert await asyncio.to_thread(pragma) == 1
    finally:
        await store.close()


async def test_postgres_delete_is_one_transaction(engine, tmp_path):
    """A delete racing appends: afterwards nothing of the document is left (no append
    slips in after the delete and leaves orphans)."""
    if engine != "postgres":
        return
    store = make_store(engine, tmp_path)
    assert isinstance(store, PostgresStore)
    await store.open()
    try:
        key = (await store.create_api_key("t")).key
        await fill(store, key, DOC)
        sid = f"{DOC}-session-2"

        async def append(i: int) -> None:
            with contextlib.suppress(StaleSession):  # after the delete
                await store.append_update(key, DOC, sid, "racer", 100 + i, "u", GONE)

        await asyncio.gather(
            *(append(i) for i in range(20)),
            store.delete_document(key, DOC),
            *(append(i) for i in range(20, 40)),
        )
        assert not any((await _rows_naming(store, DOC)).values())
    finally:
        await store.close()
