"""``tandem token sign|check|inspect``: sign a development token, verify a token like the
server does, or explain it."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from tandem.cli.context import CliContext

if TYPE_CHECKING:
    from tandem.auth.key_directory import KeySource

# tandem.auth is imported in the handlers: `tandem --help` should not pay for it.

MAX_STDIN_TOKEN = 1024 * 1024  # read at most this; the verifier refuses > 16 KiB anyway
MAX_KEY_FILE_BYTES = 1024 * 1024
# tandem.auth.SUPPORTED_ALGORITHMS (a test keeps them equal), without importing tandem.auth.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
              "EdDSA")  # fmt: skip
SIGN_DESCRIPTION = """\
Sign an identity token with a private key and print it (one line).

For development and scripts only: in production your back end signs each user's
token after checking who they are and what they may open (see examples/ for token
endpoints in Node, Python and PHP). Whoever holds the private key can sign a token
for any user and any document.

The token passes `tandem token check` for an API key that the matching public key
was added to (`tandem keys add`). Its kid is the key's RFC 7638 thumbprint, the kid
`keys add` and `keys generate` give a key without one; pass --kid if you registered
the key under another kid."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("token", help="check or inspect a JWT identity token")
    commands = parser.add_subparsers(dest="token_command", metavar="ACTION")
    commands.required = True

    sign = commands.add_parser(
        "sign",
        help=(
            "sign a token with a private key (development and scripts; production tokens "
            "come from your back end)"
        ),
        description=SIGN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sign.add_argument(
        "--key",
        required=True,
        metavar="PRIVATE.pem",
        help="PEM private key (e.g. from `tandem keys generate`) or private JWK; - reads stdin",
    )
    sign.add_argument("--sub", required=True, metavar="USER", help="the user id (sub claim)")
    sign.add_argument(
        "--document",
        metavar="DOC",
        help="restrict the token to this document id (default: any document)",
    )
    sign.add_argument(
        "--role",
        choices=("editor", "viewer"),
        help="the role claim (default: none, which the server takes as editor)",
    )
    sign.add_argument(
        "--ttl", type=int, default=600, metavar="SECONDS", help="lifetime in seconds (default 600)"
    )
    sign.add_argument("--kid", metavar="KID", help="key id header (default: the key's thumbprint)")
    sign.add_argument(
        "--alg",
        choices=ALGORITHMS,
        help=(
            "signature algorithm (default: RS256 for RSA keys, ES256/ES384/ES512 "
            "for P-256/P-384/P-521, EdDSA for Ed25519)"
        ),
    )
    sign.set_defaults(func=sign_command)

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


def read_key_file(name: str) -> str:
    """The text of a key file (``-``: stdin), refusing anything larger than a key."""
    from tandem.auth.signing import SigningError

    if name == "-":
        text = sys.stdin.read(MAX_KEY_FILE_BYTES + 1)
    else:
        try:
            with open(name, encoding="utf-8", errors="replace") as handle:
                text = handle.read(MAX_KEY_FILE_BYTES + 1)
        except OSError as exc:
            raise SigningError(
                f"cannot read {name}: {exc.strerror or exc}", code="unrecognized_key"
            ) from None
    if len(text) > MAX_KEY_FILE_BYTES:
        raise SigningError(
            f"{name} is larger than {MAX_KEY_FILE_BYTES} bytes: not a key file",
            code="unrecognized_key",
        )
    return text


def sign_command(args: argparse.Namespace, ctx: CliContext) -> int:
    from tandem.auth.signing import build_claims, load_signing_key, sign_token

    key = load_signing_key(read_key_file(args.key))
    claims = build_claims(args.sub, document=args.document, role=args.role, ttl=args.ttl)
    print(sign_token(key, claims, alg=args.alg, kid=args.kid))
    return 0


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
async def _key_directory(ctx: CliContext, api_key: str | None) -> AsyncIterator[KeySource | None]:
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
            keys=keys,
            api_key=args.api_key,
            document_id=args.document,
            leeway=ctx.settings.leeway,
        )
    print(format_inspection(report))
    return 0 if report.ok else 1
