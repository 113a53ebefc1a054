"""``tandem keys add|list|remove|generate``: the public keys that verify an API key's tokens."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from tandem.cli.context import CliContext
from tandem.errors import TandemError

MAX_KEY_FILE_BYTES = 1024 * 1024
# tandem.auth.SUPPORTED_ALGORITHMS (a test keeps them equal); tandem.auth is imported
# lazily so that `tandem --help` does not pay for joserfc/httpx.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
              "EdDSA")  # fmt: skip
JWKS_CHECK_TIMEOUT = 5.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("keys", help="register, list and remove public keys (JWK sets)")
    commands = parser.add_subparsers(dest="keys_command", metavar="ACTION")
    commands.required = True

    add = commands.add_parser(
        "add",
        help="register public key(s) from a file, or a JWKS URL",
        description="FILE: a PEM public key, base64 DER (openssl ... -pubout -outform DER | "
        "base64 -w0), a JWK or a JWK set; '-' reads stdin. Private keys are refused.",
    )
    add.add_argument("--api-key", required=True, metavar="KEY")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", metavar="FILE", help="key file, or - for stdin")
    source.add_argument("--jwks-url", metavar="URL", help="https URL of a JWK set to fetch")
    add.set_defaults(func=add_keys)

    listing = commands.add_parser("list", help="list an API key's public keys")
    listing.add_argument("--api-key", required=True, metavar="KEY")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=list_keys)

    remove = commands.add_parser("remove", help="remove a stored public key (or the JWKS URL)")
    remove.add_argument("--api-key", required=True, metavar="KEY")
    target = remove.add_mutually_exclusive_group(required=True)
    target.add_argument("kid", nargs="?", metavar="KID")
    target.add_argument("--jwks-url", action="store_true", help="forget the API key's JWKS URL")
    remove.set_defaults(func=remove_key)

    generate = commands.add_parser(
        "generate", help="generate a signing key pair (private key stays with you)"
    )
    generate.add_argument("--alg", default="RS256", choices=ALGORITHMS)
    generate.add_argument("--bits", type=int, default=2048, help="RSA key size (default 2048)")
    generate.add_argument("--out", required=True, metavar="PREFIX", help="output file prefix")
    generate.add_argument("--force", action="store_true", help="overwrite existing files")
    generate.set_defaults(func=generate_keys)


def _read_input(name: str) -> str:
    if name == "-":
        text = sys.stdin.read(MAX_KEY_FILE_BYTES + 1)
    else:
        try:
            with open(name, encoding="utf-8", errors="replace") as handle:
                text = handle.read(MAX_KEY_FILE_BYTES + 1)
        except OSError as exc:
            raise TandemError(f"cannot read {name}: {exc.strerror or exc}") from None
    if len(text) > MAX_KEY_FILE_BYTES:
        raise TandemError(f"{name} is larger than {MAX_KEY_FILE_BYTES} bytes: not a key file")
    return text


async def _require_api_key(store: Any, api_key: str) -> Any:
    record = await store.get_api_key(api_key)
    if record is None:
        raise TandemError(f"unknown API key: {api_key}")
    return record


def _row(jwk: dict[str, Any], source: str) -> dict[str, Any]:
    from tandem.auth import key_bits

    return {
        "kid": jwk.get("kid"),
        "kty": jwk.get("kty"),
        "crv": jwk.get("crv"),
        "alg": jwk.get("alg"),
        "bits": key_bits(jwk),
        "source": source,
    }


def _print_rows(rows: list[dict[str, Any]]) -> None:
    print(f"{'KID':<45} {'TYPE':<12} {'ALG':<6} {'BITS':>5}  SOURCE")
    for row in rows:
        kind = row["kty"] + (f"/{row['crv']}" if row["crv"] else "")
        print(f"{row['kid']:<45} {kind:<12} {row['alg'] or 'any':<6} {row['bits']:>5}  "
              f"{row['source']}")  # fmt: skip


async def add_keys(args: argparse.Namespace, ctx: CliContext) -> int:
    from tandem.auth import parse_public_keys

    if args.jwks_url is not None:
        return await _add_jwks_url(args, ctx)
    keys = parse_public_keys(_read_input(args.file))  # KeyImportError: printed, exit 1
    async with ctx.store() as store:
        await _require_api_key(store, args.api_key)
        await store.add_public_keys(args.api_key, keys)
    print(f"added {len(keys)} public key(s) to {args.api_key}:")
    _print_rows([_row(jwk, "stored") for jwk in keys])
    return 0


async def _add_jwks_url(args: argparse.Namespace, ctx: CliContext) -> int:
    from tandem.auth import JwksFetchError, check_jwks_url, fetch_jwks

    async with ctx.store() as store:
        await _require_api_key(store, args.api_key)
        try:
            url = check_jwks_url(args.jwks_url)
            result = await fetch_jwks(url, timeout=JWKS_CHECK_TIMEOUT)
        except JwksFetchError as exc:
            raise TandemError(f"JWKS URL not added: {exc}") from None
        await store.set_jwks_url(args.api_key, url)
    print(f"JWKS URL set for {args.api_key}: {url} ({len(result.keys)} usable key(s) now)")
    for problem in result.problems:
        print(f"warning: {problem}", file=sys.stderr)
    _print_rows([_row(jwk, "jwks_url") for jwk in result.keys])
    return 0


async def list_keys(args: argparse.Namespace, ctx: CliContext) -> int:
    from tandem.auth import JwksFetchError, fetch_jwks

    async with ctx.store() as store:
        record = await _require_api_key(store, args.api_key)
        stored = await store.list_public_keys(args.api_key)
    rows = [_row(jwk, "stored") for jwk in stored]
    url_error = None
    if record.jwks_url:
        try:
            fetched = await fetch_jwks(record.jwks_url)
            rows += [_row(jwk, "jwks_url") for jwk in fetched.keys]
        except JwksFetchError as exc:
            url_error = str(exc)
    if args.json:
        print(json.dumps({"jwks_url": record.jwks_url, "jwks_url_error": url_error,
                          "keys": rows}, indent=2))  # fmt: skip
        return 0
    if record.jwks_url:
        problem = f" (cannot fetch: {url_error})" if url_error else ""
        print(f"jwks_url: {record.jwks_url}{problem}")
    if not rows:
        print(f"no public keys; add one with: tandem keys add --api-key {args.api_key} public.pem")
        return 0
    _print_rows(rows)
    return 0


async def remove_key(args: argparse.Namespace, ctx: CliContext) -> int:
    async with ctx.store() as store:
        await _require_api_key(store, args.api_key)
        if args.jwks_url:
            await store.set_jwks_url(args.api_key, None)
            print(f"JWKS URL removed from {args.api_key}")
            return 0
        if not await store.remove_public_key(args.api_key, args.kid):
            raise TandemError(f"no public key with kid {args.kid!r} for {args.api_key}")
    print(f"removed {args.kid}")
    return 0


def _write(path: Path, data: bytes, mode: int, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise TandemError(f"{path} exists; use --force to overwrite") from None
    except OSError as exc:
        raise TandemError(f"cannot write {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


async def generate_keys(args: argparse.Namespace, ctx: CliContext) -> int:
    from tandem.auth import generate_keypair

    pair = generate_keypair(args.alg, args.bits)
    prefix = args.out
    private_path = Path(f"{prefix}.private.pem")
    public_path = Path(f"{prefix}.public.pem")
    jwk_path = Path(f"{prefix}.public.jwk.json")
    _write(private_path, pair.private_pem, 0o600, args.force)
    _write(public_path, pair.public_pem, 0o644, args.force)
    _write(jwk_path, (json.dumps(pair.public_jwk, indent=2) + "\n").encode(), 0o644, args.force)
    kid = pair.public_jwk["kid"]
    kty = {"RSA": "RSA", "EC": "EC", "OKP": "OKP"}[pair.public_jwk["kty"]]
    print(f"""wrote {private_path} (PRIVATE, mode 0600: keep it on your token server only)
wrote {public_path}
wrote {jwk_path} (kid {kid})

register the public key:
  tandem keys add --api-key YOUR_API_KEY {public_path}

sign a token for development and scripts:
  tandem token sign --key {private_path} --alg {args.alg} --sub user-1

sign identity tokens in your back end (Python, joserfc; more in examples/):
  import time
  from joserfc import jwt
  from joserfc.jwk import import_key
  key = import_key(open("{private_path}").read(), "{kty}")
  token = jwt.encode({{"alg": "{args.alg}", "kid": "{kid}"}},
                     {{"sub": "user-1", "exp": int(time.time()) + 600}},
                     key, algorithms=["{args.alg}"])

check it:
  tandem token check --api-key YOUR_API_KEY TOKEN""")
    return 0
