"""``tandem db migrate``: bring the database schema up to date (also done at start-up)."""

from __future__ import annotations

import argparse

from tandem.cli.context import CliContext


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("db", help="database maintenance")
    commands = parser.add_subparsers(dest="db_command", metavar="ACTION")
    commands.required = True
    migrate = commands.add_parser(
        "migrate", help="apply pending schema migrations (safe to run on a live cluster)")
    migrate.set_defaults(func=migrate_schema)


async def migrate_schema(args: argparse.Namespace, ctx: CliContext) -> int:
    async with ctx.store() as store:  # opening a store applies pending migrations
        where = ctx.settings.database_url or str(ctx.settings.sqlite_path)
        print(f"schema up to date ({type(store).__name__}, {_redact(where)})")
    return 0


def _redact(url: str) -> str:
    """Hide a password in a database URL."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
    return url
