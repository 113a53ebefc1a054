"""``tandem apikey create|list|delete``: tenants and their allowed browser origins."""

from __future__ import annotations

import argparse
import json
import sys
import time
from urllib.parse import urlsplit

from tandem.cli.context import CliContext
from tandem.errors import TandemError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("apikey", help="create, list and delete API keys (tenants)")
    commands = parser.add_subparsers(dest="apikey_command", metavar="ACTION")
    commands.required = True

    create = commands.add_parser("create", help="create an API key; prints it as the last line")
    create.add_argument("--name", default="", help="a label for humans")
    create.add_argument(
        "--origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allowed browser origin, e.g. https://app.example.com (repeat; none: any origin)",
    )
    output = create.add_mutually_exclusive_group()
    output.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="print only the key, e.g. KEY=$(tandem apikey create --quiet)",
    )
    output.add_argument("--json", action="store_true", help="machine-readable output")
    create.set_defaults(func=create_key)

    listing = commands.add_parser("list", help="list API keys")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=list_keys)

    delete = commands.add_parser(
        "delete",
        help="delete an API key with its public keys and all its documents "
        "(erased like 'tandem doc delete')",
    )
    delete.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="confirm deleting the key's documents (needed when it has any)",
    )
    delete.add_argument("key")
    delete.set_defaults(func=delete_key)


def normalize_origin(origin: str) -> str:
    """``https://Example.com:443/`` → ``https://example.com``: how browsers send Origin."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TandemError(f"invalid origin {origin!r}: expected scheme://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise TandemError(f"invalid origin {origin!r}: an origin has no path")
    default_port = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    port = "" if parts.port in (None, default_port) else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"


async def create_key(args: argparse.Namespace, ctx: CliContext) -> int:
    origins = tuple(normalize_origin(o) for o in args.origin)
    async with ctx.store() as store:
        record = await store.create_api_key(args.name, origins)
    if args.quiet:
        print(record.key)
        return 0
    if args.json:
        print(
            json.dumps(
                {
                    "key": record.key,
                    "name": record.name,
                    "origins": list(record.origins),
                    "created_at": record.created_at,
                },
                indent=2,
            )
        )
        return 0
    print(f"name: {record.name or '-'}")
    print(f"origins: {', '.join(record.origins) or 'any'}")
    print(record.key)
    return 0


async def list_keys(args: argparse.Namespace, ctx: CliContext) -> int:
    async with ctx.store() as store:
        records = await store.list_api_keys()
        counts = {r.key: len(await store.list_public_keys(r.key)) for r in records}
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "key": r.key,
                        "name": r.name,
                        "origins": list(r.origins),
                        "jwks_url": r.jwks_url,
                        "public_keys": counts[r.key],
                        "created_at": r.created_at,
                    }
                    for r in records
                ],
                indent=2,
            )
        )
        return 0
    if not records:
        print("no API keys; create one with: tandem apikey create --name NAME")
        return 0
    for r in records:
        created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.created_at))
        print(
            f"{r.key}  name={r.name or '-'}  origins={','.join(r.origins) or 'any'}"
            f"  keys={counts[r.key]}{'  jwks_url=' + r.jwks_url if r.jwks_url else ''}"
            f"  created={created}Z"
        )
    return 0


async def delete_key(args: argparse.Namespace, ctx: CliContext) -> int:
    async with ctx.store() as store:
        if await store.get_api_key(args.key) is None:
            raise TandemError("unknown API key")
        documents = await store.list_documents(args.key)
        if documents and not args.yes:
            print(
                f"API key {args.key} has {len(documents)} document(s); deleting it "
                "deletes them and everything stored for them, which cannot be undone. "
                "Run again with --yes to delete.",
                file=sys.stderr,
            )
            return 2
        # One by one, as 'tandem doc delete' does: every node closes their connections
        # with document_deleted; then the key (and anything created meanwhile) goes.
        for document_id in documents:
            await store.delete_document(args.key, document_id)
        if not await store.delete_api_key(args.key):
            raise TandemError("unknown API key")
        print(f"deleted {args.key} and its {len(documents)} document(s)")
        try:
            print(await store.scrub())
        except TandemError as exc:
            print(f"error: the API key is deleted, but {exc.message}", file=sys.stderr)
            return 1
    return 0
