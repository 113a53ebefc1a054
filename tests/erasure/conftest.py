"""The storage suite's engine fixtures (SQLite and a fresh PostgreSQL database)."""

from tests.storage.test_store import api_key, engine, store  # noqa: F401
