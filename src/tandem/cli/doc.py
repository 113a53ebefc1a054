"""``tandem doc cat|append|info|versions|restore``: read and write documents as their
key holder.

The server cannot read documents; these commands decrypt locally with the keys
in ``--keyring`` (a JSON object mapping key hints to keys). ``versions`` lists the
version history without keys (names are then shown as sealed).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import httpx

from tandem.cli import doc_delete
from tandem.cli.context import CliContext
from tandem.client import DocumentClient, keyring_provider
from tandem.client.document_client import websocket_url
from tandem.client.history import fetch_versions
from tandem.errors import TandemError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("doc", help="read and edit documents (needs the keys)")
    commands = parser.add_subparsers(dest="doc_command", metavar="ACTION")
    commands.required = True

    cat = commands.add_parser("cat", help="print a document's content as HTML")
    _common(cat, keyring=True)
    cat.add_argument(
        "--version",
        type=int,
        metavar="N",
        help="the content as of version N (see 'tandem doc versions')",
    )
    cat.add_argument(
        "--rebuild",
        action="store_true",
        help="with --version: rebuild it from the checkpoint before it and the "
        "log instead of trusting its own checkpoint",
    )
    cat.set_defaults(func=cat_document)

    versions = commands.add_parser("versions", help="list a document's version history")
    _common(versions, keyring=False)
    versions.add_argument(
        "--keyring", metavar="FILE", help="decrypt version names with these keys (optional)"
    )
    versions.add_argument("--limit", type=int, metavar="N", help="only the newest N")
    versions.add_argument("--json", action="store_true", help="machine-readable output")
    versions.set_defaults(func=list_versions)

    restore = commands.add_parser(
        "restore", help="restore an older version (a new edit on top of the document)"
    )
    _common(restore, keyring=True)
    restore.add_argument(
        "--version", type=int, metavar="N", required=True, help="the version to bring back"
    )
    restore.add_argument(
        "--rebuild",
        action="store_true",
        help="rebuild version N and the current state from the log "
        "(for a checkpoint suspected to be stale)",
    )
    restore.set_defaults(func=restore_version)

    append = commands.add_parser(
        "append", help="append a paragraph (creating the document if it is new)"
    )
    _common(append, keyring=True)
    append.add_argument("text", help="the paragraph's text")
    append.set_defaults(func=append_paragraph)

    info = commands.add_parser("info", help="what the server knows about a document")
    _common(info, keyring=False)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=document_info)

    doc_delete.register(commands)


def _common(parser: argparse.ArgumentParser, *, keyring: bool) -> None:
    parser.add_argument(
        "--server", required=True, metavar="URL", help="the server's base URL, http(s)://host:port"
    )
    parser.add_argument("--api-key", required=True, metavar="KEY")
    if keyring:
        parser.add_argument(
            "--keyring",
            required=True,
            metavar="FILE",
            help='JSON object {"key hint": "key", ...}; new documents use the first entry',
        )
        parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
    token = parser.add_mutually_exclusive_group(required=True)
    token.add_argument("--token", metavar="JWT")
    token.add_argument("--token-file", metavar="FILE", help="file holding the JWT ('-': stdin)")
    parser.add_argument("document_id", metavar="DOCUMENT_ID")


def _token(args: argparse.Namespace) -> str:
    if args.token:
        token: str = args.token
        return token.strip()
    text = sys.stdin.read() if args.token_file == "-" else _read(args.token_file, "token file")
    return text.strip()


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise TandemError(f"cannot read the {what} {path}: {exc.strerror}") from None


def _keyring(path: str) -> dict[str, str]:
    try:
        keyring = json.loads(_read(path, "keyring"))
    except json.JSONDecodeError as exc:
        raise TandemError(f"the keyring {path} is not valid JSON: {exc}") from None
    if (
        not isinstance(keyring, dict)
        or not keyring
        or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in keyring.items())
    ):
        raise TandemError(
            f'the keyring {path} must be a non-empty JSON object {{"key hint": "key", ...}}'
        )
    return keyring


def _client(args: argparse.Namespace, *, create: bool) -> DocumentClient:
    token = _token(args)
    return DocumentClient(
        args.server,
        api_key=args.api_key,
        document_id=args.document_id,
        token_provider=lambda _req: {"token": token},
        encryption_provider=keyring_provider(_keyring(args.keyring)),
        client_info={"tool": "tandem doc"},
        reconnect=False,
        create=create,
    )


async def cat_document(args: argparse.Namespace, ctx: CliContext) -> int:
    client = _client(args, create=False)
    await client.start()
    try:
        await client.wait_synced(args.timeout)
        if args.version is not None:
            print(await client.state_at(args.version, rebuild=args.rebuild))
        else:
            print(client.to_html())
    finally:
        await client.close()
    return 0


async def list_versions(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.keyring:
        args.timeout = 30.0
        client = _client(args, create=False)
        await client.start()
        try:
            await client.wait_synced(args.timeout)
            versions = await client.versions(limit=args.limit)
        finally:
            await client.close()
    else:
        versions = await fetch_versions(
            args.server,
            api_key=args.api_key,
            document_id=args.document_id,
            token=_token(args),
            limit=args.limit,
        )
        for version in versions:
            version["name_sealed"] = version["name"] is not None
            version["name"] = None
    if args.json:
        print(json.dumps(versions, indent=2))
        return 0
    print(f"{'N':>5}  {'seq':>7}  {'created (UTC)':<19}  {'kind':<8}  {'bytes':>9}  editors / name")
    for v in versions:
        created = datetime.datetime.fromtimestamp(v["created_at"], datetime.UTC)
        name = (
            v["name"]
            if v["name"] is not None
            else ("(name sealed: pass --keyring)" if v.get("name_sealed") else "")
        )
        editors = ", ".join(v["editors"]) or "-"
        print(
            f"{v['number']:>5}  {v['seq']:>7}  {created:%Y-%m-%d %H:%M:%S}  "
            f"{v['kind']:<8}  {v['size']:>9}  {editors}{'  ' + name if name else ''}"
        )
    return 0


async def restore_version(args: argparse.Namespace, ctx: CliContext) -> int:
    client = _client(args, create=False)
    await client.start()
    try:
        await client.wait_synced(args.timeout)
        number = await client.restore(args.version, args.timeout, rebuild=args.rebuild)
        await client.flush(args.timeout)
        print(
            f"restored version {args.version} as version {number} "
            f"(document version {client.version})"
        )
    finally:
        await client.close()
    return 0


async def append_paragraph(args: argparse.Namespace, ctx: CliContext) -> int:
    client = _client(args, create=True)
    await client.start()
    try:
        await client.wait_synced(args.timeout)
        client.append_paragraph(args.text)
        await client.flush(args.timeout)
        print(f"appended at version {client.version}")
    finally:
        await client.close()
    return 0


async def document_info(args: argparse.Namespace, ctx: CliContext) -> int:
    websocket_url(args.server)  # validates the URL
    url = f"{args.server.rstrip('/')}/v1/documents/info"
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(
                url,
                params={"document_id": args.document_id},
                headers={"Authorization": f"Bearer {_token(args)}", "Tandem-Api-Key": args.api_key},
            )
    except httpx.HTTPError as exc:
        raise TandemError(f"cannot reach {args.server}: {exc}") from None
    body = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else {}
    )
    if response.status_code != 200:
        raise TandemError(body.get("message") or f"HTTP {response.status_code}")
    if args.json:
        print(json.dumps(body, indent=2))
        return 0
    for key in (
        "document_id",
        "version",
        "session_count",
        "key_hint",
        "session_id",
        "snapshot_seq",
        "stored_updates",
        "stored_bytes",
    ):
        print(f"{key}: {body.get(key)}")
    return 0
