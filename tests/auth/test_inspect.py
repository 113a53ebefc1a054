"""inspect_token: step-by-step explanations."""

from __future__ import annotations

from tandem.auth.inspect import format_inspection, inspect_token
from tests.auth.signing import b64json, make_keypair, resign, sign_token
from tests.auth.tokens import API_KEY, NOW, claims

ES, _ = make_keypair("ES256")


def steps(report) -> dict[str, str]:
    return {step.name: step.status for step in report.steps}


async def test_all_pass_with_keys(source):
    report = await inspect_token(
        sign_token(ES, "ES256", claims()), keys=source, api_key=API_KEY, now=NOW
    )
    assert report.ok, format_inspection(report)
    assert steps(report)["signature"] == "pass"


async def test_expired_explained():
    report = await inspect_token(sign_token(ES, "ES256", claims(exp=NOW - 95)), now=NOW)
    assert not report.ok
    text = format_inspection(report)
    assert "[FAIL] exp: JWT has expired: exp" in text
    assert "is 95 s in the past (leeway 30 s)" in text
    assert "likely cause: clock skew or an expired token" in text
    assert "fix: sync clocks with NTP / request a fresh token" in text
    assert text.endswith("refuse this token: JWT has expired [expired]")


async def test_several_failures_reported_first_in_verifier_order(source):
    # unsupported alg + missing exp + nbf in future: verifier says missing claims first
    header = b64json({"alg": "HS256"})
    token = resign(ES, "ES256", header, b64json({"sub": "u", "nbf": NOW + 999}))
    report = await inspect_token(token, keys=source, api_key=API_KEY, now=NOW)
    assert steps(report)["alg accepted"] == "fail"
    assert steps(report)["required claims"] == "fail"
    assert report.first_failure.code == "missing_claims"


async def test_bad_signature_does_not_hide_expiry(source):
    other = make_keypair("ES256", fresh=True)[0]
    token = sign_token(other, "ES256", claims(exp=NOW - 500))
    report = await inspect_token(token, keys=source, api_key=API_KEY, now=NOW)
    assert steps(report)["signature"] == "fail"
    assert steps(report)["exp"] == "fail"
    assert report.first_failure.code == "bad_signature"


async def test_der_signature_hint(source):
    token = sign_token(ES, "ES256", claims())
    head, payload, _ = token.split(".")
    report = await inspect_token(
        f"{head}.{payload}.{b64json('x' * 70)}", keys=source, api_key=API_KEY, now=NOW
    )
    assert "DER-encoded ECDSA signatures are not JWS" in format_inspection(report)


async def test_ignored_headers_noted_and_unknown_kid(source):
    token = sign_token(ES, "ES256", claims(), headers={"jku": "https://evil/jwks"}, kid="k9")
    report = await inspect_token(token, keys=source, api_key=API_KEY, now=NOW)
    text = format_inspection(report)
    assert "[NOTE] ignored headers: jku ignored" in text
    assert "[FAIL] key lookup: Unable to retrieve JWK set: no key fits kid 'k9'" in text
    assert "tandem keys add" in text


async def test_garbage():
    report = await inspect_token("x", now=NOW)
    assert [s.code for s in report.steps] == ["not_enough_parts"]
    assert "send the compact JWS" in format_inspection(report)
