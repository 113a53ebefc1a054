"""Fixtures for the version-history tests: a real server on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from tandem.storage import Store
from tandem.storage.postgres import PostgresStore
from tandem.storage.sqlite import SQLiteStore
from tests.support.postgres import create_database, drop_database
from tests.support.server import RunningServer, serve_in_loop


@contextlib.asynccontextmanager
async def history_server(engine: str, tmp_path, **settings) -> AsyncIterator[RunningServer]:
    url = None
    if engine == "postgres":
        url = await create_database()
        settings["database_url"] = url
    try:
        async with serve_in_loop(tmp_path / "data", **settings) as srv:
            srv.extra["database_url"] = url
            yield srv
    finally:
        if url is not None:
            await drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
async def server(request, tmp_path) -> AsyncIterator[RunningServer]:
    async with history_server(request.param, tmp_path) as srv:
        yield srv


@contextlib.asynccontextmanager
async def server_store(server: RunningServer) -> AsyncIterator[Store]:
    """A second store on the server's database (to look at what it stored)."""
    url = server.extra.get("database_url")
    store: Store = PostgresStore(url) if url else SQLiteStore(server.db_path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
