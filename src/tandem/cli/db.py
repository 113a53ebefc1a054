"""``tandem db migrate|recount|backup|restore|scrub``: database maintenance.

- ``migrate`` brings the schema up to date (also done at start-up).
- ``recount`` recomputes each document's log counters (stored updates and their
  bytes) from its rows: nodes from before schema migration 5 do not keep them, so
  after a rolling upgrade across it the counters lack what those nodes appended.
- ``backup FILE`` (SQLite) copies the database with SQLite's online backup API from a
  connection of its own, in one step, i.e. one read transaction: a consistent
  snapshot while servers keep writing (WAL readers do not block the writer). The
  copy is a single self-contained file (rollback journal, no -wal), checked with
  ``integrity_check`` before it is renamed into place.
- ``restore FILE`` (SQLite) checks that FILE is a sound Tandem database and copies it
  into an empty data directory; pending migrations are applied.
- ``scrub`` rebuilds the SQLite file (VACUUM) and truncates the WAL: what ``tandem doc
  delete`` and the admin API do after a deletion (``--vacuum`` is accepted for scripts
  written for earlier versions; the rebuild always happens now).

PostgreSQL is backed up with its own tools (pg_dump, base backups and WAL archiving
for point-in-time recovery): ``backup`` and ``restore`` say how (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import time
from pathlib import Path

from tandem.cli.context import CliContext
from tandem.errors import TandemError
from tandem.storage.sqlite_schema import MIGRATIONS

SQLITE_HEADER = b"SQLite format 3\x00"
# Tables every schema version has (later migrations may add others).
REQUIRED_TABLES = {"api_keys", "public_keys", "documents", "sessions", "updates"}
EXIT_USE_OTHER_TOOL = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "db", help="database maintenance: migrate, recount, backup, restore, scrub"
    )
    commands = parser.add_subparsers(dest="db_command", metavar="ACTION")
    commands.required = True
    migrate = commands.add_parser(
        "migrate", help="apply pending schema migrations (safe to run on a live cluster)"
    )
    migrate.set_defaults(func=migrate_schema)

    recount = commands.add_parser(
        "recount",
        help="recompute every document's stored-update counters from its rows"
        " (after a rolling upgrade across schema migration 5)",
    )
    recount.set_defaults(func=recount_logs)

    backup = commands.add_parser(
        "backup", help="copy the SQLite database to FILE, consistently, while servers run"
    )
    backup.add_argument("file", metavar="FILE", help="the backup to write (must not exist)")
    backup.set_defaults(func=backup_database)

    restore = commands.add_parser(
        "restore", help="restore a backup FILE into an empty data directory"
    )
    restore.add_argument("file", metavar="FILE", help="a file written by 'tandem db backup'")
    restore.set_defaults(func=restore_database)

    scrub = commands.add_parser(
        "scrub",
        help="remove deleted content from the database files (SQLite: VACUUM, WAL truncation)",
    )
    scrub.add_argument(
        "--vacuum",
        action="store_true",
        help="accepted for earlier scripts: the file is always rebuilt now",
    )
    scrub.set_defaults(func=scrub_database)


async def migrate_schema(args: argparse.Namespace, ctx: CliContext) -> int:
    async with ctx.store() as store:  # opening a store applies pending migrations
        where = ctx.settings.database_url or str(ctx.settings.sqlite_path)
        print(f"schema up to date ({type(store).__name__}, {_redact(where)})")
    return 0


async def recount_logs(args: argparse.Namespace, ctx: CliContext) -> int:
    async with ctx.store() as store:
        documents = await store.recount_logs()
    print(f"recounted the stored updates of {documents} document(s)")
    return 0


def _redact(url: str) -> str:
    """Hide a password in a database URL."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
    return url


# -- where the database is ---------------------------------------------------------------
def _postgres_url(ctx: CliContext) -> str | None:
    url = ctx.settings.database_url
    return url if url and url.startswith(("postgres://", "postgresql://")) else None


def _sqlite_path(ctx: CliContext) -> Path:
    url = ctx.settings.database_url
    if url and url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    return ctx.settings.sqlite_path


def _use_postgres_tools(url: str, action: str) -> int:
    shown = _redact(url)
    if action == "backup":
        advice = (
            "this database is PostgreSQL: back it up with pg_dump, a consistent snapshot "
            "taken while servers keep writing:\n"
            f"  pg_dump --format=custom --file=tandem.dump '{shown}'\n"
            "For point-in-time recovery use base backups and WAL archiving "
            '(pg_basebackup, archive_command). See docs/deploy.md, "Backup and restore".'
        )
    else:
        advice = (
            "this database is PostgreSQL: restore a pg_dump backup with pg_restore into "
            "an empty database, then start the servers:\n"
            "  createdb tandem_restored\n"
            "  pg_restore --dbname=tandem_restored --no-owner tandem.dump\n"
            'See docs/deploy.md, "Backup and restore".'
        )
    print(advice, file=sys.stderr)
    return EXIT_USE_OTHER_TOOL


# -- checking a database file ------------------------------------------------------------
def _check_tandem_database(
    conn: sqlite3.Connection, name: str, *, integrity: bool = True
) -> dict[str, int]:
    """Raise unless ``conn`` is a (sound) Tandem database; returns a few counts."""
    try:
        (result,) = (
            conn.execute(
                "PRAGMA integrity_check(1)" if integrity else "PRAGMA quick_check(1)"
            ).fetchone()
            if integrity
            else ("ok",)
        )
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise TandemError(f"{name} is not a SQLite database: {exc}") from None
    if result != "ok":
        raise TandemError(f"{name} is damaged (integrity_check: {result})")
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = REQUIRED_TABLES - tables
    if version < 1 or missing:
        raise TandemError(
            f"{name} is a SQLite database but not a Tandem database "
            f"(missing tables: {', '.join(sorted(missing)) or 'none'}, "
            f"schema version {version})"
        )
    if version > len(MIGRATIONS):
        raise TandemError(
            f"{name} has schema version {version}, newer than this Tandem "
            f"(knows {len(MIGRATIONS)}); restore it with a newer Tandem"
        )
    (api_keys,) = conn.execute("SELECT count(*) FROM api_keys").fetchone()
    (documents,) = conn.execute("SELECT count(*) FROM documents").fetchone()
    (updates,) = conn.execute("SELECT count(*) FROM updates").fetchone()
    return {"schema": version, "api_keys": api_keys, "documents": documents, "updates": updates}


def _is_sqlite_file(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(source: sqlite3.Connection, target: Path, journal_mode: str) -> None:
    """Copy ``source`` into a new file ``target`` in one backup step (one read
    transaction on the source: a consistent snapshot), durable on return."""
    dest = sqlite3.connect(target, isolation_level=None)
    try:
        source.backup(dest)  # pages=-1: everything in one step
        dest.execute(f"PRAGMA journal_mode={journal_mode}")
    finally:
        dest.close()
    _fsync(target)


def _describe(counts: dict[str, int]) -> str:
    return (
        f"schema version {counts['schema']}, {counts['api_keys']} API key(s), "
        f"{counts['documents']} document(s), {counts['updates']} logged update(s)"
    )


# -- backup ------------------------------------------------------------------------------
def sqlite_backup(source: Path, target: Path) -> str:
    if not source.is_file():
        raise TandemError(f"no database at {source} (set --data-dir or TANDEM_DATA_DIR)")
    if target.exists():
        raise TandemError(f"{target} exists; a backup never overwrites a file")
    if not target.parent.is_dir():
        raise TandemError(f"the directory {target.parent} does not exist")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    started = time.monotonic()
    conn = sqlite3.connect(source, timeout=30, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        _check_tandem_database(conn, str(source), integrity=False)  # the copy is checked
        _copy(conn, partial, "DELETE")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        conn.close()
    check = sqlite3.connect(partial)
    try:
        counts = _check_tandem_database(check, str(partial))
    finally:
        check.close()
    os.replace(partial, target)
    _fsync(target.parent)
    size = target.stat().st_size
    return (
        f"backed up {source} to {target}: {_describe(counts)}, {size} bytes, "
        f"in {time.monotonic() - started:.1f} s (integrity_check ok)"
    )


async def backup_database(args: argparse.Namespace, ctx: CliContext) -> int:
    url = _postgres_url(ctx)
    if url is not None:
        return _use_postgres_tools(url, "backup")
    print(await asyncio.to_thread(sqlite_backup, _sqlite_path(ctx), Path(args.file)))
    return 0


# -- restore -----------------------------------------------------------------------------
def sqlite_restore(source: Path, target: Path) -> str:
    if not source.is_file():
        raise TandemError(f"no backup at {source}")
    if not _is_sqlite_file(source):
        raise TandemError(f"{source} is not a SQLite database (not a Tandem backup)")
    data_dir = target.parent
    if data_dir.exists():
        if not data_dir.is_dir():
            raise TandemError(f"{data_dir} is not a directory")
        entries = sorted(p.name for p in data_dir.iterdir())
        if entries:
            shown = ", ".join(entries[:5]) + (", …" if len(entries) > 5 else "")
            raise TandemError(
                f"the data directory {data_dir} is not empty ({shown}); restore only into "
                "an empty or new directory (--data-dir), never over a database"
            )
    conn = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
    try:
        counts = _check_tandem_database(conn, str(source))
        data_dir.mkdir(parents=True, exist_ok=True)
        partial = data_dir / (target.name + ".partial")
        try:
            _copy(conn, partial, "WAL")
            check = sqlite3.connect(partial)
            try:
                _check_tandem_database(check, str(partial))
            finally:
                check.close()
            os.replace(partial, target)
        except BaseException:
            for leftover in data_dir.glob(partial.name + "*"):
                leftover.unlink(missing_ok=True)
            raise
    finally:
        conn.close()
    _fsync(data_dir)
    return f"restored {source} into {target}: {_describe(counts)} (integrity_check ok)"


async def restore_database(args: argparse.Namespace, ctx: CliContext) -> int:
    url = _postgres_url(ctx)
    if url is not None:
        return _use_postgres_tools(url, "restore")
    print(await asyncio.to_thread(sqlite_restore, Path(args.file), _sqlite_path(ctx)))
    async with ctx.store():  # applies pending migrations (an older backup)
        pass
    print("ready: start the server on this data directory")
    return 0


# -- scrub -------------------------------------------------------------------------------
async def scrub_database(args: argparse.Namespace, ctx: CliContext) -> int:
    async with ctx.store() as store:
        print(await store.scrub())
    return 0
