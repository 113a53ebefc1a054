"""``TokenVerifier``: a compact JWS identity token in, an ``Identity`` or ``AuthError`` out.

Checks run in this order, so a token with one defect gets that defect's message
(docs/troubleshooting.md lists them all):

 0. size (``token_too_large``), before anything is decoded
 1. part count (``not_enough_parts`` / ``too_many_parts``)
 2. strict base64url of all three parts (``bad_base64``)
 3. header and payload are JSON objects (``bad_json``)
 4. header has ``alg`` (``missing_alg``)
 5. payload has ``sub`` and ``exp`` (``missing_claims``)
 6. ``alg`` is an accepted asymmetric algorithm (``unsupported_alg``), then
    ``crit`` / ``b64`` / ``kid`` sanity (``unsupported_header``)
 7. a key of the API key's JWK set fits kid and alg (``jwks_unavailable``)
 8. the signature verifies with one of them (``bad_signature``)
 9. claim types (``invalid_claim``), then ``iat``, ``nbf``, ``exp`` with leeway, and
    ``exp`` at most ``max_lifetime`` ahead when set (``invalid_claim``)
10. document claim vs. the requested document (``wrong_document``), role claim
    (``invalid_role``)

Keys come only from the key source: ``jwk``, ``jku``, ``x5u``, ``x5c`` headers
are ignored, never fetched; ``kid`` is only compared for string equality.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import JWKRegistry, Key

from tandem.auth.algorithms import (
    AlgorithmSpec,
    check_extensions,
    key_fits,
    require_alg,
    signature_valid,
    supported_algorithm,
)
from tandem.auth.claims import (
    check_document,
    check_role,
    check_times,
    require_claims,
    typed_claims,
)
from tandem.auth.errors import AuthError
from tandem.auth.key_directory import KeySource
from tandem.auth.key_import import JWK_IMPORT_ERRORS
from tandem.auth.segments import DecodedToken, decode_token

MAX_TOKEN_BYTES = 16 * 1024
MAX_CANDIDATE_KEYS = 8  # keys tried for a token without kid
log = logging.getLogger("tandem.auth")
_PUBLIC_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x")}


@dataclass(frozen=True)
class Identity:
    """Who a verified token says the user is."""

    user_id: str
    document_id: str | None  # the token's document claim (None: any document)
    role: str  # "editor" | "viewer"
    expires_at: float
    claims: dict[str, Any]


class PublicKeyCache:
    """JWK dict -> imported joserfc key, LRU-bounded (import is the slow part)."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._keys: OrderedDict[str, Key | None] = OrderedDict()

    def get(self, jwk: dict[str, Any]) -> Key | None:
        kty = jwk.get("kty")
        if kty not in _PUBLIC_MEMBERS:
            return None
        members: dict[str, Any] = {name: jwk.get(name) for name in _PUBLIC_MEMBERS[kty]}
        cache_key = json.dumps([kty, members], sort_keys=True)
        if cache_key in self._keys:
            self._keys.move_to_end(cache_key)
            return self._keys[cache_key]
        key: Key | None
        try:
            key = JWKRegistry.import_key({"kty": kty, **members})
        except JWK_IMPORT_ERRORS as exc:
            # A broken stored or fetched key never matches; said once, as it is cached.
            log.warning("public key %s (kid %r) cannot be imported: %s", kty, jwk.get("kid"), exc)
            key = None
        self._keys[cache_key] = key
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)
        return key


def select_keys(
    keys: list[dict[str, Any]], spec: AlgorithmSpec, kid: str | None
) -> list[dict[str, Any]]:
    """The keys that may verify a token with this alg and kid (kid: exact match)."""
    fitting = [key for key in keys if key_fits(key, spec)]
    if kid is not None:
        return [key for key in fitting if key.get("kid") == kid]
    return fitting[:MAX_CANDIDATE_KEYS]


class TokenVerifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        leeway: float = 30.0,
        clock: Callable[[], float] = time.time,
        max_token_bytes: int = MAX_TOKEN_BYTES,
        max_lifetime: float | None = None,
    ) -> None:
        self.keys = keys
        self.leeway = leeway
        self.max_lifetime = max_lifetime  # exp at most this many seconds ahead
        self.clock = clock
        self.max_token_bytes = max_token_bytes
        self._key_cache = PublicKeyCache()

    def decode(self, token: str | bytes) -> tuple[DecodedToken, AlgorithmSpec, str | None]:
        """Steps 0-6: everything that needs no key. Returns (token, alg spec, kid)."""
        decoded = decode_token(token, self.max_token_bytes)
        require_alg(decoded.header)
        require_claims(decoded.payload)
        spec = supported_algorithm(decoded.header)
        kid = check_extensions(decoded.header)
        return decoded, spec, kid

    async def candidate_keys(
        self, api_key: str, spec: AlgorithmSpec, kid: str | None
    ) -> list[dict[str, Any]]:
        """Step 7: the API key's keys that fit; one rate-limited refresh if none."""
        candidates = select_keys(await self.keys.keys_for(api_key), spec, kid)
        if not candidates:
            candidates = select_keys(await self.keys.keys_for(api_key, refresh=True), spec, kid)
        if not candidates:
            wanted = f"kid {kid!r} and alg {spec.name}" if kid else f"alg {spec.name}"
            raise AuthError("jwks_unavailable", f"no public key of this API key fits {wanted}")
        return candidates

    def check_signature(
        self, decoded: DecodedToken, spec: AlgorithmSpec, candidates: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Step 8: returns the JWK that verified the signature."""
        signing_input = decoded.parts.signing_input
        for jwk in candidates:
            key = self._key_cache.get(jwk)
            if key is not None and signature_valid(spec, key, signing_input, decoded.signature):
                return jwk
        raise AuthError(
            "bad_signature",
            f"tried {len(candidates)} key(s) for {spec.name}; none verifies the signature",
        )

    def check_claims(self, payload: dict[str, Any], document_id: str | None) -> Identity:
        """Steps 9-10."""
        claims = typed_claims(payload)
        now = self.clock()
        check_times(claims, now, self.leeway)
        if self.max_lifetime is not None and claims.exp - now > self.max_lifetime + self.leeway:
            raise AuthError(
                "invalid_claim",
                f"exp is {claims.exp - now:.0f} s ahead; this server accepts tokens valid "
                f"for at most {self.max_lifetime:g} s (max_token_lifetime)",
            )
        check_document(claims, document_id)
        role = check_role(claims)
        return Identity(claims.sub, claims.document, role, claims.exp, dict(payload))

    async def verify(
        self, api_key: str, token: str | bytes, *, document_id: str | None = None
    ) -> Identity:
        """Verify ``token`` against the JWK set of ``api_key``; raise AuthError."""
        decoded, spec, kid = self.decode(token)
        candidates = await self.candidate_keys(api_key, spec, kid)
        self.check_signature(decoded, spec, candidates)
        return self.check_claims(decoded.payload, document_id)
