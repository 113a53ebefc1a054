"""Every error message, each produced by a token with exactly one defect."""

from __future__ import annotations

import pytest

from tandem.auth import AUTH_MESSAGES, AuthError
from tests.auth.signing import b64, b64json, make_keypair, resign, sign_token
from tests.auth.tokens import API_KEY, NOW, claims

ES, ES_JWK = make_keypair("ES256")
SEED_MESSAGES = {
    "not_enough_parts": "Not enough parts",
    "bad_base64": "A part was not correctly base64 encoded",
    "bad_json": "A part was not valid JSON",
    "missing_alg": "The header part does not specify an algorithm",
    "missing_claims": "The payload part does not contain all required claims",
    "unsupported_alg": "Unsupported JWT signature algorithm",
    "jwks_unavailable": "Unable to retrieve JWK set",
    "issued_in_future": "JWT was issued in the future",
    "not_yet_valid": "JWT is not yet valid",
    "expired": "JWT has expired",
}


def good(**extra) -> str:
    return sign_token(ES, "ES256", claims(**extra))


def header_b64(**fields) -> str:
    header = {"alg": "ES256", "typ": "JWT", "kid": "test-es256"}
    header.update(fields)
    return b64json({k: v for k, v in header.items() if v is not ...})


async def refused(verifier, token, code: str, **kwargs) -> AuthError:
    with pytest.raises(AuthError) as info:
        await verifier.verify(API_KEY, token, **kwargs)
    assert info.value.code == code, info.value.detail
    assert info.value.message == AUTH_MESSAGES[code]
    assert str(info.value) == AUTH_MESSAGES[code]
    return info.value


def test_seed_messages_are_word_for_word():
    for code, message in SEED_MESSAGES.items():
        assert AUTH_MESSAGES[code] == message


async def test_valid_token_passes(verifier):
    identity = await verifier.verify(API_KEY, good())
    assert identity.user_id == "user-1"
    assert identity.role == "editor"
    assert identity.document_id is None
    assert identity.expires_at == NOW + 600


@pytest.mark.parametrize("token", ["", "abc", "a.b", "..", good().rsplit(".", 1)[0]])
async def test_not_enough_parts(verifier, token):
    if token == "..":  # three empty parts: reaches base64/JSON (empty header is not JSON)
        await refused(verifier, token, "bad_json")
    else:
        await refused(verifier, token, "not_enough_parts")


@pytest.mark.parametrize("extra", [".x", ".a.b", "."])
async def test_too_many_parts(verifier, extra):
    await refused(verifier, good() + extra, "too_many_parts")


def _replace_part(token: str, index: int, value: str) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


@pytest.mark.parametrize("index", [0, 1, 2])
@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p + "=",  # padding
        lambda p: p[:4] + "+" + p[5:],  # standard alphabet
        lambda p: p[:4] + "/" + p[5:],
        lambda p: " " + p,  # whitespace
        lambda p: p + "\n",
        lambda p: p[:3] + "é" + p[4:],  # non-ASCII
        lambda p: p + "A" * (5 - len(p) % 4 if len(p) % 4 != 1 else 4),  # len % 4 == 1
    ],
)
async def test_bad_base64(verifier, index, mangle):
    token = good()
    part = token.split(".")[index]
    mangled = mangle(part)
    if index < 2 and mangled.rstrip("A") == part and len(mangled) % 4 != 1:
        pytest.skip("not a defect")
    await refused(verifier, _replace_part(token, index, mangled), "bad_base64")


async def test_non_canonical_trailing_bits(verifier):
    # "QR" and "QQ" both decode to b"A"; only the canonical "QQ" is accepted.
    token = good()
    sig = token.split(".")[2]
    # ES256 signature: 64 bytes -> 86 chars, last char carries 4 unused bits
    last = sig[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    alt = alphabet[alphabet.index(last) ^ 1]
    await refused(verifier, _replace_part(token, 2, sig[:-1] + alt), "bad_base64")


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1,2]", b'"str"', b"123", b"null", b"\xff\xfe{}", b'{"a":1,"a":2}',
     b'{"x": NaN}', b"", b"\xef\xbb\xbf{}"],
)  # fmt: skip
@pytest.mark.parametrize("index", [0, 1])
async def test_bad_json(verifier, raw, index):
    token = _replace_part(good(), index, b64(raw))
    await refused(verifier, token, "bad_json")


async def test_deeply_nested_json_is_bad_json_not_a_crash(verifier):
    raw = b"[" * 5000 + b"]" * 5000
    await refused(verifier, _replace_part(good(), 1, b64(raw)), "bad_json")


@pytest.mark.parametrize("alg", [..., None, ""])
async def test_missing_alg(verifier, alg):
    token = resign(ES, "ES256", header_b64(alg=alg), b64json(claims()))
    await refused(verifier, token, "missing_alg")


@pytest.mark.parametrize("drop", ["sub", "exp"])
async def test_missing_claims(verifier, drop):
    token = sign_token(ES, "ES256", claims(**{drop: ...}))
    error = await refused(verifier, token, "missing_claims")
    assert drop in error.detail


@pytest.mark.parametrize(
    "alg", ["none", "None", "NONE", "nOnE", "HS256", "HS384", "HS512", "rs256", "ES256K",
            "Ed25519", "RSA-OAEP", "XYZ", 256, True, ["ES256"], {"a": 1}],
)  # fmt: skip
async def test_unsupported_alg(verifier, alg):
    token = resign(ES, "ES256", header_b64(alg=alg), b64json(claims()))
    await refused(verifier, token, "unsupported_alg")


async def test_alg_none_with_empty_signature(verifier):
    token = f"{header_b64(alg='none', kid=...)}.{b64json(claims())}."
    await refused(verifier, token, "unsupported_alg")


async def test_unknown_api_key(verifier):
    with pytest.raises(AuthError) as info:
        await verifier.verify("ak_unknown", good())
    assert info.value.message == "Unable to retrieve JWK set"
    assert info.value.code == "jwks_unavailable"


async def test_unknown_kid(verifier):
    token = sign_token(ES, "ES256", claims(), kid="no-such-kid")
    await refused(verifier, token, "jwks_unavailable")


async def test_no_key_for_alg(clock):
    from tandem.auth import StaticKeySource, TokenVerifier

    only_rsa = StaticKeySource({API_KEY: [make_keypair("RS256")[1]]})
    verifier = TokenVerifier(only_rsa, clock=clock)
    await refused(verifier, sign_token(ES, "ES256", claims(), kid=None), "jwks_unavailable")
    # both lookups (normal + refresh) were asked for
    assert only_rsa.calls == [(API_KEY, False), (API_KEY, True)]


async def test_bad_signature(verifier):
    other = make_keypair("ES256", fresh=True)[0]
    await refused(verifier, sign_token(other, "ES256", claims()), "bad_signature")


async def test_tampered_payload(verifier):
    token = good()
    forged = _replace_part(token, 1, b64json(claims(sub="admin")))
    await refused(verifier, forged, "bad_signature")


async def test_crit_and_b64(verifier):
    for fields in ({"crit": ["exp"], "exp": 1}, {"crit": []}, {"crit": "b64"},
                   {"b64": False, "crit": ["b64"]}, {"b64": False}):  # fmt: skip
        token = resign(ES, "ES256", header_b64(**fields), b64json(claims()))
        await refused(verifier, token, "unsupported_header")


@pytest.mark.parametrize("kid", [123, "", None, ["a"]])
async def test_non_string_kid(verifier, kid):
    header = header_b64(kid=kid)
    if kid is None:  # "kid": null is treated as absent -> tries fitting keys, passes
        await verifier.verify(API_KEY, resign(ES, "ES256", header, b64json(claims())))
        return
    await refused(verifier, resign(ES, "ES256", header, b64json(claims())), "unsupported_header")


async def test_token_too_large(verifier):
    huge = good() + "A" * (16 * 1024)
    await refused(verifier, huge, "token_too_large")
    await refused(verifier, huge.encode(), "token_too_large")


async def test_order_first_defect_wins(verifier):
    # unsupported alg AND missing claims -> missing claims is checked first (step 5 < 6)
    token = resign(ES, "ES256", header_b64(alg="HS256"), b64json({"sub": "u"}))
    await refused(verifier, token, "missing_claims")
    # bad JSON payload AND missing alg -> JSON first
    token = f"{header_b64(alg=...)}.{b64(b'nope')}.{b64(b'x')}"
    await refused(verifier, token, "bad_json")
    # base64 error in signature AND bad JSON in header -> base64 first
    token = f"{b64(b'nope')}.{b64json(claims())}.a=b"
    await refused(verifier, token, "bad_base64")
