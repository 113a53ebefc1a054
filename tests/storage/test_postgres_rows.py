"""The PostgreSQL engine reads asyncpg's untyped rows through checked readers
(``storage.postgres_rows``): a value of the wrong type is a ``StorageError``, never a
wrongly typed record. And what the types showed: a document deleted while a session
is being created for it is a clear ``StorageError`` with nothing written.
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import pytest

from tandem.storage import SessionRecord, StorageError
from tandem.storage.postgres import PostgresStore
from tandem.storage.postgres_rows import (
    affected_rows,
    blob,
    boolean,
    integer,
    json_object,
    json_strings,
    optional_blob,
    optional_int_value,
    optional_text,
    real,
    text,
)
from tests.support.postgres import create_database, drop_database


def test_readers_return_the_record_types():
    row = {
        "t": "abc",
        "i": 7,
        "f": 1.5,
        "b": b"\x00\x01",
        "m": memoryview(b"xy"),
        "ok": True,
        "none": None,
        "strings": '["alice", "bob"]',
        "obj": '{"kid": "k1"}',
    }
    assert text(row, "t") == "abc" and integer(row, "i") == 7 and real(row, "f") == 1.5
    assert blob(row, "b") == b"\x00\x01" and blob(row, "m") == b"xy"
    assert type(blob(row, "m")) is bytes
    assert boolean(row, "ok") is True
    assert optional_text(row, "none") is None and optional_blob(row, "none") is None
    assert optional_int_value(None, "x") is None
    assert json_strings(row, "strings") == ("alice", "bob")
    assert json_object(row, "obj") == {"kid": "k1"}
    assert affected_rows("DELETE 3") == 3 and affected_rows("UPDATE 0") == 0


@pytest.mark.parametrize(
    ("read", "value"),
    [
        (text, 1),
        (text, None),
        (integer, "1"),
        (integer, True),  # a bool is an int in Python, never a BIGINT column's value
        (integer, 1.0),
        (real, 1),
        (real, "1.5"),
        (blob, "bytes"),
        (boolean, 1),
        (optional_text, 3),
        (json_strings, '["a", 1]'),
        (json_strings, '{"a": "b"}'),
        (json_object, "[]"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_storage_error(read, value):
    with pytest.raises(StorageError, match="PostgreSQL returned"):
        read({"column": value}, "column")


class _DeleteBeforeLock:
    """A connection that, just before the statement taking the document's row lock,
    has another connection delete the document (and commit)."""

    def __init__(self, conn: Any, url: str, api_key: str, document_id: str) -> None:
        self._conn = conn
        self._url = url
        self._key = (api_key, document_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        if "FOR UPDATE" in query and query.lstrip().startswith("SELECT head"):
            other = await asyncpg.connect(self._url)
            try:
                await other.execute(
                    "DELETE FROM documents WHERE api_key = $1 AND document_id = $2", *self._key
                )
            finally:
                await other.close()
        return await self._conn.fetchrow(query, *args)


class _RacingStore(PostgresStore):
    race: tuple[str, str] | None = None

    async def _run(self, fn, *, transaction=False):
        if self.race is None:
            return await super()._run(fn, transaction=transaction)
        api_key, document_id = self.race
        return await super()._run(
            lambda conn: fn(_DeleteBeforeLock(conn, self.url, api_key, document_id)),
            transaction=transaction,
        )


def _session(sid: str) -> SessionRecord:
    return SessionRecord(sid, "h", b"s" * 32, 10_000, b"w" * 60, "alice", time.time())


async def test_a_document_deleted_while_its_session_is_created_is_a_storage_error():
    url = await create_database()
    store = _RacingStore(url)
    await store.open()
    try:
        api_key = (await store.create_api_key("t")).key
        first = "session-0000000001"
        assert (await store.create_session(api_key, "doc", _session(first), b"snap")).created
        store.race = (api_key, "doc")
        with pytest.raises(StorageError, match="deleted"):
            await store.create_session(
                api_key, "doc", _session("session-0000000002"), b"snap2", replaces=first
            )
        store.race = None
        # Nothing of the failed creation was written: the document stays deleted.
        assert await store.document_info(api_key, "doc") is None
        assert await store.active_session(api_key, "doc") is None
    finally:
        await store.close()
        await drop_database(url)
