"""Property tests: nothing but AuthError ever comes out of verify()/inspect."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.auth import AuthError, StaticKeySource, TokenVerifier
from tandem.auth.inspect import format_inspection, inspect_token
from tandem.auth.segments import b64url_decode, b64url_encode
from tests.auth.signing import ALGORITHMS, make_keypair, sign_token
from tests.auth.tokens import API_KEY, NOW, claims

SOURCE = StaticKeySource({API_KEY: [make_keypair(alg)[1] for alg in ALGORITHMS]})
VERIFIER = TokenVerifier(SOURCE, clock=lambda: NOW)
VALID = {alg: sign_token(make_keypair(alg)[0], alg, claims()) for alg in ALGORITHMS}
PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def outcome(token) -> str:
    try:
        asyncio.run(VERIFIER.verify(API_KEY, token))
    except AuthError as exc:
        assert exc.message and exc.code
        return exc.code
    return "ok"


def test_valid_tokens_are_valid():
    assert {alg: outcome(tok) for alg, tok in VALID.items()} == dict.fromkeys(VALID, "ok")


@PROFILE
@given(st.binary(max_size=2000))
def test_random_bytes(data):
    assert outcome(data) != "ok"


@PROFILE
@given(st.text(max_size=2000))
def test_random_text(text):
    assert outcome(text) != "ok"


@PROFILE
@given(
    st.lists(
        st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                max_size=200),
        min_size=3, max_size=3,
    )
)  # fmt: skip
def test_random_base64url_parts(parts):
    assert outcome(".".join(parts)) != "ok"


@PROFILE
@given(
    alg=st.sampled_from(ALGORITHMS),
    position=st.integers(min_value=0),
    replacement=st.characters(codec="ascii"),
    data=st.data(),
)
def test_mutated_valid_tokens(alg, position, replacement, data):
    token = VALID[alg]
    position %= len(token)
    mode = data.draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
    if mode == "replace":
        mutated = token[:position] + replacement + token[position + 1 :]
    elif mode == "insert":
        mutated = token[:position] + replacement + token[position:]
    elif mode == "delete":
        mutated = token[:position] + token[position + 1 :]
    else:
        mutated = token[:position]
    result = outcome(mutated)
    if mutated != token:
        assert result != "ok"


@PROFILE
@given(payload=st.dictionaries(st.sampled_from(["sub", "exp", "nbf", "iat", "x"]),
       st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
                 st.lists(st.integers(), max_size=2))))  # fmt: skip
def test_signed_arbitrary_claims(payload):
    private, _ = make_keypair("ES256")
    try:
        token = sign_token(private, "ES256", payload)
    except ValueError:  # NaN/inf cannot be JSON-encoded strictly by the test signer
        return
    outcome(token)  # any result, but only AuthError


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=500))
def test_inspect_never_crashes(text):
    report = asyncio.run(inspect_token(text, keys=SOURCE, api_key=API_KEY, now=NOW))
    assert isinstance(format_inspection(report), str)


@PROFILE
@given(st.binary(max_size=100))
def test_base64url_roundtrip(data):
    assert b64url_decode(b64url_encode(data)) == data
