"""``tandem token check|inspect``: verify an identity token like the server does, or explain it."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import AsyncIterator

from tandem.cli.context import CliContext

# tandem.auth is imported in the handlers: `tandem --help` should not pay for it.

MAX_STDIN_TOKEN = 1024 * 1024  # read at most this; the verifier refuses > 16 KiB anyway


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("token", help="check or inspect a JWT identity token")
    commands = parser.add_subparsers(dest="token_command", metavar="ACTION")
    commands.required = True

    check = commands.add_parser(
        "check",
        help="verify a token as the server would; prints its claims or 'error: MESSAGE'",
    )
    check.add_argument("--api-key", required=True, metavar="KEY")
    check.add_argument("--document", metavar="ID", help="the document id the token must allow")
    check.add_argument("token", metavar="TOKEN", help="the JWT, or - to read it from stdin")
    check.set_defaults(func=check_token)

    inspect = commands.add_parser(
        "inspect", help="decode a token (without trusting it) and explain every check"
    )
    inspect.add_argument("--api-key", metavar="KEY", help="also check the signature")
    inspect.add_argument("--document", metavar="ID", help="also check the document claim")
    inspect.add_argument("token", metavar="TOKEN", help="the JWT, or - to read it from stdin")
    inspect.set_defaults(func=inspect_command)


def read_token(value: str) -> str:
    """``-`` reads stdin; surrounding whitespace (a trailing newline) is removed."""
    if value == "-":
        return sys.stdin.read(MAX_STDIN_TOKEN).strip()
    return value.strip()


async def check_token(args: argparse.Namespace, ctx: CliContext) -> int:
    from tandem.auth import KeyDirectory, TokenVerifier

    token = read_token(args.token)
    async with ctx.store() as store:
        verifier = TokenVerifier(KeyDirectory(store), leeway=ctx.settings.leeway)
        identity = await verifier.verify(args.api_key, token, document_id=args.document)
    print(json.dumps({
        "user_id": identity.user_id,
        "document_id": identity.document_id,
        "role": identity.role,
        "expires_at": identity.expires_at,
        "claims": identity.claims,
    }, indent=2, sort_keys=True))  # fmt: skip
    return 0


@contextlib.asynccontextmanager
async def _key_directory(ctx: CliContext, api_key: str | None) -> AsyncIterator[object]:
    from tandem.auth import KeyDirectory

    if api_key is None:
        yield None
        return
    async with ctx.store() as store:
        yield KeyDirectory(store)


async def inspect_command(args: argparse.Namespace, ctx: CliContext) -> int:
    from tandem.auth.inspect import format_inspection, inspect_token

    token = read_token(args.token)
    async with _key_directory(ctx, args.api_key) as keys:
        report = await inspect_token(
            token,
            keys=keys,  # type: ignore[arg-type]
            api_key=args.api_key,
            document_id=args.document,
            leeway=ctx.settings.leeway,
        )
    print(format_inspection(report))
    return 0 if report.ok else 1
