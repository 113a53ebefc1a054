"""``tandem token sign`` and ``tandem apikey create --quiet|--json``, through tandem.cli.main
on a real SQLite file: every token signed here must pass ``tandem token check``."""

from __future__ import annotations

import base64
import io
import json
import re
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey

from tandem.auth import SUPPORTED_ALGORITHMS
from tandem.auth.signing import (
    SIGNING_CODES,
    SigningError,
    build_claims,
    load_signing_key,
    sign_token,
)
from tandem.cli import main

DOC_CLAIM = "https://claims.tiny.cloud/rtc/document"
ROLE_CLAIM = "https://claims.tiny.cloud/rtc/role"


@pytest.fixture
def cli(tmp_path, capsys):
    data = str(tmp_path / "data")

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        old = sys.stdin
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        try:
            code = main(["--data-dir", data, *args])
        finally:
            sys.stdin = old
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def api_key(cli) -> str:
    code, out, err = cli("apikey", "create", "--name", "dev", "--quiet")
    assert (code, err) == (0, "")
    return out.removesuffix("\n")


def parts(token: str) -> tuple[dict, dict]:
    def decode(segment: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))

    header, payload, _ = token.split(".")
    return decode(header), decode(payload)


def generate(cli, tmp_path: Path, alg: str) -> tuple[Path, dict]:
    prefix = tmp_path / alg
    code, out, _ = cli("keys", "generate", "--alg", alg, "--out", str(prefix))
    assert code == 0
    assert f"tandem token sign --key {prefix}.private.pem --alg {alg} --sub user-1" in out
    return Path(f"{prefix}.private.pem"), json.loads(Path(f"{prefix}.public.jwk.json").read_text())


def test_apikey_create_quiet_prints_only_the_key(cli):
    code, out, err = cli("apikey", "create", "--name", "acme", "-q")
    assert (code, err) == (0, "")
    assert re.fullmatch(r"tk_[A-Za-z0-9_-]{40}\n", out)
    code, listing, _ = cli("apikey", "list", "--json")
    assert [k["key"] for k in json.loads(listing)] == [out.strip()]


def test_apikey_create_json(cli):
    code, out, err = cli(
        "apikey", "create", "--name", "acme", "--origin", "https://App.test:443/", "--json"
    )
    assert (code, err) == (0, "")
    body = json.loads(out)
    assert set(body) == {"key", "name", "origins", "created_at"}
    assert (body["name"], body["origins"]) == ("acme", ["https://app.test"])
    assert body["key"].startswith("tk_")
    with pytest.raises(SystemExit) as caught:
        cli("apikey", "create", "--quiet", "--json")
    assert caught.value.code == 2


@pytest.mark.parametrize("alg", list(SUPPORTED_ALGORITHMS))
def test_every_generated_algorithm_signs_a_token_that_token_check_accepts(
    cli, api_key, tmp_path, alg
):
    private, public_jwk = generate(cli, tmp_path, alg)
    # The generated JWK carries "alg": it only verifies tokens of exactly that algorithm.
    assert cli("keys", "add", f"--api-key={api_key}", f"{tmp_path / alg}.public.jwk.json")[0] == 0
    code, token, err = cli(
        "token",
        "sign",
        "--key",
        str(private),
        "--sub",
        "alice",
        "--document",
        "doc-1",
        "--role",
        "viewer",
        "--ttl",
        "120",
        "--alg",
        alg,
    )
    assert (code, err) == (0, "")
    assert token.count("\n") == 1 and token.endswith("\n")
    header, payload = parts(token.strip())
    assert header == {"alg": alg, "kid": public_jwk["kid"], "typ": "JWT"}
    assert set(payload) == {"sub", "iat", "exp", DOC_CLAIM, ROLE_CLAIM}
    assert (payload["sub"], payload[DOC_CLAIM], payload[ROLE_CLAIM]) == ("alice", "doc-1", "viewer")
    assert payload["exp"] - payload["iat"] == 120
    assert abs(payload["iat"] - time.time()) < 30
    code, out, err = cli(
        "token", "check", f"--api-key={api_key}", "--document", "doc-1", token.strip()
    )
    assert (code, err) == (0, "")
    checked = json.loads(out)
    assert (checked["user_id"], checked["document_id"], checked["role"]) == (
        "alice",
        "doc-1",
        "viewer",
    )
    assert checked["expires_at"] == payload["exp"]
    code, _, err = cli(
        "token", "check", f"--api-key={api_key}", "--document", "doc-2", token.strip()
    )
    assert (code, err) == (1, "error: JWT is not valid for this document\n")


def test_default_algorithm_follows_the_key(cli, api_key, tmp_path):
    """Without --alg: RS256 for RSA, ES256/384/512 by curve, EdDSA for Ed25519; a PEM public
    key (no alg member) accepts any algorithm that fits it."""
    for alg, default in (
        ("PS256", "RS256"),
        ("ES384", "ES384"),
        ("ES512", "ES512"),
        ("EdDSA", "EdDSA"),
    ):
        private, _ = generate(cli, tmp_path, alg)
        assert cli("keys", "add", f"--api-key={api_key}", f"{tmp_path / alg}.public.pem")[0] == 0
        code, token, err = cli("token", "sign", "--key", str(private), "--sub", "bob")
        assert (code, err) == (0, "")
        header, payload = parts(token.strip())
        assert header["alg"] == default
        assert set(payload) == {"sub", "iat", "exp"}  # no document, no role: any doc, editor
        assert payload["exp"] - payload["iat"] == 600
        code, out, err = cli("token", "check", f"--api-key={api_key}", token.strip())
        assert (code, err) == (0, "")
        assert (json.loads(out)["role"], json.loads(out)["document_id"]) == ("editor", None)


def test_key_from_stdin_and_kid_override(cli, api_key, tmp_path):
    private, public_jwk = generate(cli, tmp_path, "ES256")
    cli("keys", "add", f"--api-key={api_key}", f"{tmp_path / 'ES256'}.public.pem")
    code, token, err = cli(
        "token", "sign", "--key", "-", "--sub", "carol", stdin=private.read_text()
    )
    assert (code, err) == (0, "")
    assert parts(token)[0]["kid"] == public_jwk["kid"]
    code, token, _ = cli(
        "token", "sign", "--key", str(private), "--sub", "carol", "--kid", "another-kid"
    )
    assert parts(token)[0]["kid"] == "another-kid"
    code, _, err = cli("token", "check", f"--api-key={api_key}", token.strip())
    assert (code, err) == (1, "error: Unable to retrieve JWK set\n")  # no key with that kid


def test_a_private_jwk_signs_with_its_own_kid_and_alg(cli, api_key, tmp_path):
    key = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    jwk = {**key.as_dict(private=True), "kid": "acme-2026", "alg": "ES256"}
    (tmp_path / "private.jwk.json").write_text(json.dumps(jwk))
    public = {k: v for k, v in jwk.items() if k != "d"}
    (tmp_path / "public.jwk.json").write_text(json.dumps({"keys": [public]}))
    assert cli("keys", "add", f"--api-key={api_key}", str(tmp_path / "public.jwk.json"))[0] == 0
    code, token, err = cli(
        "token", "sign", "--key", str(tmp_path / "private.jwk.json"), "--sub", "dave"
    )
    assert (code, err) == (0, "")
    assert parts(token)[0] == {"alg": "ES256", "kid": "acme-2026", "typ": "JWT"}
    assert cli("token", "check", f"--api-key={api_key}", token.strip())[0] == 0


def test_public_keys_are_refused(cli, tmp_path):
    generate(cli, tmp_path, "RS256")
    for public in (f"{tmp_path / 'RS256'}.public.pem", f"{tmp_path / 'RS256'}.public.jwk.json"):
        code, out, err = cli("token", "sign", "--key", public, "--sub", "alice")
        assert (code, out) == (1, "")
        assert err == (
            "error: this is a PUBLIC key: `tandem token sign` needs the PRIVATE key "
            "(e.g. NAME.private.pem from `tandem keys generate`); the public key is "
            "what `tandem keys add` registers\n"
        )
    with pytest.raises(SigningError) as caught:
        load_signing_key(Path(f"{tmp_path / 'RS256'}.public.pem").read_text())
    assert caught.value.code == "public_key"


def _pem(private, encryption=None) -> str:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("", "unrecognized_key", "no key given (empty input)"),
        ("hello", "unrecognized_key", "not a PEM private key or a private JWK"),
        ('{"keys": []}', "unrecognized_key", "expected one private JWK (a JSON object), not a set"),
        (
            '{"kty": "oct", "k": "c2VjcmV0"}',
            "unsupported_key",
            'symmetric (kty "oct") keys are refused: tokens are signed with an asymmetric '
            "private key",
        ),
    ],
)
def test_unusable_input_is_refused_with_a_code(text, code, message):
    with pytest.raises(SigningError) as caught:
        load_signing_key(text)
    assert (caught.value.code, caught.value.message) == (code, message)
    assert caught.value.code in SIGNING_CODES


def test_unusable_keys_are_refused_with_a_code():
    cases = [
        (
            _pem(rsa.generate_private_key(65537, 1024)),
            "unsupported_key",
            "RSA key of 1024 bits: Tandem accepts 2048 to 16384 bits",
        ),
        (
            _pem(ec.generate_private_key(ec.SECP256K1())),
            "unsupported_key",
            "EC curve secp256k1 is not supported (use P-256, P-384 or P-521)",
        ),
        (
            _pem(
                ec.generate_private_key(ec.SECP256R1()),
                serialization.BestAvailableEncryption(b"pass"),
            ),
            "encrypted_key",
            "the private key is encrypted: write an unencrypted copy for development with "
            "`openssl pkey -in KEY.pem -out plain.pem`",
        ),
    ]
    for text, code, message in cases:
        with pytest.raises(SigningError) as caught:
            load_signing_key(text)
        assert (caught.value.code, caught.value.message) == (code, message)


def test_claims_and_alg_the_server_would_refuse_are_refused_here():
    key = load_signing_key(_pem(ec.generate_private_key(ec.SECP256R1())))
    for kwargs, message in (
        ({"sub": ""}, "sub must be 1 to 1024 characters"),
        ({"sub": "x" * 1025}, "sub must be 1 to 1024 characters"),
        ({"sub": "a", "document": ""}, "document must be a non-empty document id"),
        ({"sub": "a", "role": "admin"}, "role must be one of editor, viewer"),
        ({"sub": "a", "ttl": 0}, "ttl must be a positive number of seconds"),
        ({"sub": "a", "ttl": 10**12}, "ttl puts exp after the year 9999"),
    ):
        with pytest.raises(SigningError) as caught:
            build_claims(**kwargs)
        assert (caught.value.code, caught.value.message) == ("invalid_claim", message)
    with pytest.raises(SigningError) as caught:
        sign_token(key, build_claims("a"), alg="RS256")
    assert caught.value.code == "alg_mismatch"
    assert caught.value.message == "alg RS256 does not fit this EC/P-256 key (it signs ES256)"
    with pytest.raises(SigningError) as caught:
        sign_token(key, build_claims("a"), alg="HS256")
    assert caught.value.code == "alg_mismatch"
    assert build_claims("a", ttl=60, now=1_000) == {"sub": "a", "iat": 1_000, "exp": 1_060}


def test_help_says_production_tokens_come_from_the_back_end(capsys):
    with pytest.raises(SystemExit):
        main(["token", "sign", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "For development and scripts only: in production your back end signs each user's "
        "token" in out
    )
    with pytest.raises(SystemExit):
        main(["token", "--help"])
    assert "production tokens come from your back end" in " ".join(capsys.readouterr().out.split())


def test_cli_algorithm_choices_match_the_verifier():
    from tandem.cli.token import ALGORITHMS

    assert tuple(SUPPORTED_ALGORITHMS) == ALGORITHMS
