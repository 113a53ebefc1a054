"""Pick the storage engine from the settings."""

from __future__ import annotations

from tandem.settings import Settings, SettingsError
from tandem.storage.base import Store


def make_store(settings: Settings) -> Store:
    """An unopened store: PostgreSQL when a database URL is set, else SQLite in data_dir."""
    url = settings.database_url
    if url:
        if url.startswith(("postgres://", "postgresql://")):
            try:
                from tandem.storage.postgres import PostgresStore
            except ImportError:  # asyncpg is the optional "postgres" extra
                raise SettingsError(
                    "PostgreSQL needs asyncpg: pip install 'tandem-rtc[postgres]'"
                ) from None
            return PostgresStore(url)
        if url.startswith("sqlite:///"):
            from tandem.storage.sqlite import SQLiteStore

            return SQLiteStore(url.removeprefix("sqlite:///"))
        raise SettingsError(f"unsupported database URL: {url.split(':', 1)[0]}://…")
    from tandem.storage.sqlite import SQLiteStore

    return SQLiteStore(settings.sqlite_path)
