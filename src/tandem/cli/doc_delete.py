"""``tandem doc delete``: erase a document from the configured database (GDPR).

Unlike the other ``doc`` commands it needs no keys and no server: like ``tandem
apikey`` it works on the database itself (``--data-dir`` / ``--database-url``), which
is also what the servers use, so it works whether they run or not. Running servers
close the document's connections with ``document_deleted`` (PostgreSQL: at once, by
the event the deletion publishes; SQLite: within ``revocation_check_interval``).
"""

from __future__ import annotations

import argparse
import sys

from tandem.cli.context import CliContext
from tandem.errors import TandemError
from tandem.storage import Store

EXIT_NOT_CONFIRMED = 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    delete = commands.add_parser(
        "delete",
        help="delete a document and everything stored for it (GDPR erasure; "
        "works on the database, cannot be undone)",
    )
    delete.add_argument("--api-key", required=True, metavar="KEY")
    delete.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="confirm: without it nothing is deleted (exit code 2)",
    )
    delete.add_argument("document_id", metavar="DOCUMENT_ID")
    delete.set_defaults(func=delete_document)


async def describe(store: Store, api_key: str, document_id: str) -> str:
    """What will be deleted, for the confirmation message; raises for unknown ids."""
    if await store.get_api_key(api_key) is None:
        raise TandemError("unknown API key")
    info = await store.document_info(api_key, document_id)
    if info is None:
        raise TandemError(f"unknown document {document_id!r} for this API key")
    return (
        f"version {info.version}, {info.session_count} session(s), "
        f"{info.stored_updates} stored update(s), {info.stored_bytes} bytes"
    )


async def delete_document(args: argparse.Namespace, ctx: CliContext) -> int:
    async with ctx.store() as store:
        what = await describe(store, args.api_key, args.document_id)
        if not args.yes:
            print(
                f"this deletes document {args.document_id!r} ({what}) and everything "
                "stored for it; it cannot be undone. Run again with --yes to delete.",
                file=sys.stderr,
            )
            return EXIT_NOT_CONFIRMED
        if not await store.delete_document(args.api_key, args.document_id):
            raise TandemError(f"unknown document {args.document_id!r} for this API key")
        print(f"deleted document {args.document_id!r} ({what})")
        try:
            print(await store.scrub())
        except TandemError as exc:
            print(f"error: the document is deleted, but {exc.message}", file=sys.stderr)
            return 1
    return 0
