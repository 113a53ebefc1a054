"""The storage interface suite: one set of tests, run against every engine.

Add an engine by adding a parameter to ``ENGINES`` and a branch to ``open_store``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from tandem.storage import (
    SessionRecord,
    SnapshotRejected,
    StaleSession,
    StorageError,
    Store,
    UnknownApiKey,
)
from tandem.storage.postgres import PostgresStore
from tandem.storage.sqlite import SQLiteStore
from tests.support.postgres import create_database, drop_database

ENGINES = ["sqlite", "postgres"]
_DATABASES: dict[str, str] = {}  # tmp_path -> the test's own PostgreSQL database


def make_store(engine: str, tmp_path) -> Store:
    if engine == "sqlite":
        return SQLiteStore(tmp_path / "store" / "tandem.sqlite3")
    if engine == "postgres":
        return PostgresStore(_DATABASES[str(tmp_path)])
    raise AssertionError(f"unknown engine {engine}")


@pytest.fixture(params=ENGINES)
async def engine(request, tmp_path):
    if request.param == "postgres":
        url = await create_database()
        _DATABASES[str(tmp_path)] = url
        yield request.param
        del _DATABASES[str(tmp_path)]
        await drop_database(url)
    else:
        yield request.param


@pytest.fixture
async def store(engine, tmp_path):
    s = make_store(engine, tmp_path)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def api_key(store) -> str:
    return (await store.create_api_key("tenant")).key


def session(sid: str, hint: str = "h1", creator: str = "alice") -> SessionRecord:
    return SessionRecord(
        session_id=sid,
        key_hint=hint,
        salt=b"s" * 32,
        iterations=10_000,
        wrapped_key=b"w" * 60,
        creator=creator,
        created_at=time.time(),
    )


SEALED = b"c" * 40


async def new_doc(store, api_key, doc="doc", sid="session-0000000001") -> SessionRecord:
    result = await store.create_session(api_key, doc, session(sid), b"initial-snapshot")
    assert result.created
    return result.session


# -- API keys and public keys ----------------------------------------------------------
async def test_api_key_crud(store):
    a = await store.create_api_key("first", ("https://a.example",))
    b = await store.create_api_key("second")
    assert a.key != b.key and len(a.key) >= 32
    got = await store.get_api_key(a.key)
    assert got.name == "first" and got.origins == ("https://a.example",)
    assert got.jwks_url is None
    assert [k.key for k in await store.list_api_keys()] == [a.key, b.key]
    await store.set_jwks_url(a.key, "https://a.example/jwks.json")
    assert (await store.get_api_key(a.key)).jwks_url == "https://a.example/jwks.json"
    await store.set_jwks_url(a.key, None)
    assert (await store.get_api_key(a.key)).jwks_url is None
    with pytest.raises(UnknownApiKey):
        await store.set_jwks_url("nope", "https://x")
    assert await store.get_api_key("nope") is None
    assert await store.delete_api_key(a.key) is True
    assert await store.delete_api_key(a.key) is False
    assert await store.get_api_key(a.key) is None
    assert [k.key for k in await store.list_api_keys()] == [b.key]


async def test_public_keys_upsert_and_remove(store, api_key):
    k1 = {"kty": "EC", "kid": "k1", "x": "1"}
    k2 = {"kty": "EC", "kid": "k2", "x": "2"}
    await store.add_public_keys(api_key, [k1, k2])
    assert await store.list_public_keys(api_key) == [k1, k2]
    replaced = {"kty": "EC", "kid": "k1", "x": "changed"}
    await store.add_public_keys(api_key, [replaced])
    keys = await store.list_public_keys(api_key)
    assert sorted(k["x"] for k in keys) == ["2", "changed"] and len(keys) == 2
    assert await store.remove_public_key(api_key, "k2") is True
    assert await store.remove_public_key(api_key, "k2") is False
    assert await store.list_public_keys(api_key) == [replaced]
    with pytest.raises(UnknownApiKey):
        await store.add_public_keys("nope", [k1])
    with pytest.raises(StorageError):
        await store.add_public_keys(api_key, [{"kty": "EC"}])  # no kid
    other = (await store.create_api_key("other")).key
    assert await store.list_public_keys(other) == []
    # Deleting the API key deletes its keys and documents.
    await new_doc(store, api_key)
    await store.delete_api_key(api_key)
    assert await store.list_public_keys(api_key) == []
    assert await store.document_info(api_key, "doc") is None


# -- sessions ----------------------------------------------------------------------------
async def test_create_session_has_exactly_one_winner(store, api_key):
    results = await asyncio.gather(
        *(
            store.create_session(
                api_key, "race", session(f"session-{i:010d}", f"h{i}"), f"snap-{i}".encode()
            )
            for i in range(20)
        )
    )
    winners = [r for r in results if r.created]
    assert len(winners) == 1
    winner = winners[0].session
    assert all(r.session == winner for r in results)  # losers get the winner's session
    info = await store.document_info(api_key, "race")
    assert info.session_count == 1
    assert info.active_session == winner
    snapshot = await store.latest_snapshot(api_key, "race")
    assert snapshot.session_id == winner.session_id
    assert snapshot.ciphertext == f"snap-{winner.key_hint[1:]}".encode()
    assert await store.active_session(api_key, "race") == winner


async def test_create_session_unknown_api_key(store):
    with pytest.raises(UnknownApiKey):
        await store.create_session("nope", "doc", session("session-0000000001"), b"s")


async def test_append_assigns_contiguous_seqs_under_concurrency(store, api_key):
    s = await new_doc(store, api_key)
    results = await asyncio.gather(
        *(
            store.append_update(
                api_key,
                "doc",
                s.session_id,
                f"client-{i % 5:04d}",
                i // 5 + 1,
                "alice",
                SEALED + bytes([i]),
            )
            for i in range(100)
        )
    )
    assert sorted(r.seq for r in results) == list(range(1, 101))
    assert not any(r.duplicate for r in results)
    updates = await store.updates_after(api_key, "doc", 0)
    assert [u.seq for u in updates] == list(range(1, 101))
    by_seq = {r.seq: i for i, r in enumerate(results)}
    for u in updates:
        i = by_seq[u.seq]
        assert (u.client_id, u.counter, u.ciphertext) == (
            f"client-{i % 5:04d}",
            i // 5 + 1,
            SEALED + bytes([i]),
        )
        assert u.session_id == s.session_id and u.user_id == "alice"
    assert [u.seq for u in await store.updates_after(api_key, "doc", 90)] == list(range(91, 101))
    assert [u.seq for u in await store.updates_after(api_key, "doc", 10, limit=3)] == [11, 12, 13]
    info = await store.document_info(api_key, "doc")
    assert info.version == 100 and info.stored_updates == 100


async def test_duplicates_return_the_original_seq(store, api_key):
    s = await new_doc(store, api_key)
    first = await store.append_update(api_key, "doc", s.session_id, "client-a", 1, "u", SEALED)
    other = await store.append_update(api_key, "doc", s.session_id, "client-b", 1, "u", SEALED)
    second = await store.append_update(api_key, "doc", s.session_id, "client-a", 2, "u", SEALED)
    assert (first.seq, other.seq, second.seq) == (1, 2, 3)
    again = await store.append_update(api_key, "doc", s.session_id, "client-a", 1, "u", b"x" * 40)
    assert (again.seq, again.duplicate) == (1, True)
    again = await store.append_update(api_key, "doc", s.session_id, "client-a", 2, "u", SEALED)
    assert (again.seq, again.duplicate) == (3, True)
    # Concurrent resends of the same (client, counter): one stored, all see its seq.
    results = await asyncio.gather(
        *(
            store.append_update(api_key, "doc", s.session_id, "client-c", 1, "u", SEALED)
            for _ in range(10)
        )
    )
    assert {r.seq for r in results} == {4}
    assert sum(not r.duplicate for r in results) == 1
    info = await store.document_info(api_key, "doc")
    assert info.version == 4 and info.stored_updates == 4


async def test_stale_session_is_refused(store, api_key):
    s = await new_doc(store, api_key)
    with pytest.raises(StaleSession):
        await store.append_update(api_key, "doc", "session-other-00001", "c", 1, "u", SEALED)
    with pytest.raises(StaleSession):
        await store.append_update(api_key, "no-such-doc", s.session_id, "c", 1, "u", SEALED)
    with pytest.raises(StaleSession):
        await store.store_snapshot(api_key, "doc", "session-other-00001", 0, SEALED)


async def test_checkpoints_keep_history(store, api_key):
    s = await new_doc(store, api_key)
    for i in range(1, 21):
        user = "alice" if i <= 10 else "bob"
        await store.append_update(api_key, "doc", s.session_id, f"client-{user}", i, user, SEALED)
    v2 = await store.store_snapshot(api_key, "doc", s.session_id, 10, b"snap-10")
    assert (v2.number, v2.seq, v2.kind, v2.editors, v2.size) == (2, 10, "auto", ("alice",), 7)
    snap = await store.latest_snapshot(api_key, "doc")
    assert (snap.seq, snap.session_id, snap.ciphertext) == (10, s.session_id, b"snap-10")
    # Nothing is deleted: the covered updates stay in the history.
    assert [u.seq for u in await store.updates_after(api_key, "doc", 10)] == list(range(11, 21))
    assert [u.seq for u in await store.updates_after(api_key, "doc", 0)] == list(range(1, 21))
    # An older automatic snapshot, an equal one and one from the future are rejected.
    for seq in (9, 10):
        with pytest.raises(SnapshotRejected):
            await store.store_snapshot(api_key, "doc", s.session_id, seq, b"again")
    with pytest.raises(SnapshotRejected):
        await store.store_snapshot(api_key, "doc", s.session_id, 21, b"future")
    # A named version may repeat the latest seq; its sealed name is kept as is.
    v3 = await store.store_snapshot(
        api_key, "doc", s.session_id, 10, b"named-10", kind="named", name=b"sealed-name"
    )
    assert (v3.number, v3.seq, v3.editors, v3.name) == (3, 10, (), b"sealed-name")
    v4 = await store.store_snapshot(api_key, "doc", s.session_id, 18, b"snap-18")
    assert v4.editors == ("bob",)
    with pytest.raises(StorageError):
        await store.store_snapshot(api_key, "doc", s.session_id, 19, b"x", kind="bogus")
    info = await store.document_info(api_key, "doc")
    assert info.snapshot_seq == 18 and info.version == 20 and info.stored_updates == 20
    assert info.stored_bytes == 20 * len(SEALED) + sum(
        len(c) for c in (b"initial-snapshot", b"snap-10", b"named-10", b"snap-18")
    )
    assert await store.api_key_stored_bytes(api_key) == info.stored_bytes
    # Listing: newest first, paged, without ciphertext; fetching one gives it.
    listed = await store.list_versions(api_key, "doc")
    assert [(v.number, v.seq, v.kind) for v in listed] == [
        (4, 18, "auto"),
        (3, 10, "named"),
        (2, 10, "auto"),
        (1, 0, "session"),
    ]
    assert all(v.ciphertext is None and v.key_hint == "h1" for v in listed)
    assert [v.number for v in await store.list_versions(api_key, "doc", before=3, limit=1)] == [2]
    got = await store.get_version(api_key, "doc", 3)
    assert (got.ciphertext, got.name, got.size) == (b"named-10", b"sealed-name", 8)
    assert await store.get_version(api_key, "doc", 99) is None
    # Appending continues with the next seq.
    r = await store.append_update(api_key, "doc", s.session_id, "client-bob", 21, "bob", SEALED)
    assert r.seq == 21


async def test_retention_window_prunes_only_old_history(store, api_key):
    s = await new_doc(store, api_key)
    for i in range(1, 11):
        await store.append_update(api_key, "doc", s.session_id, "client-a", i, "u", SEALED)
    await store.store_snapshot(api_key, "doc", s.session_id, 4, b"snap-4")
    await store.store_snapshot(api_key, "doc", s.session_id, 7, b"snap-7")
    # Nothing is older than the window: nothing goes.
    assert await store.prune_history(api_key, "doc", time.time() - 3600) == 0
    assert len(await store.list_versions(api_key, "doc")) == 3
    # A window that starts now: the newest checkpoint and everything after it stay.
    assert await store.prune_history(api_key, "doc", time.time() + 1) == 2
    assert [v.number for v in await store.list_versions(api_key, "doc")] == [3]
    assert [u.seq for u in await store.updates_after(api_key, "doc", 0)] == [8, 9, 10]
    # A re-sent, pruned update is still known as a duplicate.
    again = await store.append_update(api_key, "doc", s.session_id, "client-a", 3, "u", SEALED)
    assert again.duplicate
    # store_snapshot prunes as it goes when asked to.
    await store.store_snapshot(
        api_key, "doc", s.session_id, 10, b"snap-10", prune_before=time.time() + 1
    )
    assert [v.number for v in await store.list_versions(api_key, "doc")] == [4]
    assert await store.updates_after(api_key, "doc", 0) == []


async def test_rotation_replaces_the_active_session(store, api_key):
    old = await new_doc(store, api_key)
    for i in range(1, 6):
        await store.append_update(api_key, "doc", old.session_id, "client-a", i, "u", SEALED)
    # Without replaces= a second session loses.
    lost = await store.create_session(api_key, "doc", session("session-new-000001"), b"x")
    assert not lost.created and lost.session == old
    # replaces= a session that is not the active one loses too.
    lost = await store.create_session(
        api_key, "doc", session("session-new-000001"), b"x", replaces="session-wrong-00001"
    )
    assert not lost.created and lost.session == old
    results = await asyncio.gather(
        *(
            store.create_session(
                api_key,
                "doc",
                session(f"session-rot-{i:06d}", f"h{i}"),
                b"rot",
                replaces=old.session_id,
            )
            for i in range(5)
        )
    )
    assert sum(r.created for r in results) == 1
    new = next(r for r in results if r.created).session
    assert new.start_seq == 5
    assert all(r.session == new for r in results)
    info = await store.document_info(api_key, "doc")
    assert info.session_count == 2 and info.active_session == new
    # The old session's updates stay in the history, readable with the old key hint.
    assert info.snapshot_seq == 5 and info.stored_updates == 5
    assert (await store.latest_snapshot(api_key, "doc")).session_id == new.session_id
    versions = await store.list_versions(api_key, "doc")
    assert [(v.number, v.seq, v.kind, v.session_id) for v in versions] == [
        (2, 5, "session", new.session_id),
        (1, 0, "session", old.session_id),
    ]
    assert [
        s.session_id
        for s in await store.get_sessions(
            api_key, "doc", [old.session_id, new.session_id, "session-none-000001"]
        )
    ] == [old.session_id, new.session_id]
    with pytest.raises(StaleSession):
        await store.append_update(api_key, "doc", old.session_id, "client-a", 6, "u", SEALED)
    r = await store.append_update(api_key, "doc", new.session_id, "client-a", 1, "u", SEALED)
    assert (r.seq, r.duplicate) == (6, False)  # counters are per session; seqs continue
    assert [u.seq for u in await store.updates_after(api_key, "doc", 0)] == [6]
    between = await store.updates_between(api_key, "doc", 2, 6, limit=10)
    assert [(u.seq, u.session_id) for u in between] == [
        (3, old.session_id),
        (4, old.session_id),
        (5, old.session_id),
        (6, new.session_id),
    ]
    assert [u.seq for u in await store.updates_between(api_key, "doc", 2, 6, limit=2)] == [3, 4]
    # A byte budget: updates until it is reached, always at least one.
    for budget, seqs in ((1, [3]), (2 * len(SEALED), [3, 4]), (2 * len(SEALED) + 1, [3, 4, 5])):
        got = await store.updates_between(api_key, "doc", 2, 6, limit=10, max_bytes=budget)
        assert [u.seq for u in got] == seqs


async def test_document_info(store, api_key):
    assert await store.document_info(api_key, "doc") is None
    assert await store.active_session(api_key, "doc") is None
    assert await store.latest_snapshot(api_key, "doc") is None
    assert await store.updates_after(api_key, "doc", 0) == []
    s = await new_doc(store, api_key)
    info = await store.document_info(api_key, "doc")
    assert (info.api_key, info.document_id, info.version, info.session_count) == (
        api_key,
        "doc",
        0,
        1,
    )
    assert info.active_session == s and info.snapshot_seq == 0
    assert info.stored_updates == 0 and info.stored_bytes == len(b"initial-snapshot")
    # Documents are per API key.
    other = (await store.create_api_key("other")).key
    assert await store.document_info(other, "doc") is None


# -- lifecycle and migrations -------------------------------------------------------------
async def test_reopen_keeps_data_and_migrations_are_idempotent(engine, tmp_path):
    first = make_store(engine, tmp_path)
    await first.open()
    key = (await first.create_api_key("t")).key
    s = await new_doc(first, key)
    await first.append_update(key, "doc", s.session_id, "client-a", 1, "u", SEALED)
    await first.close()
    for _ in range(2):
        again = make_store(engine, tmp_path)
        await again.open()
        info = await again.document_info(key, "doc")
        assert info.version == 1 and info.active_session == s
        await again.close()


async def test_closed_store_is_unavailable(engine, tmp_path):
    s = make_store(engine, tmp_path)
    await s.open()
    await s.close()
    with pytest.raises(StorageError):
        await s.create_api_key("t")


async def test_schema_newer_than_code_is_refused(engine, tmp_path):
    s = make_store(engine, tmp_path)
    await s.open()
    await s.close()
    if engine == "sqlite":
        conn = sqlite3.connect(s.path)
        conn.execute("PRAGMA user_version=999")
        conn.close()
    else:
        import asyncpg

        conn = await asyncpg.connect(_DATABASES[str(tmp_path)])
        await conn.execute("INSERT INTO tandem_schema (version) VALUES (999)")
        await conn.close()
    with pytest.raises(StorageError, match="newer"):
        await make_store(engine, tmp_path).open()


async def test_migration_4_turns_the_snapshot_into_version_1(engine, tmp_path):
    """A database from before version history keeps its snapshot as version 1."""
    from tandem.storage import postgres_schema, sqlite_schema

    rows = [
        "INSERT INTO api_keys VALUES ('k', 'n', '[]', NULL, 1.0)",
        "INSERT INTO documents VALUES ('k', 'd', 3, 'session-0000000001', 2.0)",
        "INSERT INTO sessions VALUES ('k', 'd', 'session-0000000001', 'h', 'salt', 10000,"
        " 'wrapped', 'alice', 2.0, 0)",
        "INSERT INTO snapshots VALUES ('k', 'd', 2, 'session-0000000001', 'snapshot-2')",
    ]
    if engine == "sqlite":
        path = tmp_path / "store" / "tandem.sqlite3"
        path.parent.mkdir(parents=True)
        conn = sqlite3.connect(path)
        for script in sqlite_schema.MIGRATIONS[:3]:
            conn.executescript(script)
        for row in rows:
            conn.execute(
                row.replace("'salt'", "x'00'")
                .replace("'wrapped'", "x'00'")
                .replace("'snapshot-2'", "CAST('snapshot-2' AS BLOB)")
            )
        conn.execute("PRAGMA user_version=3")
        conn.commit()
        conn.close()
    else:
        import asyncpg

        conn = await asyncpg.connect(_DATABASES[str(tmp_path)])
        await conn.execute("CREATE TABLE tandem_schema (version INTEGER NOT NULL)")
        for number, script in enumerate(postgres_schema.MIGRATIONS[:3], start=1):
            await conn.execute(script)
            await conn.execute("INSERT INTO tandem_schema VALUES ($1)", number)
        for row in rows:
            await conn.execute(
                row.replace("'salt'", "'\\x00'::bytea")
                .replace("'wrapped'", "'\\x00'::bytea")
                .replace("'snapshot-2'", "'snapshot-2'::bytea")
            )
        await conn.close()
    store = make_store(engine, tmp_path)
    await store.open()
    try:
        (version,) = await store.list_versions("k", "d")
        assert (version.number, version.seq, version.kind, version.key_hint) == (1, 2, "auto", "h")
        assert (await store.latest_snapshot("k", "d")).ciphertext == b"snapshot-2"
    finally:
        await store.close()
