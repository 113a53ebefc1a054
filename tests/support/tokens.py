"""An independent JWT signer for tests (cryptography directly, no Tandem code)."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Signer:
    """ES256 signer with its public JWK."""

    kid: str = "test-key"

    def __post_init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.private_key.public_key().public_numbers()
        self.public_jwk = {
            "kty": "EC",
            "crv": "P-256",
            "kid": self.kid,
            "alg": "ES256",
            "use": "sig",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }

    def token(
        self,
        sub: str = "alice",
        *,
        ttl: float = 600,
        role: str | None = None,
        document: str | None = None,
        **claims: object,
    ) -> str:
        payload: dict[str, object] = {
            "sub": sub,
            "exp": int(time.time() + ttl),
            "iat": int(time.time()),
        }
        if role is not None:
            payload["https://claims.tiny.cloud/rtc/role"] = role
        if document is not None:
            payload["https://claims.tiny.cloud/rtc/document"] = document
        payload.update(claims)
        header = {"alg": "ES256", "typ": "JWT", "kid": self.kid}
        signing_input = (
            b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())
        ).encode()
        der = self.private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input.decode() + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
