"""``tandem doc cat|append|info``: read and write documents as their key holder.

The server cannot read documents; these commands decrypt locally with the keys
in ``--keyring`` (a JSON object mapping key hints to keys).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from tandem.cli import doc_delete
from tandem.cli.context import CliContext
from tandem.client import DocumentClient, keyring_provider
from tandem.client.document_client import websocket_url
from tandem.errors import TandemError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("doc", help="read and edit documents (needs the keys)")
    commands = parser.add_subparsers(dest="doc_command", metavar="ACTION")
    commands.required = True

    cat = commands.add_parser("cat", help="print a document's content as HTML")
    _common(cat, keyring=True)
    cat.set_defaults(func=cat_document)

    append = commands.add_parser(
        "append", help="append a paragraph (creating the document if it is new)")
    _common(append, keyring=True)
    append.add_argument("text", help="the paragraph's text")
    append.set_defaults(func=append_paragraph)

    info = commands.add_parser("info", help="what the server knows about a document")
    _common(info, keyring=False)
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=document_info)

    doc_delete.register(commands)


def _common(parser: argparse.ArgumentParser, *, keyring: bool) -> None:
    parser.add_argument("--server", required=True, metavar="URL",
                        help="the server's base URL, http(s)://host:port")
    parser.add_argument("--api-key", required=True, metavar="KEY")
    if keyring:
        parser.add_argument("--keyring", required=True, metavar="FILE",
                            help='JSON object {"key hint": "key", ...}; new documents use '
                                 "the first entry")
        parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
    token = parser.add_mutually_exclusive_group(required=True)
    token.add_argument("--token", metavar="JWT")
    token.add_argument("--token-file", metavar="FILE", help="file holding the JWT ('-': stdin)")
    parser.add_argument("document_id", metavar="DOCUMENT_ID")


def _token(args: argparse.Namespace) -> str:
    if args.token:
        return args.token.strip()
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
    if (not isinstance(keyring, dict) or not keyring
            or not all(isinstance(k, str) and isinstance(v, str) and v
                       for k, v in keyring.items())):
        raise TandemError(f'the keyring {path} must be a non-empty JSON object '
                          '{"key hint": "key", ...}')
    return keyring


def _client(args: argparse.Namespace, *, create: bool) -> DocumentClient:
    token = _token(args)
    return DocumentClient(
        args.server, api_key=args.api_key, document_id=args.document_id,
        token_provider=lambda _req: {"token": token},
        encryption_provider=keyring_provider(_keyring(args.keyring)),
        client_info={"tool": "tandem doc"}, reconnect=False, create=create,
    )


async def cat_document(args: argparse.Namespace, ctx: CliContext) -> int:
    client = _client(args, create=False)
    await client.start()
    try:
        await client.wait_synced(args.timeout)
        print(client.to_html())
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
            response = await http.get(url, params={"document_id": args.document_id}, headers={
                "Authorization": f"Bearer {_token(args)}", "Tandem-Api-Key": args.api_key})
    except httpx.HTTPError as exc:
        raise TandemError(f"cannot reach {args.server}: {exc}") from None
    body = response.json() if response.headers.get("content-type", "").startswith(
        "application/json") else {}
    if response.status_code != 200:
        raise TandemError(body.get("message") or f"HTTP {response.status_code}")
    if args.json:
        print(json.dumps(body, indent=2))
        return 0
    for key in ("document_id", "version", "session_count", "key_hint", "session_id",
                "snapshot_seq", "stored_updates", "stored_bytes"):
        print(f"{key}: {body.get(key)}")
    return 0
