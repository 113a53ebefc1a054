"""Generating a signing key pair for any accepted algorithm (``tandem keys generate``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tandem.auth.algorithms import SUPPORTED_ALGORITHMS
from tandem.auth.errors import KeyImportError
from tandem.auth.key_import import MAX_RSA_BITS, MIN_RSA_BITS, parse_public_keys

_CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}


@dataclass(frozen=True, slots=True)
class GeneratedKeyPair:
    alg: str
    private_key: Any  # a cryptography private key object
    private_pem: bytes  # PKCS#8, unencrypted
    public_pem: bytes  # SubjectPublicKeyInfo
    public_jwk: dict[str, Any]  # with kid (thumbprint), alg and use=sig


def generate_keypair(alg: str = "RS256", bits: int = 2048) -> GeneratedKeyPair:
    spec = SUPPORTED_ALGORITHMS.get(alg)
    if spec is None:
        raise KeyImportError(
            f"unsupported algorithm {alg!r}; choose one of {', '.join(SUPPORTED_ALGORITHMS)}",
            code="alg_mismatch",
        )
    if spec.kty == "RSA":
        if not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
            raise KeyImportError(
                f"RSA keys must have {MIN_RSA_BITS} to {MAX_RSA_BITS} bits", code="weak_key"
            )
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    elif spec.kty == "EC":
        assert spec.crv is not None
        private = ec.generate_private_key(_CURVES[spec.crv])
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (jwk,) = parse_public_keys(public_pem.decode("ascii"))
    jwk = {**jwk, "alg": alg, "use": "sig"}
    return GeneratedKeyPair(alg, private, private_pem, public_pem, jwk)
