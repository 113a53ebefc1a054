"""An independent JWS signer for tests: ``cryptography`` directly, JWS built by hand.

Reusable by server tests::

    from tests.auth.signing import make_keypair, sign_token
    private, jwk = make_keypair("ES256")
    token = sign_token(private, "ES256", {"sub": "u1", "exp": time.time() + 60}, kid=jwk["kid"])
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
_CRV = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def _int_b64(value: int, length: int | None = None) -> str:
    length = length or (value.bit_length() + 7) // 8
    return b64(value.to_bytes(length, "big"))


def public_jwk_of(private_key: Any, kid: str | None = None) -> dict[str, Any]:
    """The public JWK, built by hand from the key numbers."""
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        jwk: dict[str, Any] = {"kty": "RSA", "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}
    elif isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        size = (public.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        jwk = {
            "kty": "EC",
            "crv": crv[public.curve.name],
            "x": _int_b64(numbers.x, size),
            "y": _int_b64(numbers.y, size),
        }
    else:
        from cryptography.hazmat.primitives import serialization

        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def new_private_key(alg: str, bits: int = 2048) -> Any:
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if alg in _CURVES:
        return ec.generate_private_key(_CURVES[alg]())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(alg)


@functools.cache
def _cached_private_key(alg: str) -> Any:
    return new_private_key(alg)


def make_keypair(alg: str, *, kid: str | None = None, fresh: bool = False) -> tuple[Any, dict]:
    """(private key, public JWK with kid). Keys are cached per alg unless ``fresh``."""
    private = new_private_key(alg) if fresh else _cached_private_key(alg)
    return private, public_jwk_of(private, kid or f"test-{alg.lower()}")


def raw_signature(private_key: Any, alg: str, message: bytes) -> bytes:
    if alg == "EdDSA":
        return private_key.sign(message)
    digest = _HASHES[alg[2:]]()
    if alg.startswith("RS"):
        return private_key.sign(message, padding.PKCS1v15(), digest)
    if alg.startswith("PS"):
        pss = padding.PSS(mgf=padding.MGF1(_HASHES[alg[2:]]()), salt_length=digest.digest_size)
        return private_key.sign(message, pss, digest)
    der = private_key.sign(message, ec.ECDSA(digest))
    r, s = decode_dss_signature(der)
    size = (private_key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def sign_token(
    private_key: Any,
    alg: str,
    claims: dict[str, Any],
    headers: dict[str, Any] | None = None,
    kid: str | None = "default",
) -> str:
    """A compact JWS. ``kid="default"`` uses ``test-<alg>`` (matching make_keypair);
    ``kid=None`` leaves kid out; ``headers`` entries set to None are removed."""
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid == "default":
        kid = f"test-{alg.lower()}"
    if kid is not None:
        header["kid"] = kid
    for name, value in (headers or {}).items():
        if value is None:
            header.pop(name, None)
        else:
            header[name] = value
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    signature = raw_signature(private_key, alg, signing_input.encode("ascii"))
    return f"{signing_input}.{b64(signature)}"


def resign(private_key: Any, alg: str, header_b64: str, payload_b64: str) -> str:
    """Sign already-encoded parts (for tests that need odd but signed headers/payloads)."""
    signing_input = f"{header_b64}.{payload_b64}"
    return f"{signing_input}.{b64(raw_signature(private_key, alg, signing_input.encode()))}"
