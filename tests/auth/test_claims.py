"""Claims: time boundaries (leeway ± 1 s), types, document and role."""

from __future__ import annotations

import math

import pytest

from tandem.auth import DOCUMENT_CLAIM, ROLE_CLAIM, AuthError, TokenVerifier
from tests.auth.signing import make_keypair, sign_token
from tests.auth.tokens import API_KEY, NOW, claims

ES, _ = make_keypair("ES256")
LEEWAY = 30


def token(**extra) -> str:
    return sign_token(ES, "ES256", claims(**extra))


async def outcome(verifier, tok: str, **kwargs) -> str:
    try:
        await verifier.verify(API_KEY, tok, **kwargs)
    except AuthError as exc:
        return exc.code
    return "ok"


@pytest.mark.parametrize(
    "exp_offset, expected",
    [(-LEEWAY + 1, "ok"), (-LEEWAY, "expired"), (-LEEWAY - 1, "expired"), (0, "ok"),
     (-3600, "expired")],
)  # fmt: skip
async def test_exp_boundary(verifier, exp_offset, expected):
    assert await outcome(verifier, token(exp=NOW + exp_offset, iat=...)) == expected


@pytest.mark.parametrize(
    "offset, expected", [(LEEWAY - 1, "ok"), (LEEWAY, "ok"), (LEEWAY + 1, "not_yet_valid")]
)
async def test_nbf_boundary(verifier, offset, expected):
    assert await outcome(verifier, token(nbf=NOW + offset, iat=...)) == expected


@pytest.mark.parametrize(
    "offset, expected", [(LEEWAY - 1, "ok"), (LEEWAY, "ok"), (LEEWAY + 1, "issued_in_future")]
)
async def test_iat_boundary(verifier, offset, expected):
    assert await outcome(verifier, token(iat=NOW + offset)) == expected


async def test_leeway_is_configurable(source, clock):
    strict = TokenVerifier(source, clock=clock, leeway=0)
    assert await outcome(strict, token(exp=NOW - 1)) == "expired"
    assert await outcome(strict, token(nbf=NOW + 1)) == "not_yet_valid"
    assert await outcome(strict, token(iat=NOW + 1)) == "issued_in_future"
    assert await outcome(strict, token(exp=NOW + 1)) == "ok"


async def test_clock_moves(verifier, clock):
    tok = token(exp=NOW + 60)
    assert await outcome(verifier, tok) == "ok"
    clock.now = NOW + 60 + LEEWAY
    assert await outcome(verifier, tok) == "expired"


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value",
    ["1750000600", True, False, None, 1e300, -1, [1], {"a": 1}, 10**20, 253402300800],
)
async def test_wrongly_typed_time_claims(verifier, name, value):
    assert await outcome(verifier, token(**{name: value})) == "invalid_claim"


async def test_infinite_exp_is_invalid(verifier):
    # JSON has no Infinity literal, but 1e400 parses to inf in Python
    from tests.auth.signing import b64json, resign

    payload = b64json(claims()).encode()
    import base64
    import json

    body = json.dumps(claims()).replace(str(NOW + 600), "1e400")
    assert math.isinf(json.loads(body)["exp"])
    payload = base64.urlsafe_b64encode(body.encode()).rstrip(b"=").decode()
    header = b64json({"alg": "ES256", "kid": "test-es256"})
    assert await outcome(verifier, resign(ES, "ES256", header, payload)) == "invalid_claim"


async def test_float_and_int_times_are_fine(verifier):
    assert await outcome(verifier, token(exp=int(NOW) + 100, iat=NOW - 0.5)) == "ok"


@pytest.mark.parametrize("sub", ["", 123, None, True, ["u"], {"id": 1}, "x" * 1025])
async def test_wrongly_typed_sub(verifier, sub):
    assert await outcome(verifier, token(sub=sub)) == "invalid_claim"


async def test_document_claim(verifier):
    tok = token(**{DOCUMENT_CLAIM: "doc-1"})
    identity = await verifier.verify(API_KEY, tok, document_id="doc-1")
    assert identity.document_id == "doc-1"
    assert (await verifier.verify(API_KEY, tok)).document_id == "doc-1"
    with pytest.raises(AuthError) as info:
        await verifier.verify(API_KEY, tok, document_id="doc-2")
    assert info.value.code == "wrong_document"
    assert info.value.message == "JWT is not valid for this document"
    # no claim: valid for every document
    assert (await verifier.verify(API_KEY, token(), document_id="any")).document_id is None


@pytest.mark.parametrize("value", ["", 5, None, ["doc-1"]])
async def test_document_claim_wrong_type(verifier, value):
    assert await outcome(verifier, token(**{DOCUMENT_CLAIM: value})) == "invalid_claim"


@pytest.mark.parametrize("role, expected", [("editor", "editor"), ("viewer", "viewer")])
async def test_roles(verifier, role, expected):
    identity = await verifier.verify(API_KEY, token(**{ROLE_CLAIM: role}))
    assert identity.role == expected


@pytest.mark.parametrize("role", ["admin", "Editor", "", None, 1, ["viewer"], "viewer "])
async def test_invalid_role(verifier, role):
    with pytest.raises(AuthError) as info:
        await verifier.verify(API_KEY, token(**{ROLE_CLAIM: role}))
    assert info.value.code == "invalid_role"
    assert info.value.message == 'JWT role claim must be "editor" or "viewer"'


async def test_identity_carries_all_claims(verifier):
    identity = await verifier.verify(API_KEY, token(name="Ada", **{ROLE_CLAIM: "viewer"}))
    assert identity.claims["name"] == "Ada"
    assert identity.claims[ROLE_CLAIM] == "viewer"
    with pytest.raises(AttributeError):
        identity.user_id = "x"  # frozen
