"""Every accepted algorithm verifies; the classic JWT attacks are refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tandem.auth import AuthError, StaticKeySource, TokenVerifier
from tests.auth.signing import (
    ALGORITHMS,
    b64,
    b64json,
    make_keypair,
    new_private_key,
    public_jwk_of,
    raw_signature,
    sign_token,
)
from tests.auth.tokens import API_KEY, claims


async def code_of(verifier, token: str, api_key: str = API_KEY) -> str:
    with pytest.raises(AuthError) as info:
        await verifier.verify(api_key, token)
    return info.value.code


@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_each_algorithm_verifies(verifier, alg):
    private, _ = make_keypair(alg)
    identity = await verifier.verify(API_KEY, sign_token(private, alg, claims(sub=f"u-{alg}")))
    assert identity.user_id == f"u-{alg}"


@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_each_algorithm_without_kid_tries_fitting_keys(verifier, alg):
    private, _ = make_keypair(alg)
    identity = await verifier.verify(API_KEY, sign_token(private, alg, claims(), kid=None))
    assert identity.user_id == "user-1"


@pytest.mark.parametrize("alg", ["RS256", "PS384", "ES384", "EdDSA"])
async def test_real_clock_and_joserfc_free_signer(alg):
    private, jwk = make_keypair(alg, fresh=True, kid="k1")
    verifier = TokenVerifier(StaticKeySource({"ak": [jwk]}))
    token = sign_token(private, alg, {"sub": "x", "exp": time.time() + 60}, kid="k1")
    assert (await verifier.verify("ak", token)).user_id == "x"


@pytest.mark.parametrize(
    "signed_with, claimed",
    [("RS256", "ES256"), ("ES256", "RS256"), ("RS256", "EdDSA"), ("EdDSA", "ES256"),
     ("ES256", "ES384"), ("RS256", "PS256"), ("PS256", "RS256")],
)  # fmt: skip
async def test_algorithm_and_key_type_confusion(verifier, signed_with, claimed):
    """A signature made for one alg never verifies under another (or another key type)."""
    private, _ = make_keypair(signed_with)
    header = b64json({"alg": claimed, "kid": f"test-{signed_with.lower()}"})
    signing_input = f"{header}.{b64json(claims())}"
    sig = raw_signature(private, signed_with, signing_input.encode())
    token = f"{signing_input}.{b64(sig)}"
    assert await code_of(verifier, token) in {"jwks_unavailable", "bad_signature"}


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none(verifier, alg):
    for sig in ("", b64(b"x")):
        token = f"{b64json({'alg': alg, 'typ': 'JWT'})}.{b64json(claims())}.{sig}"
        assert await code_of(verifier, token) == "unsupported_alg"


@pytest.mark.parametrize("encoding", ["pem", "der"])
@pytest.mark.parametrize("hs", ["HS256", "HS384", "HS512"])
async def test_hmac_with_public_key_as_secret(verifier, encoding, hs):
    private, _ = make_keypair("RS256")
    public = private.public_key()
    secret = public.public_bytes(
        serialization.Encoding.PEM if encoding == "pem" else serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    for kid in ("test-rs256", None):
        header = {"alg": hs, **({"kid": kid} if kid else {})}
        signing_input = f"{b64json(header)}.{b64json(claims())}"
        digest = getattr(hashlib, f"sha{hs[2:]}")
        sig = hmac.new(secret, signing_input.encode(), digest).digest()
        assert await code_of(verifier, f"{signing_input}.{b64(sig)}") == "unsupported_alg"


async def test_embedded_jwk_header_is_not_trusted(verifier):
    attacker = new_private_key("ES256")
    attacker_jwk = public_jwk_of(attacker)
    with_kid = sign_token(attacker, "ES256", claims(), headers={"jwk": attacker_jwk}, kid="evil")
    assert await code_of(verifier, with_kid) == "jwks_unavailable"
    without_kid = sign_token(attacker, "ES256", claims(), headers={"jwk": attacker_jwk}, kid=None)
    assert await code_of(verifier, without_kid) == "bad_signature"
    # even when the attacker reuses a registered kid
    reused = sign_token(attacker, "ES256", claims(), headers={"jwk": attacker_jwk})
    assert await code_of(verifier, reused) == "bad_signature"


async def test_jku_and_x5u_are_never_fetched(verifier, source):
    import socket
    import threading

    hits: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]

    def accept() -> None:
        try:
            conn, _ = server.accept()
            hits.append(conn.recv(100))
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    attacker = new_private_key("ES256")
    url = f"http://127.0.0.1:{port}/jwks.json"
    for header in ({"jku": url}, {"x5u": url}, {"jku": url, "x5c": ["MIIB"]}):
        token = sign_token(attacker, "ES256", claims(), headers=header, kid="evil")
        assert await code_of(verifier, token) == "jwks_unavailable"
    thread.join()
    server.close()
    assert hits == []
    assert {api_key for api_key, _ in source.calls} == {API_KEY}


@pytest.mark.parametrize(
    "kid", ["../../etc/passwd", "' OR 1=1 --", "test-es256' OR '1'='1", "%00", "*", "test-es2",
            "TEST-ES256", "test-es256 ", "/dev/zero"],
)  # fmt: skip
async def test_kid_is_an_opaque_exact_string(verifier, kid):
    private, _ = make_keypair("ES256")
    assert await code_of(verifier, sign_token(private, "ES256", claims(), kid=kid)) == (
        "jwks_unavailable"
    )


async def test_kid_lookup_through_sqlite_store_is_not_sql(tmp_path):
    """kid is a plain lookup string in the real store too."""
    from tandem.auth import KeyDirectory
    from tandem.storage.sqlite import SQLiteStore

    private, jwk = make_keypair("ES256")
    async with SQLiteStore(tmp_path / "t.sqlite3") as store:
        record = await store.create_api_key("t")
        await store.add_public_keys(record.key, [jwk])
        verifier = TokenVerifier(KeyDirectory(store))
        for kid in ("' OR 1=1 --", "../../etc/passwd"):
            token = sign_token(private, "ES256", {"sub": "u", "exp": time.time() + 60}, kid=kid)
            assert await code_of(verifier, token, record.key) == "jwks_unavailable"
        ok = sign_token(private, "ES256", {"sub": "u", "exp": time.time() + 60})
        assert (await verifier.verify(record.key, ok)).user_id == "u"
        assert len(await store.list_public_keys(record.key)) == 1


def _es_token_with_signature(sig: bytes) -> str:
    signing_input = f"{b64json({'alg': 'ES256', 'kid': 'test-es256'})}.{b64json(claims())}"
    return f"{signing_input}.{b64(sig)}"


async def test_ecdsa_zero_signature(verifier):
    assert await code_of(verifier, _es_token_with_signature(bytes(64))) == "bad_signature"
    r_only = (1).to_bytes(32, "big") + bytes(32)
    assert await code_of(verifier, _es_token_with_signature(r_only)) == "bad_signature"


async def test_ecdsa_der_signature_refused(verifier):
    private, _ = make_keypair("ES256")
    signing_input = f"{b64json({'alg': 'ES256', 'kid': 'test-es256'})}.{b64json(claims())}"
    der = private.sign(signing_input.encode(), ec.ECDSA(_sha256()))
    token = f"{signing_input}.{b64(der)}"
    assert await code_of(verifier, token) == "bad_signature"
    # the same signature as raw r||s is accepted, proving the key and input were right
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert (await verifier.verify(API_KEY, f"{signing_input}.{b64(raw)}")).user_id == "user-1"
    # a raw signature with s replaced by n - s (malleable) is also valid ECDSA; r >= n is not
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    too_big = (r + n).to_bytes(33, "big")[-32:] if r + n < 2**256 else None
    if too_big is not None:
        sig = too_big + s.to_bytes(32, "big")
        assert await code_of(verifier, f"{signing_input}.{b64(sig)}") == "bad_signature"
    assert encode_dss_signature(r, s) == der


def _sha256():
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


@pytest.mark.parametrize("length", [0, 63, 65, 128])
async def test_ecdsa_wrong_length(verifier, length):
    assert await code_of(verifier, _es_token_with_signature(b"\x01" * length)) == "bad_signature"


async def test_eddsa_wrong_length(verifier):
    private, _ = make_keypair("EdDSA")
    token = sign_token(private, "EdDSA", claims())
    head, payload, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "==")
    assert await code_of(verifier, f"{head}.{payload}.{b64(raw + b'x')}") == "bad_signature"


async def test_key_with_alg_pinned_is_not_used_for_other_alg(clock):
    private, jwk = make_keypair("RS256")
    pinned = {**jwk, "alg": "RS256"}
    verifier = TokenVerifier(StaticKeySource({API_KEY: [pinned]}), clock=clock)
    assert (await verifier.verify(API_KEY, sign_token(private, "RS256", claims()))).role
    ps = sign_token(private, "PS256", claims(), kid="test-rs256")
    assert await code_of(verifier, ps) == "jwks_unavailable"


async def test_enc_key_in_source_is_never_used(clock):
    private, jwk = make_keypair("ES256")
    verifier = TokenVerifier(StaticKeySource({API_KEY: [{**jwk, "use": "enc"}]}), clock=clock)
    assert await code_of(verifier, sign_token(private, "ES256", claims())) == "jwks_unavailable"


async def test_oct_key_in_source_is_never_used(clock):
    secret = b"s" * 32
    oct_jwk = {"kty": "oct", "k": b64(secret), "kid": "test-hs256"}
    verifier = TokenVerifier(StaticKeySource({API_KEY: [oct_jwk]}), clock=clock)
    signing_input = f"{b64json({'alg': 'HS256', 'kid': 'test-hs256'})}.{b64json(claims())}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert await code_of(verifier, f"{signing_input}.{b64(sig)}") == "unsupported_alg"


@pytest.mark.parametrize("size", [64 * 1024, 4 * 1024 * 1024])
async def test_huge_tokens_refused_before_decoding(verifier, size):
    import tracemalloc

    private, _ = make_keypair("ES256")
    signed = sign_token(private, "ES256", claims(pad="x" * size))
    garbage = "!" * size  # would be "Not enough parts" if it were split first
    tokens = (signed, garbage, signed.encode())
    tracemalloc.start()
    try:
        for token in tokens:
            assert await code_of(verifier, token) == "token_too_large"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024  # nothing proportional to the token was allocated
