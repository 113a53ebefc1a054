"""``tandem doc delete``, ``tandem apikey delete``, ``tandem db backup|restore|scrub``
through tandem.cli.main on a real SQLite file (and PostgreSQL where it applies)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tandem.cli import main
from tandem.storage.postgres import PostgresStore
from tandem.storage.sqlite import SQLiteStore
from tests.erasure.test_store_erasure import DOC, GONE, KEEP, _files, _traces, fill
from tests.support.postgres import create_database, drop_database


@pytest.fixture
def data(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def cli(data, capsys):
    def run(*args: str, where: list[str] | None = None) -> tuple[int, str, str]:
        code = main([*(where or ["--data-dir", str(data)]), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _in_store(path: Path | str, fn):
    async def go():
        store = PostgresStore(path) if isinstance(path, str) else SQLiteStore(path)
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(go())


@pytest.fixture
def populated(data) -> str:
    """An API key with two documents, DOC and KEEP; returns the key."""

    async def make(store):
        key = (await store.create_api_key("t")).key
        await fill(store, key, DOC)
        await fill(store, key, KEEP, tag=b"keep-")
        return key

    return _in_store(data / "tandem.sqlite3", make)


def test_doc_delete_needs_yes_and_then_erases(cli, data, populated):
    db = data / "tandem.sqlite3"
    code, out, err = cli("doc", "delete", "--api-key", populated, DOC)
    assert code == 2 and out == ""
    assert "cannot be undone" in err and "--yes" in err and "version 42" in err
    assert _in_store(db, lambda s: s.list_documents(populated)) == sorted([DOC, KEEP])

    code, out, err = cli("doc", "delete", "--api-key", populated, "--yes", DOC)
    assert code == 0, err
    assert f"deleted document {DOC!r}" in out and "truncated" in out
    assert _in_store(db, lambda s: s.list_documents(populated)) == [KEEP]
    assert _traces(_files(db), [DOC.encode(), GONE]) == []

    code, out, err = cli("doc", "delete", "--api-key", populated, "--yes", DOC)
    assert code == 1 and f"error: unknown document {DOC!r} for this API key" in err
    code, out, err = cli("doc", "delete", "--api-key", "tk_nope", "--yes", KEEP)
    assert code == 1 and "error: unknown API key" in err
    code, _out, err = cli("doc", "delete", "--api-key", populated, KEEP)  # no --yes
    assert code == 2


def test_doc_delete_on_postgres(cli):
    async def setup():
        url = await create_database()
        store = PostgresStore(url)
        await store.open()
        try:
            key = (await store.create_api_key("t")).key
            await fill(store, key, DOC)
        finally:
            await store.close()
        return url, key

    url, key = asyncio.run(setup())
    try:
        where = ["--database-url", url]
        code, out, err = cli("doc", "delete", "--api-key", key, "--yes", DOC, where=where)
        assert code == 0, err
        assert "VACUUM" in out  # what PostgreSQL does and does not guarantee
        assert _in_store(url, lambda s: s.list_documents(key)) == []
        code, out, err = cli("db", "backup", "x.dump", where=where)
        assert code == 2 and "pg_dump" in err and "docs/deploy.md" in err
        assert "password" not in err
        code, out, err = cli("db", "restore", "x.dump", where=where)
        assert code == 2 and "pg_restore" in err
    finally:
        asyncio.run(drop_database(url))


def test_apikey_delete_refuses_without_yes_then_erases_its_documents(cli, data, populated):
    db = data / "tandem.sqlite3"
    code, out, err = cli("apikey", "delete", populated)
    assert code == 2 and "2 document(s)" in err and "--yes" in err
    assert _in_store(db, lambda s: s.get_api_key(populated)) is not None
    code, out, err = cli("apikey", "delete", "--yes", populated)
    assert code == 0, err
    assert "and its 2 document(s)" in out and "truncated" in out
    assert (
        _traces(_files(db), [DOC.encode(), KEEP.encode(), GONE, b"keep-", populated.encode()]) == []
    )
    code, out, err = cli("apikey", "delete", "--yes", populated)
    assert code == 1 and "unknown API key" in err
    # A key without documents needs no confirmation.
    code, out, _ = cli("apikey", "create", "--quiet")
    code, out, err = cli("apikey", "delete", out.strip())
    assert code == 0 and "and its 0 document(s)" in out


def test_backup_and_restore(cli, data, populated, tmp_path):
    backup = tmp_path / "backups" / "tandem-backup.sqlite3"
    code, out, err = cli("db", "backup", str(backup))
    assert code == 1 and "does not exist" in err  # the directory
    backup.parent.mkdir()
    code, out, err = cli("db", "backup", str(backup))
    assert code == 0, err
    assert "2 document(s)" in out and "integrity_check ok" in out and str(backup) in out
    assert not Path(str(backup) + "-wal").exists()  # self-contained
    conn = sqlite3.connect(backup)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()
    code, out, err = cli("db", "backup", str(backup))
    assert code == 1 and "exists" in err  # never overwrites

    # Restore: refused over a database, accepted into a new directory.
    code, out, err = cli("db", "restore", str(backup))
    assert code == 1 and "is not empty" in err and "tandem.sqlite3" in err
    fresh = tmp_path / "fresh"
    code, out, err = cli("db", "restore", str(backup), where=["--data-dir", str(fresh)])
    assert code == 0, err
    assert "2 document(s)" in out and "ready" in out
    restored = fresh / "tandem.sqlite3"

    async def read(store):
        return (
            await store.list_documents(populated),
            await store.latest_snapshot(populated, KEEP),
            await store.document_info(populated, DOC),
        )

    docs, snapshot, info = _in_store(restored, read)
    assert docs == sorted([DOC, KEEP])
    assert snapshot.ciphertext == b"keep--snapshot-rotated"
    assert info.version == 42
    conn = sqlite3.connect(restored)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()

    # An empty existing directory is fine too.
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = cli("db", "restore", str(backup), where=["--data-dir", str(empty)])
    assert code == 0, err


def test_restore_refuses_what_is_not_a_tandem_backup(cli, tmp_path):
    target = ["--data-dir", str(tmp_path / "new")]
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a database at all" * 100)
    code, _, err = cli("db", "restore", str(garbage), where=target)
    assert code == 1 and "is not a SQLite database" in err
    other = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    code, _, err = cli("db", "restore", str(other), where=target)
    assert code == 1 and "not a Tandem database" in err
    code, _, err = cli("db", "restore", str(tmp_path / "missing"), where=target)
    assert code == 1 and "no backup at" in err

    # A damaged Tandem database.
    async def make(store):
        key = (await store.create_api_key("t")).key
        for i in range(5):
            await fill(store, key, f"{DOC}-{i}")

    db = tmp_path / "src" / "tandem.sqlite3"
    _in_store(db, make)
    conn = sqlite3.connect(db)
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'updates'").fetchone()
    (page,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    raw = bytearray(db.read_bytes())
    for offset in range((root - 1) * page, (root - 1) * page + 64):  # the b-tree header
        raw[offset] = 0xFF
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(bytes(raw))
    code, _, err = cli("db", "restore", str(damaged), where=target)
    assert code == 1 and ("damaged" in err or "not a SQLite database" in err), err
    assert not (tmp_path / "new" / "tandem.sqlite3").exists()
    # A backup from a newer Tandem.
    newer = tmp_path / "newer.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute(f"VACUUM INTO '{newer}'")
    conn.close()
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version=999")
    conn.close()
    code, _, err = cli("db", "restore", str(newer), where=target)
    assert code == 1 and "newer than this Tandem" in err


def test_scrub(cli, data, populated):
    code, out, err = cli("db", "scrub", "--vacuum")
    assert code == 0, err
    assert "VACUUM" in out and "truncated" in out
    assert _in_store(data / "tandem.sqlite3", lambda s: s.list_documents(populated)) == sorted(
        [DOC, KEEP]
    )
