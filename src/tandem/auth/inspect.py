"""``tandem token inspect``: explain, step by step, why a token passes or fails.

The header and payload are decoded WITHOUT being trusted. Each step of the
verifier is run on its own and reported with the likely cause and a fix, and the
steps go on after a failure wherever that still makes sense (a bad signature
does not hide an expired ``exp``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tandem.auth import algorithms, claims, segments
from tandem.auth.errors import AUTH_MESSAGES, AuthError
from tandem.auth.key_directory import KeySource
from tandem.auth.verifier import MAX_TOKEN_BYTES, PublicKeyCache, select_keys

# code -> (likely cause, fix); docs/troubleshooting.md says the same at length.
HINTS: dict[str, tuple[str, str]] = {
    "token_too_large": (
        "the token carries far too much data, or something that is not a token was sent",
        "keep identity tokens small: sub, exp and the two RTC claims are enough",
    ),
    "not_enough_parts": (
        "the value is not a JWT (empty, truncated, or an opaque session id/API key)",
        "send the compact JWS 'header.payload.signature' from your token endpoint",
    ),
    "too_many_parts": (
        "a JWE (5 parts) or two tokens concatenated",
        "sign the token (JWS); do not encrypt it",
    ),
    "bad_base64": (
        "padding '=', standard base64 '+' '/', whitespace or a newline in the token",
        "use base64url without padding (any JWT library does); strip whitespace",
    ),
    "bad_json": (
        "a part decodes to something that is not a JSON object (or has duplicate names)",
        "build the token with a JWT library instead of by hand",
    ),
    "missing_alg": ("the header has no 'alg'", "sign with a JWT library and an accepted alg"),
    "missing_claims": (
        "the payload lacks 'sub' (the user id) or 'exp' (the expiry)",
        "add sub and exp (e.g. now + 10 minutes) when signing",
    ),
    "unsupported_alg": (
        "a symmetric (HS256), 'none' or unknown algorithm was used",
        "sign with an asymmetric key: " + ", ".join(algorithms.SUPPORTED_ALGORITHMS),
    ),
    "unsupported_header": (
        "the header asks for a JWS extension ('crit', 'b64': false) or has a non-string kid",
        "remove crit/b64 from the header; use a string kid",
    ),
    "jwks_unavailable": (
        "no registered public key matches the token's kid/alg, the API key is unknown, "
        "or its JWKS URL cannot be fetched",
        "register the public key: tandem keys add --api-key KEY public.pem "
        "(and make the token's kid match `tandem keys list`)",
    ),
    "bad_signature": (
        "signed with a different private key than the registered public key, "
        "or the token was altered",
        "sign with the private key whose public key is registered for this API key",
    ),
    "invalid_claim": (
        "a claim has the wrong type (e.g. exp as a string or in milliseconds)",
        "exp/nbf/iat are numbers of seconds since 1970; sub is a non-empty string",
    ),
    "issued_in_future": (
        "the signing machine's clock is ahead",
        "synchronise clocks with NTP",
    ),
    "not_yet_valid": ("nbf is in the future: clock skew", "synchronise clocks with NTP"),
    "expired": (
        "clock skew or an expired token",
        "sync clocks with NTP / request a fresh token",
    ),
    "wrong_document": (
        "the token was issued for another document id",
        "issue the token for the document id the editor opens (rtc_document_id)",
    ),
    "invalid_role": (
        "the role claim is neither 'editor' nor 'viewer'",
        "set https://claims.tiny.cloud/rtc/role to 'editor' or 'viewer' (or leave it out)",
    ),
}

_IGNORED_HEADERS = ("jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256")


@dataclass(slots=True)
class Step:
    name: str
    status: str  # "pass" | "fail" | "skip" | "note"
    text: str
    code: str | None = None

    @property
    def hint(self) -> tuple[str, str] | None:
        return HINTS.get(self.code) if self.code else None


@dataclass(slots=True)
class Inspection:
    header: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(step.status == "fail" for step in self.steps)

    @property
    def first_failure(self) -> Step | None:
        """The failure the verifier would report (it checks in AUTH_MESSAGES order)."""
        failures = [step for step in self.steps if step.status == "fail"]
        rank = {code: index for index, code in enumerate(AUTH_MESSAGES)}
        return min(failures, key=lambda s: rank.get(s.code or "", len(rank)), default=None)

    def add(self, name: str, status: str, text: str, code: str | None = None) -> None:
        self.steps.append(Step(name, status, text, code))

    def fail(self, name: str, error: AuthError) -> None:
        text = error.message + (f": {error.detail}" if error.detail else "")
        self.add(name, "fail", text, error.code)


def _when(value: float) -> str:
    try:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "out of range"


def _check(report: Inspection, name: str, func: Any, *args: Any, ok: str = "ok") -> Any:
    try:
        result = func(*args)
    except AuthError as exc:
        report.fail(name, exc)
        return None
    report.add(name, "pass", ok)
    return result if result is not None else True


async def inspect_token(
    token: str | bytes,
    *,
    keys: KeySource | None = None,
    api_key: str | None = None,
    document_id: str | None = None,
    leeway: float = 30.0,
    now: float | None = None,
    max_token_bytes: int = MAX_TOKEN_BYTES,
) -> Inspection:
    report = Inspection()
    now = time.time() if now is None else now
    try:
        parts = segments.split_token(token, max_token_bytes)
    except AuthError as exc:
        report.fail("structure", exc)
        return report
    size = len(parts.header) + len(parts.payload) + len(parts.signature) + 2
    report.add("structure", "pass", f"3 parts, {size} characters (limit {max_token_bytes})")

    decoded: dict[str, bytes | None] = {}
    for name, text in (
        ("header", parts.header),
        ("payload", parts.payload),
        ("signature", parts.signature),
    ):
        decoded[name] = _check(report, f"{name} base64url", segments.b64url_decode, text, name)
    for name in ("header", "payload"):
        raw = decoded[name]
        if isinstance(raw, bytes):
            value = _check(report, f"{name} JSON", segments.parse_json_object, raw, name)
            setattr(report, name, value if isinstance(value, dict) else None)
    header, payload = report.header, report.payload

    spec = None
    if header is not None:
        if _check(report, "alg present", algorithms.require_alg, header):
            alg = str(header["alg"])
            spec = _check(report, "alg accepted", algorithms.supported_algorithm, header, ok=alg)
        kid = _check(report, "header extensions", algorithms.check_extensions, header)
        kid = kid if isinstance(kid, str) else None
        ignored = [name for name in _IGNORED_HEADERS if name in header]
        if ignored:
            report.add(
                "ignored headers",
                "note",
                f"{', '.join(ignored)} ignored: keys come only from the API key's JWK set",
            )
    if payload is not None:
        _check(report, "required claims", claims.require_claims, payload, ok="sub and exp present")

    signature = decoded.get("signature")
    if spec is None or header is None or not isinstance(signature, bytes):
        report.add("signature", "skip", "not checked: the token could not be decoded that far")
    elif keys is None or api_key is None:
        report.add("signature", "skip", "not checked (pass --api-key to check it)")
    else:
        await _check_signature(report, keys, api_key, spec, header, parts, signature)

    if payload is not None and "sub" in payload and "exp" in payload:
        _claim_steps(report, payload, now, leeway, document_id)
    return report


async def _check_signature(
    report: Inspection,
    keys: KeySource,
    api_key: str,
    spec: algorithms.AlgorithmSpec,
    header: dict[str, Any],
    parts: segments.TokenParts,
    signature: bytes,
) -> None:
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    try:
        available = await keys.keys_for(api_key)
    except AuthError as exc:
        report.fail("key lookup", exc)
        return
    candidates = select_keys(available, spec, kid)
    if not candidates:
        wanted = f"kid {kid!r} and alg {spec.name}" if kid else f"alg {spec.name}"
        known = ", ".join(f"{k.get('kid')} ({k.get('kty')})" for k in available) or "none"
        report.fail(
            "key lookup",
            AuthError("jwks_unavailable", f"no key fits {wanted}; registered keys: {known}"),
        )
        return
    report.add("key lookup", "pass", f"{len(candidates)} key(s) fit {spec.name}")
    cache = PublicKeyCache()
    for jwk in candidates:
        key = cache.get(jwk)
        if key is not None and algorithms.signature_valid(
            spec, key, parts.signing_input, signature
        ):
            report.add("signature", "pass", f"verified with kid {jwk.get('kid')!r}")
            return
    detail = f"none of {len(candidates)} key(s) verifies it"
    if spec.signature_bytes and len(signature) != spec.signature_bytes:
        detail += (
            f"; {spec.name} needs a raw {spec.signature_bytes}-byte signature, got "
            f"{len(signature)} bytes (DER-encoded ECDSA signatures are not JWS)"
        )
    report.fail("signature", AuthError("bad_signature", detail))


def _claim_steps(
    report: Inspection,
    payload: dict[str, Any],
    now: float,
    leeway: float,
    document_id: str | None,
) -> None:
    typed = _check(report, "claim types", claims.typed_claims, payload)
    if not isinstance(typed, claims.TypedClaims):
        return
    for name, value in (("iat", typed.iat), ("nbf", typed.nbf)):
        if value is None:
            report.add(name, "skip", "not present (optional)")
            continue
        delta = value - now
        text = f"{_when(value)}, {abs(delta):.0f} s {'after' if delta > 0 else 'before'} now"
        if delta > leeway:
            code = "issued_in_future" if name == "iat" else "not_yet_valid"
            report.add(
                name,
                "fail",
                f"{AUTH_MESSAGES[code]}: {name} is {delta:.0f} s in the future "
                f"(leeway {leeway:g} s)",
                code,
            )
        else:
            report.add(name, "pass", text)
    age = now - typed.exp
    if age >= leeway:
        report.add(
            "exp",
            "fail",
            f"{AUTH_MESSAGES['expired']}: exp ({_when(typed.exp)}) is {age:.0f} s in the past "
            f"(leeway {leeway:g} s)",
            "expired",
        )
    else:
        left = typed.exp - now
        report.add("exp", "pass", f"{_when(typed.exp)}, expires in {left:.0f} s")
    if document_id is not None:
        _check(
            report, "document", claims.check_document, typed, document_id, ok="matches the request"
        )
    elif typed.document is not None:
        report.add("document", "note", f"token is only valid for document {typed.document!r}")
    role = _check(report, "role", claims.check_role, typed)
    if isinstance(role, str):
        report.steps[-1].text = role


def format_inspection(report: Inspection) -> str:
    lines = []
    for title, value in (("header", report.header), ("payload", report.payload)):
        if value is not None:
            lines.append(f"{title} (untrusted): {json.dumps(value, sort_keys=True)[:2000]}")
    marks = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP", "note": "NOTE"}
    for step in report.steps:
        lines.append(f"[{marks[step.status]}] {step.name}: {step.text}")
        if step.status == "fail" and step.hint:
            cause, fix = step.hint
            lines.append(f"       likely cause: {cause}")
            lines.append(f"       fix: {fix}")
    first = report.first_failure
    if first is None:
        lines.append("result: every check that could be made passed")
    else:
        code = f" [{first.code}]" if first.code else ""
        message = AUTH_MESSAGES.get(first.code or "", first.text)
        lines.append(f"result: the server would refuse this token: {message}{code}")
    return "\n".join(lines)
