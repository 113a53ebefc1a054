"""Turning what an integrator pastes into validated public JWKs.

Accepted input (``parse_public_keys``): a PEM public key (``PUBLIC KEY``, ``RSA
PUBLIC KEY``) or certificate, base64 DER of a public key (``openssl rsa -pubout
-outform DER | base64 -w0``), one JWK, or a JWK set ``{"keys": [...]}``.

Every key must be usable for one of the accepted algorithms: RSA of 2048 to
16384 bits (public exponent odd, at most 32 bits), EC on P-256/P-384/P-521 with
a point on the curve, or OKP Ed25519. Private keys, symmetric ``oct`` keys,
``use: enc`` keys and unknown key types are refused with a ``KeyImportError``.
Private key material is never returned, stored or echoed back.

Output JWKs are canonical: only the public members (``kty`` + ``n``/``e`` or
``crv``/``x``/``y``), ``kid`` (the RFC 7638 thumbprint when missing), and ``alg``
/ ``use`` only when the input had them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey, RSAKey

from tandem.auth.algorithms import SUPPORTED_ALGORITHMS, key_fits
from tandem.auth.errors import KeyImportError

MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16384
MAX_KID_LENGTH = 256
EC_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_PUBLIC_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x")}
# What importing an untrusted JWK can raise: joserfc's own errors (bad members, unknown
# curve), ValueError (bad base64, a point not on the curve), KeyError/TypeError (missing
# or mistyped members reaching cryptography), UnsupportedAlgorithm (this OpenSSL lacks it).
JWK_IMPORT_ERRORS: tuple[type[Exception], ...] = (
    JoseError,
    ValueError,
    TypeError,
    KeyError,
    UnsupportedAlgorithm,
)
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)
_PRIVATE_HINT = (
    "this is a PRIVATE key: register only its public half, e.g. "
    "`openssl pkey -in private.pem -pubout -out public.pem`; nothing was stored"
)


def _fail(code: str, message: str) -> KeyImportError:
    return KeyImportError(message, code=code)


# -- cryptography key objects ------------------------------------------------------
def _jwk_from_public_key(key: Any) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPublicKey):
        _check_rsa_bits(key.key_size)
        return _check_rsa(RSAKey.import_key(key))
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            raise _fail(
                "unsupported_key",
                f"EC curve {key.curve.name} is not supported (use P-256, P-384 or P-521)",
            )
        return ECKey.import_key(key).as_dict(private=False)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return OKPKey.import_key(key).as_dict(private=False)
    raise _fail(
        "unsupported_key",
        f"{type(key).__name__.lstrip('_')} keys are not supported (use RSA >= 2048 bits, "
        "EC P-256/P-384/P-521 or Ed25519)",
    )


def _check_rsa_bits(bits: int) -> None:
    if bits < MIN_RSA_BITS:
        raise _fail("weak_key", f"RSA key of {bits} bits is too short: at least 2048 bits required")


def _check_rsa(key: RSAKey) -> dict[str, Any]:
    public = key.public_key
    bits = public.key_size
    if bits < MIN_RSA_BITS:
        raise _fail("weak_key", f"RSA key of {bits} bits is too short: at least 2048 bits required")
    if bits > MAX_RSA_BITS:
        raise _fail("unsupported_key", f"RSA key of {bits} bits is too long (max {MAX_RSA_BITS})")
    if public.public_numbers().e.bit_length() > 32:
        raise _fail("invalid_key", "RSA public exponent is too large (use 65537)")
    return key.as_dict(private=False)


def _from_pem(text: str) -> list[dict[str, Any]]:
    blocks = _PEM_BLOCK.findall(text)
    if not blocks:
        raise _fail("unrecognized_format", "malformed PEM: no matching BEGIN/END lines")
    if any("PRIVATE" in label for label, _ in blocks):
        raise _fail("private_key", _PRIVATE_HINT)
    keys = []
    for label, _body in blocks:
        block = next(m.group(0) for m in _PEM_BLOCK.finditer(text) if m.group(1) == label)
        data = block.encode("ascii", "replace")
        public: PublicKeyTypes
        try:
            if label == "CERTIFICATE":
                public = x509.load_pem_x509_certificate(data).public_key()
            elif label in ("PUBLIC KEY", "RSA PUBLIC KEY"):
                public = serialization.load_pem_public_key(data)
            else:
                raise _fail("unrecognized_format", f"unsupported PEM block {label!r}")
        except ValueError as exc:
            raise _fail("invalid_key", f"invalid PEM {label}: {exc}") from None
        keys.append(_jwk_from_public_key(public))
    return keys


def _from_der_base64(text: str) -> list[dict[str, Any]]:
    compact = "".join(text.split())
    try:
        der = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        try:
            der = base64.urlsafe_b64decode(compact + "=" * (-len(compact) % 4))
        except (binascii.Error, ValueError):
            raise _fail(
                "unrecognized_format",
                "not a PEM key, base64 DER key, JWK or JWK set",
            ) from None
    try:
        public = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        public = None
    if public is None:
        try:
            serialization.load_der_private_key(der, password=None)
            is_private = True
        except TypeError:  # encrypted private key
            is_private = True
        except (ValueError, Exception):
            is_private = False
        if is_private:
            raise _fail("private_key", _PRIVATE_HINT)
        try:
            public = x509.load_der_x509_certificate(der).public_key()
        except (ValueError, TypeError):
            raise _fail(
                "unrecognized_format",
                "base64 text that is not a DER public key (expected e.g. "
                "`openssl rsa -in key.pem -pubout -outform DER | base64 -w0`)",
            ) from None
    return [_jwk_from_public_key(public)]


# -- JWK dicts ----------------------------------------------------------------------
def validate_public_jwk(jwk: Any) -> dict[str, Any]:
    """Check one JWK and return its canonical public form (with a kid)."""
    if not isinstance(jwk, dict):
        raise _fail("unrecognized_format", "a JWK must be a JSON object")
    kty = jwk.get("kty")
    if kty == "oct":
        raise _fail(
            "symmetric_key",
            'symmetric (kty "oct") keys are refused: RTC needs an asymmetric public key',
        )
    if kty not in _PUBLIC_MEMBERS:
        raise _fail("unsupported_key", f"unknown or unsupported kty {kty!r} (use RSA, EC or OKP)")
    if any(member in jwk for member in _PRIVATE_MEMBERS):
        raise _fail("private_key", _PRIVATE_HINT)
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise _fail("wrong_use", f'key has "use": {use!r}; only signature keys (sig) are accepted')
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise _fail("wrong_use", 'key_ops does not include "verify"')
    kid = jwk.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH):
        raise _fail("invalid_key", f"kid must be a non-empty string of at most {MAX_KID_LENGTH}")
    members: dict[str, str] = {}
    for name in _PUBLIC_MEMBERS[kty]:
        value = jwk.get(name)
        if not isinstance(value, str) or not value:
            raise _fail("invalid_key", f"{kty} JWK member {name!r} must be a non-empty string")
        members[name] = value
    if kty == "EC" and members["crv"] not in ("P-256", "P-384", "P-521"):
        raise _fail("unsupported_key", f"EC curve {members['crv']!r} is not supported")
    if kty == "OKP" and members["crv"] != "Ed25519":
        raise _fail("unsupported_key", f"OKP curve {members['crv']!r} is not supported (Ed25519)")
    if kty == "RSA":
        try:
            _check_rsa_bits(key_bits(members))
        except (ValueError, TypeError):
            raise _fail("invalid_key", "RSA member 'n' is not base64url") from None
    try:
        key = JWKRegistry.import_key({"kty": kty, **members})
    except JWK_IMPORT_ERRORS as exc:
        raise _fail("invalid_key", f"invalid {kty} key: {exc}") from None
    canonical = _check_rsa(key) if isinstance(key, RSAKey) else key.as_dict(private=False)
    alg = jwk.get("alg")
    if alg is not None:
        spec = SUPPORTED_ALGORITHMS.get(alg) if isinstance(alg, str) else None
        if spec is None or not key_fits(canonical, spec):
            raise _fail("alg_mismatch", f"alg {alg!r} is not supported for this {kty} key")
        canonical["alg"] = alg
    if use is not None:
        canonical["use"] = use
    canonical["kid"] = kid if kid is not None else key.thumbprint()
    return canonical


def _from_json(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict) and "keys" in value:
        entries = value["keys"]
        if not isinstance(entries, list):
            raise _fail("unrecognized_format", 'a JWK set\'s "keys" must be a list')
        keys = []
        for index, entry in enumerate(entries):
            try:
                keys.append(validate_public_jwk(entry))
            except KeyImportError as exc:
                raise KeyImportError(f"key #{index + 1}: {exc.message}", code=exc.code) from None
        return keys
    return [validate_public_jwk(value)]


def parse_public_keys(text: str | bytes) -> list[dict[str, Any]]:
    """Parse PEM / base64 DER / JWK / JWK set text into canonical public JWKs."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    stripped = text.strip()
    if not stripped:
        raise _fail("no_keys", "no key given (empty input)")
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            raise _fail("unrecognized_format", f"invalid JSON: {exc}") from None
        keys = _from_json(value)
    elif "-----BEGIN" in stripped:
        keys = [validate_public_jwk(key) for key in _from_pem(stripped)]
    else:
        keys = [validate_public_jwk(key) for key in _from_der_base64(stripped)]
    if not keys:
        raise _fail("no_keys", "the JWK set contains no keys")
    kids = [key["kid"] for key in keys]
    duplicates = sorted({kid for kid in kids if kids.count(kid) > 1})
    if duplicates:
        raise _fail("duplicate_kid", f"duplicate kid(s) in the input: {', '.join(duplicates)}")
    return keys


def lenient_key_set(value: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """For fetched JWK sets: keep the valid public keys, report the dropped ones."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        return [], ['not a JWK set ({"keys": [...]})']
    keys: list[dict[str, Any]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(value["keys"]):
        try:
            key = validate_public_jwk(entry)
        except KeyImportError as exc:
            problems.append(f"key #{index + 1} dropped: {exc.message}")
            continue
        if key["kid"] in seen:
            problems.append(f"key #{index + 1} dropped: duplicate kid {key['kid']!r}")
            continue
        seen.add(key["kid"])
        keys.append(key)
    return keys, problems


def key_bits(jwk: dict[str, Any]) -> int:
    """Key size in bits (RSA modulus, EC curve, 256 for Ed25519)."""
    kty = jwk.get("kty", "RSA" if "n" in jwk else None)
    if kty == "RSA":
        n = jwk.get("n", "")
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
        return int.from_bytes(raw, "big").bit_length()
    return {"P-256": 256, "P-384": 384, "P-521": 521, "Ed25519": 256}.get(jwk.get("crv", ""), 0)


def describe_key(jwk: dict[str, Any]) -> str:
    kind = jwk.get("kty", "?") + (f"/{jwk['crv']}" if "crv" in jwk else "")
    return f"{kind} {key_bits(jwk)} bits" + (f" alg={jwk['alg']}" if "alg" in jwk else "")
