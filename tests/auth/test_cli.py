"""``tandem keys ...`` and ``tandem token ...`` through tandem.cli.main, real SQLite in tmp_path."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tandem.cli import main
from tests.auth.signing import make_keypair, sign_token


@pytest.fixture
def cli(tmp_path, capsys):
    data = str(tmp_path / "data")

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            import sys

            old, sys.stdin = sys.stdin, io.StringIO(stdin)
        try:
            code = main(["--data-dir", data, *args])
        finally:
            if stdin is not None:
                sys.stdin = old
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def api_key(cli) -> str:
    code, out, _ = cli("apikey", "create", "--name", "test")
    assert code == 0
    return out.strip().splitlines()[-1]


def pem_of(private) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def fresh_token(alg: str = "ES256", **claims) -> str:
    private, _ = make_keypair(alg)
    body = {"sub": "user-1", "exp": time.time() + 600, **claims}
    return sign_token(private, alg, body, kid=None)


def test_keys_add_pem_and_token_check(cli, api_key, tmp_path):
    private, _ = make_keypair("ES256")
    path = tmp_path / "pub.pem"
    path.write_text(pem_of(private))
    code, out, err = cli("keys", "add", f"--api-key={api_key}", str(path))
    assert (code, err) == (0, "")
    assert "added 1 public key(s)" in out
    code, out, err = cli("token", "check", f"--api-key={api_key}", fresh_token())
    assert code == 0, err
    result = json.loads(out)
    assert result["user_id"] == "user-1"
    assert result["role"] == "editor"


def test_keys_add_der_base64_from_stdin(cli, api_key):
    private, _ = make_keypair("RS256")
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    text = base64.b64encode(der).decode()
    code, out, _ = cli("keys", "add", f"--api-key={api_key}", "-", stdin=text)
    assert code == 0
    code, out, _ = cli("keys", "list", f"--api-key={api_key}", "--json")
    (row,) = json.loads(out)["keys"]
    assert (row["kty"], row["bits"], row["source"]) == ("RSA", 2048, "stored")


def test_keys_add_jwk_and_jwks_list_remove(cli, api_key, tmp_path):
    _, es = make_keypair("ES256")
    _, ed = make_keypair("EdDSA")
    _, rs = make_keypair("RS256")
    (tmp_path / "one.json").write_text(json.dumps(es))
    (tmp_path / "set.json").write_text(json.dumps({"keys": [ed, rs]}))
    assert cli("keys", "add", f"--api-key={api_key}", str(tmp_path / "one.json"))[0] == 0
    code, out, _ = cli("keys", "add", f"--api-key={api_key}", str(tmp_path / "set.json"))
    assert code == 0 and "test-eddsa" in out and "test-rs256" in out
    code, out, _ = cli("keys", "list", f"--api-key={api_key}")
    assert code == 0
    for kid in ("test-es256", "test-eddsa", "test-rs256"):
        assert kid in out
    assert "OKP/Ed25519" in out and "2048" in out
    assert cli("keys", "remove", f"--api-key={api_key}", "test-eddsa")[0] == 0
    code, out, _ = cli("keys", "list", f"--api-key={api_key}")
    assert "test-eddsa" not in out
    code, _, err = cli("keys", "remove", f"--api-key={api_key}", "test-eddsa")
    assert code == 1 and "no public key with kid 'test-eddsa'" in err


def test_private_key_refused_and_not_stored(cli, api_key, tmp_path):
    private, _ = make_keypair("RS256")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    (tmp_path / "priv.pem").write_text(pem)
    code, out, err = cli("keys", "add", f"--api-key={api_key}", str(tmp_path / "priv.pem"))
    assert code == 1
    assert err.startswith("error: this is a PRIVATE key")
    assert pem.splitlines()[1] not in err + out
    code, out, _ = cli("keys", "list", f"--api-key={api_key}", "--json")
    assert json.loads(out)["keys"] == []
    # and nothing of it anywhere in the database files
    for root, _, files in os.walk(tmp_path / "data"):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                assert pem.splitlines()[1].encode() not in handle.read()


def test_unknown_api_key(cli, tmp_path):
    private, _ = make_keypair("ES256")
    (tmp_path / "pub.pem").write_text(pem_of(private))
    for args in (
        ("keys", "add", "--api-key", "nope", str(tmp_path / "pub.pem")),
        ("keys", "list", "--api-key", "nope"),
        ("keys", "remove", "--api-key", "nope", "kid"),
    ):
        code, _, err = cli(*args)
        assert code == 1
        assert err == "error: unknown API key: nope\n"


def test_jwks_url_scheme_refused(cli, api_key):
    code, _, err = cli("keys", "add", f"--api-key={api_key}", "--jwks-url", "http://example.com/j")
    assert code == 1 and "plain http is only allowed for localhost" in err


def test_jwks_url_added(cli, api_key):
    from tests.auth.test_jwks_url import JwksServer

    server = JwksServer()
    server.thread.start()
    try:
        private, jwk = make_keypair("PS256")
        server.serve([jwk])
        url = server.url + "/jwks.json"
        code, out, _ = cli("keys", "add", f"--api-key={api_key}", "--jwks-url", url)
        assert code == 0 and "1 usable key(s)" in out
        code, out, _ = cli("keys", "list", f"--api-key={api_key}")
        assert url in out and "jwks_url" in out and "test-ps256" in out
        token = sign_token(private, "PS256", {"sub": "u", "exp": time.time() + 60})
        assert cli("token", "check", f"--api-key={api_key}", token)[0] == 0
        assert cli("keys", "remove", f"--api-key={api_key}", "--jwks-url")[0] == 0
        code, _, err = cli("token", "check", f"--api-key={api_key}", token)
        assert (code, err) == (1, "error: Unable to retrieve JWK set\n")
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.mark.parametrize(
    "token, message",
    [
        ("abc", "Not enough parts"),
        ("a.b.c.d", "Too many parts"),
        ("a=.b.c", "A part was not correctly base64 encoded"),
        ("bm9wZQ.bm9wZQ.bm9wZQ", "A part was not valid JSON"),
    ],
)
def test_token_check_exact_stderr(cli, api_key, token, message):
    code, out, err = cli("token", "check", f"--api-key={api_key}", token)
    assert (code, out, err) == (1, "", f"error: {message}\n")


def test_token_check_time_and_signature_errors(cli, api_key, tmp_path):
    private, _ = make_keypair("ES256")
    (tmp_path / "pub.pem").write_text(pem_of(private))
    cli("keys", "add", f"--api-key={api_key}", str(tmp_path / "pub.pem"))
    expired = fresh_token(exp=time.time() - 120)
    assert cli("token", "check", f"--api-key={api_key}", expired)[2] == "error: JWT has expired\n"
    other = make_keypair("ES256", fresh=True)[0]
    bad = sign_token(other, "ES256", {"sub": "u", "exp": time.time() + 60}, kid=None)
    code, _, err = cli("token", "check", f"--api-key={api_key}", bad)
    assert (code, err) == (1, "error: JWT signature is invalid\n")
    doc = fresh_token(**{"https://claims.tiny.cloud/rtc/document": "d1"})
    code, _, err = cli("token", "check", f"--api-key={api_key}", "--document", "d2", doc)
    assert (code, err) == (1, "error: JWT is not valid for this document\n")
    code, out, _ = cli("token", "check", f"--api-key={api_key}", "-", stdin=fresh_token() + "\n")
    assert code == 0 and json.loads(out)["user_id"] == "user-1"


def test_token_inspect(cli, api_key, tmp_path):
    private, _ = make_keypair("ES256")
    (tmp_path / "pub.pem").write_text(pem_of(private))
    cli("keys", "add", f"--api-key={api_key}", str(tmp_path / "pub.pem"))
    expired = fresh_token(exp=time.time() - 95)
    code, out, _ = cli("token", "inspect", expired)
    assert code == 1
    assert "[FAIL] exp: JWT has expired" in out and "s in the past (leeway 30 s)" in out
    assert "sync clocks with NTP" in out
    assert "[SKIP] signature: not checked (pass --api-key" in out
    code, out, _ = cli("token", "inspect", f"--api-key={api_key}", fresh_token())
    assert code == 0, out
    assert "[PASS] signature: verified" in out
    code, out, _ = cli("token", "inspect", "-", stdin="not-a-token")
    assert code == 1 and "Not enough parts" in out


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")  # joserfc, signing side only
def test_keys_generate_each_alg_round_trip(cli, api_key, tmp_path):
    from joserfc import jwt
    from joserfc.jwk import import_key

    for alg, kty in (("RS256", "RSA"), ("ES384", "EC"), ("EdDSA", "OKP")):
        prefix = tmp_path / alg
        code, out, _ = cli("keys", "generate", "--alg", alg, "--out", str(prefix))
        assert code == 0 and "tandem keys add --api-key" in out
        private_path = f"{prefix}.private.pem"
        assert stat.S_IMODE(os.stat(private_path).st_mode) == 0o600
        jwk = json.loads(Path(f"{prefix}.public.jwk.json").read_text())
        assert "d" not in jwk and jwk["alg"] == alg
        assert cli("keys", "add", f"--api-key={api_key}", f"{prefix}.public.pem")[0] == 0
        key = import_key(Path(private_path).read_text(), kty)
        token = jwt.encode(
            {"alg": alg, "kid": jwk["kid"]},
            {"sub": "gen", "exp": int(time.time()) + 60},
            key,
            algorithms=[alg],  # exactly what `keys generate` prints
        )
        assert f'algorithms=["{alg}"]' in out
        code, out, err = cli("token", "check", f"--api-key={api_key}", token)
        assert code == 0, err
    code, _, err = cli("keys", "generate", "--alg", "RS256", "--out", str(tmp_path / "RS256"))
    assert code == 1 and "exists" in err
    code, _, err = cli("keys", "generate", "--bits", "1024", "--out", str(tmp_path / "small"))
    assert code == 1 and "2048" in err


def test_cli_algorithm_choices_match_the_verifier():
    from tandem.auth import SUPPORTED_ALGORITHMS
    from tandem.cli.keys import ALGORITHMS

    assert tuple(SUPPORTED_ALGORITHMS) == ALGORITHMS
