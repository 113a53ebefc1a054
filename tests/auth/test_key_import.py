"""parse_public_keys: every accepted format, every refusal."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, rsa, x25519
from joserfc.jwk import JWKRegistry

from tandem.auth import KeyImportError, parse_public_keys
from tandem.auth.key_import import describe_key, key_bits
from tests.auth.signing import ALGORITHMS, b64, make_keypair, public_jwk_of

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def refused(text: str, code: str) -> KeyImportError:
    with pytest.raises(KeyImportError) as info:
        parse_public_keys(text)
    assert info.value.code == code, info.value.message
    return info.value


def thumbprint(jwk: dict) -> str:
    return JWKRegistry.import_key({k: v for k, v in jwk.items() if k != "kid"}).thumbprint()


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pem_public_key(alg):
    private, jwk = make_keypair(alg)
    pem = private.public_key().public_bytes(PEM, SPKI).decode()
    (key,) = parse_public_keys(pem)
    expected = {k: v for k, v in jwk.items() if k != "kid"}
    assert {k: v for k, v in key.items() if k != "kid"} == expected
    assert key["kid"] == thumbprint(jwk)  # RFC 7638 thumbprint when missing


def test_rfc7638_thumbprint_vector():
    # RFC 7638 section 3.1 example key and thumbprint
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6t"
        "Soc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65"
        "YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrd"
        "kt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnq"
        "DKgw",
        "e": "AQAB",
        "alg": "RS256",
    }
    (key,) = parse_public_keys(json.dumps(jwk))
    assert key["kid"] == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_pkcs1_rsa_public_key_pem():
    private, _ = make_keypair("RS256")
    pem = private.public_key().public_bytes(PEM, serialization.PublicFormat.PKCS1).decode()
    assert parse_public_keys(pem)[0]["kty"] == "RSA"


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_base64_der(alg):
    private, _ = make_keypair(alg)
    der = private.public_key().public_bytes(DER, SPKI)
    text = base64.b64encode(der).decode()
    assert parse_public_keys(text)[0]["kty"] == public_jwk_of(private)["kty"]
    wrapped = "\n".join(text[i : i + 64] for i in range(0, len(text), 64)) + "\n"
    assert parse_public_keys(wrapped) == parse_public_keys(text)


def test_single_jwk_keeps_kid_alg_use():
    _, jwk = make_keypair("ES256")
    (key,) = parse_public_keys(json.dumps({**jwk, "alg": "ES256", "use": "sig", "x5c": ["x"]}))
    assert key["kid"] == "test-es256"
    assert key["alg"] == "ES256"
    assert key["use"] == "sig"
    assert "x5c" not in key


def test_jwk_set():
    keys = [make_keypair(alg)[1] for alg in ALGORITHMS]
    parsed = parse_public_keys(json.dumps({"keys": keys}))
    assert [k["kid"] for k in parsed] == [k["kid"] for k in keys]


def test_certificate_pem():
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )  # fmt: skip
    (key,) = parse_public_keys(cert.public_bytes(PEM).decode())
    assert key["crv"] == "P-256"


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_private_pem_refused(alg):
    private, _ = make_keypair(alg)
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.OpenSSH):
        text = private.private_bytes(PEM, fmt, serialization.NoEncryption()).decode()
        error = refused(text, "private_key")
        assert "PRIVATE key" in error.message
        assert text.splitlines()[1][:20] not in error.message  # never echoed


def test_traditional_private_pem_and_der_refused():
    private, _ = make_keypair("RS256")
    trad = private.private_bytes(
        PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    refused(trad.decode(), "private_key")
    der = private.private_bytes(
        DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    refused(base64.b64encode(der).decode(), "private_key")
    encrypted = private.private_bytes(
        DER, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    refused(base64.b64encode(encrypted).decode(), "private_key")


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi"])
def test_private_jwk_refused(member):
    _, jwk = make_keypair("RS256")
    error = refused(json.dumps({**jwk, member: "AQAB"}), "private_key")
    assert "AQAB" not in error.message


def test_private_jwk_in_set_refused():
    _, good = make_keypair("ES256")
    error = refused(json.dumps({"keys": [good, {**good, "kid": "2", "d": "AAAA"}]}), "private_key")
    assert error.message.startswith("key #2")


def test_rsa_1024_refused():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    refused(small.public_key().public_bytes(PEM, SPKI).decode(), "weak_key")
    refused(json.dumps(public_jwk_of(small)), "weak_key")


def test_use_enc_refused():
    _, jwk = make_keypair("RS256")
    refused(json.dumps({**jwk, "use": "enc"}), "wrong_use")
    refused(json.dumps({**jwk, "key_ops": ["encrypt"]}), "wrong_use")


def test_invalid_ec_point_refused():
    _, jwk = make_keypair("ES256")
    y = base64.urlsafe_b64decode(jwk["y"] + "==")
    bad_y = (int.from_bytes(y, "big") ^ 1).to_bytes(32, "big")
    refused(json.dumps({**jwk, "y": b64(bad_y)}), "invalid_key")
    refused(json.dumps({**jwk, "x": b64(bytes(32)), "y": b64(bytes(32))}), "invalid_key")


def test_oct_refused():
    refused(json.dumps({"kty": "oct", "k": b64(b"secret" * 8)}), "symmetric_key")


@pytest.mark.parametrize("kty", ["DSA", "", None, 1, "rsa"])
def test_unknown_kty_refused(kty):
    refused(json.dumps({"kty": kty, "n": "AQAB", "e": "AQAB"}), "unsupported_key")


def test_unsupported_curves_and_types():
    refused(json.dumps({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}), "unsupported_key")
    refused(json.dumps({"kty": "OKP", "crv": "X25519", "x": b64(bytes(32))}), "unsupported_key")
    for private in (
        ed448.Ed448PrivateKey.generate(),
        x25519.X25519PrivateKey.generate(),
        dsa.generate_private_key(2048),
        ec.generate_private_key(ec.SECP256K1()),
    ):
        refused(private.public_key().public_bytes(PEM, SPKI).decode(), "unsupported_key")


def test_alg_mismatch():
    _, jwk = make_keypair("RS256")
    refused(json.dumps({**jwk, "alg": "ES256"}), "alg_mismatch")
    refused(json.dumps({**jwk, "alg": "HS256"}), "alg_mismatch")


def test_garbage_and_empty():
    refused("", "no_keys")
    refused("hello world!", "unrecognized_format")
    refused(base64.b64encode(b"not der").decode(), "unrecognized_format")
    refused("{not json", "unrecognized_format")
    refused('{"keys": {}}', "unrecognized_format")
    refused('{"keys": []}', "no_keys")
    refused("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "invalid_key")
    refused("[1, 2]", "unrecognized_format")


def test_duplicate_kid():
    _, a = make_keypair("ES256")
    _, b = make_keypair("EdDSA")
    refused(json.dumps({"keys": [a, {**b, "kid": a["kid"]}]}), "duplicate_kid")


def test_bits_and_description():
    _, jwk = make_keypair("RS256")
    assert key_bits(jwk) == 2048
    assert key_bits(make_keypair("ES512")[1]) == 521
    assert describe_key(make_keypair("EdDSA")[1]) == "OKP/Ed25519 256 bits"
