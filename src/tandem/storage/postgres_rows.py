"""Typed reads of what asyncpg returns (asyncpg ships no type information).

``Connection`` names the part of ``asyncpg.Connection`` the PostgreSQL engine uses,
with the types asyncpg documents: ``execute`` returns the command status, a row
(``Row``) gives each column's value as ``object``, and so does ``fetchval``. The
readers below turn those values into the types of the records, checking what
asyncpg decoded (``TEXT`` is ``str``, ``BIGINT``/``INTEGER`` ``int``, ``DOUBLE
PRECISION`` ``float``, ``BYTEA`` ``bytes``), so a query that does not match a record
is a clear ``StorageError``, never a wrongly typed value in a record.
"""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from tandem.storage.base import StorageError


class Row(Protocol):
    """An ``asyncpg.Record``, read by column name."""

    def __getitem__(self, column: str, /) -> object: ...


class Connection(Protocol):
    """The methods of ``asyncpg.Connection`` the engine calls, as asyncpg documents them."""

    async def execute(self, query: str, *args: object) -> str: ...

    async def fetch(self, query: str, *args: object) -> list[Row]: ...

    async def fetchrow(self, query: str, *args: object) -> Row | None: ...

    async def fetchval(self, query: str, *args: object) -> object: ...

    def transaction(self) -> AbstractAsyncContextManager[object]: ...

    def is_in_transaction(self) -> bool: ...


def _wrong(value: object, expected: str, what: str) -> StorageError:
    return StorageError(
        f"PostgreSQL returned {type(value).__name__} for {what}, expected {expected}"
    )


# -- single values (fetchval, or one column of a row) -------------------------------------
def int_value(value: object, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _wrong(value, "an integer", what)


def optional_int_value(value: object, what: str) -> int | None:
    return None if value is None else int_value(value, what)


def str_value(value: object, what: str) -> str:
    if isinstance(value, str):
        return value
    raise _wrong(value, "text", what)


def optional_str_value(value: object, what: str) -> str | None:
    return None if value is None else str_value(value, what)


# -- columns of a row -----------------------------------------------------------------------
def text(row: Row, column: str) -> str:
    return str_value(row[column], column)


def optional_text(row: Row, column: str) -> str | None:
    return optional_str_value(row[column], column)


def integer(row: Row, column: str) -> int:
    return int_value(row[column], column)


def real(row: Row, column: str) -> float:
    value = row[column]
    if isinstance(value, float):
        return value
    raise _wrong(value, "a float", column)


def boolean(row: Row, column: str) -> bool:
    value = row[column]
    if isinstance(value, bool):
        return value
    raise _wrong(value, "a boolean", column)


def blob(row: Row, column: str) -> bytes:
    value = row[column]
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise _wrong(value, "bytes", column)


def optional_blob(row: Row, column: str) -> bytes | None:
    return None if row[column] is None else blob(row, column)


def json_strings(row: Row, column: str) -> tuple[str, ...]:
    """A ``TEXT`` column holding a JSON array of strings."""
    value = json.loads(text(row, column))
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _wrong(value, "a JSON array of strings", column)
    return tuple(value)


def json_object(row: Row, column: str) -> dict[str, Any]:
    """A ``TEXT`` column holding a JSON object (its values are the caller's to check)."""
    value = json.loads(text(row, column))
    if not isinstance(value, dict):
        raise _wrong(value, "a JSON object", column)
    return value


def affected_rows(status: str) -> int:
    """The row count of a command status such as ``DELETE 3``."""
    return int(status.split()[-1])
