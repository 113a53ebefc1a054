"""tandem.crypto: shared vectors, round trips, AAD binding, failure modes."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tandem import crypto
from tandem.crypto import (
    DEFAULT_ITERATIONS,
    MAX_ITERATIONS,
    MIN_ITERATIONS,
    SALT_BYTES,
    EncryptionError,
    SessionCipher,
    SessionSecrets,
    associated_data,
    derive_key,
    new_session_secrets,
    open_sealed,
    seal,
    unwrap_content_key,
)
from tandem.errors import TandemError

VECTORS_DIR = Path(__file__).parent / "vectors"
VECTORS_PATH = VECTORS_DIR / "crypto.json"
VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))

KEY = "correct horse battery staple"
SALT = bytes(range(32))
CONTENT_KEY = bytes(range(100, 132))
FAST = MIN_ITERATIONS


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def ids(cases: list[dict], field: str | None = None) -> list[str]:
    return [str(c[field]) if field else str(i) for i, c in enumerate(cases)]


# --- the vector file itself -------------------------------------------------


def test_generator_reproduces_vector_file_exactly() -> None:
    spec = importlib.util.spec_from_file_location(
        "make_crypto_vectors", VECTORS_DIR / "make_crypto_vectors.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == VECTORS_PATH.read_text(encoding="utf-8")


def test_vector_file_covers_every_section() -> None:
    for section in (
        "aad",
        "derive_key",
        "session_secrets",
        "seal",
        "update",
        "snapshot",
        "presence",
        "negative",
        "base64",
    ):
        assert VECTORS[section], section
    assert {v["iterations"] for v in VECTORS["derive_key"]} >= {10_000, 210_000}
    assert any(not f for c in VECTORS["aad"] for f in c["fields"] if isinstance(f, str))
    assert any("ö" in f for c in VECTORS["aad"] for f in c["fields"] if isinstance(f, str))


# --- vectors ----------------------------------------------------------------


def test_aad_encoding_by_hand() -> None:
    expected = (
        b"\x00\x00\x00\x08tandem/1"
        b"\x00\x00\x00\x06update"
        b"\x00\x00\x00\x0ed\xc3\xb6kument-\xe2\x9c\x93x"
        b"\x00\x00\x00\x00"
        b"\x00\x00\x00\x01c"
        b"\x00\x00\x00\x0212"
    )
    assert associated_data("update", "dökument-✓x", "", "c", 12) == expected


@pytest.mark.parametrize("case", VECTORS["aad"], ids=ids(VECTORS["aad"]))
def test_aad_vectors(case: dict) -> None:
    assert associated_data(case["kind"], *case["fields"]).hex() == case["aad_hex"]


@pytest.mark.parametrize("case", VECTORS["derive_key"], ids=ids(VECTORS["derive_key"]))
def test_derive_key_vectors(case: dict) -> None:
    salt = h(case["salt_hex"])
    kek = derive_key(case["key"], salt, case["iterations"])
    assert kek.hex() == case["kek_hex"]
    # independent check against hashlib's PBKDF2
    independent = hashlib.pbkdf2_hmac(
        "sha512", case["key"].encode(), salt, case["iterations"], dklen=32
    )
    assert independent == kek


@pytest.mark.parametrize("case", VECTORS["session_secrets"], ids=ids(VECTORS["session_secrets"]))
def test_session_secrets_vectors(case: dict) -> None:
    secrets = new_session_secrets(
        case["key"],
        case["document_id"],
        case["session_id"],
        iterations=case["iterations"],
        salt=h(case["salt_hex"]),
        content_key=h(case["content_key_hex"]),
        nonce=h(case["nonce_hex"]),
    )
    assert secrets.wrapped_key.hex() == case["wrapped_key_hex"]
    assert secrets.salt.hex() == case["salt_hex"]
    assert secrets.iterations == case["iterations"]
    unwrapped = unwrap_content_key(
        case["key"],
        h(case["salt_hex"]),
        case["iterations"],
        h(case["wrapped_key_hex"]),
        case["document_id"],
        case["session_id"],
    )
    assert unwrapped.hex() == case["content_key_hex"]


@pytest.mark.parametrize("case", VECTORS["seal"], ids=ids(VECTORS["seal"]))
def test_seal_vectors(case: dict) -> None:
    key, aad = h(case["key_hex"]), h(case["aad_hex"])
    sealed = seal(key, h(case["plaintext_hex"]), aad, nonce=h(case["nonce_hex"]))
    assert sealed.hex() == case["sealed_hex"]
    assert open_sealed(key, sealed, aad).hex() == case["plaintext_hex"]


def cipher_for(case: dict) -> SessionCipher:
    return SessionCipher(h(case["content_key_hex"]), case["document_id"], case["session_id"])


@pytest.mark.parametrize("case", VECTORS["update"], ids=ids(VECTORS["update"]))
def test_update_vectors(case: dict) -> None:
    cipher = cipher_for(case)
    sealed = cipher.seal_update(
        case["client_id"], case["counter"], h(case["plaintext_hex"]), nonce=h(case["nonce_hex"])
    )
    assert sealed.hex() == case["sealed_hex"]
    opened = cipher.open_update(case["client_id"], case["counter"], h(case["sealed_hex"]))
    assert opened.hex() == case["plaintext_hex"]


@pytest.mark.parametrize("case", VECTORS["snapshot"], ids=ids(VECTORS["snapshot"]))
def test_snapshot_vectors(case: dict) -> None:
    cipher = cipher_for(case)
    sealed = cipher.seal_snapshot(case["seq"], h(case["plaintext_hex"]), nonce=h(case["nonce_hex"]))
    assert sealed.hex() == case["sealed_hex"]
    assert cipher.open_snapshot(case["seq"], h(case["sealed_hex"])).hex() == case["plaintext_hex"]


@pytest.mark.parametrize("case", VECTORS["presence"], ids=ids(VECTORS["presence"]))
def test_presence_vectors(case: dict) -> None:
    cipher = cipher_for(case)
    sealed = cipher.seal_presence(
        case["client_id"], h(case["plaintext_hex"]), nonce=h(case["nonce_hex"])
    )
    assert sealed.hex() == case["sealed_hex"]
    opened = cipher.open_presence(case["client_id"], h(case["sealed_hex"]))
    assert opened.hex() == case["plaintext_hex"]


@pytest.mark.parametrize("case", VECTORS["negative"], ids=ids(VECTORS["negative"], "name"))
def test_negative_vectors(case: dict) -> None:
    blob = h(case["sealed_hex"])
    with pytest.raises(EncryptionError) as info:
        if case["op"] == "unwrap":
            unwrap_content_key(
                case["key"],
                h(case["salt_hex"]),
                case["iterations"],
                blob,
                case["document_id"],
                case["session_id"],
            )
        elif case["op"] == "open_update":
            cipher_for(case).open_update(case["client_id"], case["counter"], blob)
        elif case["op"] == "open_snapshot":
            cipher_for(case).open_snapshot(case["seq"], blob)
        elif case["op"] == "open_presence":
            cipher_for(case).open_presence(case["client_id"], blob)
        else:  # pragma: no cover
            pytest.fail(f"unknown op {case['op']}")
    assert info.value.code == "encryption"


# --- round trips and AAD binding ---------------------------------------------


def test_round_trips_with_random_nonces() -> None:
    cipher = SessionCipher(CONTENT_KEY, "doc", "sess")
    a = cipher.seal_update("c1", 5, b"payload")
    b = cipher.seal_update("c1", 5, b"payload")
    assert a != b  # fresh nonce each time
    assert len(a) == 12 + len(b"payload") + 16
    assert cipher.open_update("c1", 5, a) == cipher.open_update("c1", 5, b) == b"payload"
    assert cipher.open_snapshot(9, cipher.seal_snapshot(9, b"snap")) == b"snap"
    assert cipher.open_presence("c1", cipher.seal_presence("c1", b"")) == b""


def test_seal_accepts_bytearray_and_memoryview() -> None:
    aad = associated_data("presence", "d", "s", "c")
    sealed = seal(bytearray(CONTENT_KEY), memoryview(b"xyz"), aad, nonce=bytearray(12))
    assert open_sealed(CONTENT_KEY, memoryview(sealed), aad) == b"xyz"


def test_new_session_secrets_defaults_and_round_trip() -> None:
    secrets = new_session_secrets(KEY, "doc", "sess", iterations=FAST)
    assert isinstance(secrets, SessionSecrets)
    assert len(secrets.salt) == SALT_BYTES
    assert len(secrets.content_key) == 32
    assert len(secrets.wrapped_key) == 12 + 32 + 16
    assert secrets.iterations == FAST
    assert "content_key" not in repr(secrets)
    again = new_session_secrets(KEY, "doc", "sess", iterations=FAST)
    assert again.salt != secrets.salt and again.content_key != secrets.content_key
    assert (
        unwrap_content_key(KEY, secrets.salt, FAST, secrets.wrapped_key, "doc", "sess")
        == secrets.content_key
    )
    assert DEFAULT_ITERATIONS == 210_000


UPDATE_ARGS = {"document_id": "doc", "session_id": "sess", "client_id": "c1", "counter": 3}


@pytest.mark.parametrize(
    "changed",
    [
        {"document_id": "doc2"},
        {"session_id": "sess2"},
        {"client_id": "c2"},
        {"counter": 4},
        {"document_id": "docs", "session_id": "ess"},  # boundary shift is not a collision
    ],
    ids=lambda d: ",".join(d),
)
def test_update_bound_to_every_field(changed: dict) -> None:
    sealed = SessionCipher(CONTENT_KEY, "doc", "sess").seal_update("c1", 3, b"x")
    args = {**UPDATE_ARGS, **changed}
    cipher = SessionCipher(CONTENT_KEY, args["document_id"], args["session_id"])
    with pytest.raises(EncryptionError):
        cipher.open_update(args["client_id"], args["counter"], sealed)


def test_snapshot_bound_to_seq_document_session() -> None:
    sealed = SessionCipher(CONTENT_KEY, "doc", "sess").seal_snapshot(7, b"snap")
    with pytest.raises(EncryptionError):
        SessionCipher(CONTENT_KEY, "doc", "sess").open_snapshot(8, sealed)
    with pytest.raises(EncryptionError):
        SessionCipher(CONTENT_KEY, "doc2", "sess").open_snapshot(7, sealed)
    with pytest.raises(EncryptionError):
        SessionCipher(CONTENT_KEY, "doc", "sess2").open_snapshot(7, sealed)


def test_presence_bound_to_client_document_session() -> None:
    sealed = SessionCipher(CONTENT_KEY, "doc", "sess").seal_presence("c1", b"p")
    with pytest.raises(EncryptionError):
        SessionCipher(CONTENT_KEY, "doc", "sess").open_presence("c2", sealed)
    with pytest.raises(EncryptionError):
        SessionCipher(CONTENT_KEY, "doc2", "sess").open_presence("c1", sealed)
    with pytest.raises(EncryptionError):
        SessionCipher(CONTENT_KEY, "doc", "sess2").open_presence("c1", sealed)


def test_kind_swaps_fail() -> None:
    cipher = SessionCipher(CONTENT_KEY, "doc", "sess")
    # "7" as a client id and 7 as a counter/seq encode identically; only the kind differs.
    update = cipher.seal_update("7", 7, b"x")
    snapshot = cipher.seal_snapshot(7, b"x")
    presence = cipher.seal_presence("7", b"x")
    with pytest.raises(EncryptionError):
        cipher.open_snapshot(7, update)
    with pytest.raises(EncryptionError):
        cipher.open_presence("7", snapshot)
    with pytest.raises(EncryptionError):
        cipher.open_update("7", 7, presence)
    # a wrapped key is not a snapshot either
    secrets = new_session_secrets(KEY, "doc", "sess", iterations=FAST, content_key=CONTENT_KEY)
    kek = derive_key(KEY, secrets.salt, FAST)
    with pytest.raises(EncryptionError):
        SessionCipher(kek, "doc", "sess").open_snapshot(0, secrets.wrapped_key)


def test_wrong_content_key_fails() -> None:
    sealed = SessionCipher(CONTENT_KEY, "doc", "sess").seal_update("c1", 0, b"x")
    with pytest.raises(EncryptionError):
        SessionCipher(bytes(32), "doc", "sess").open_update("c1", 0, sealed)


# --- key derivation policy ---------------------------------------------------


@pytest.mark.parametrize("iterations", [0, 1, MIN_ITERATIONS - 1, MAX_ITERATIONS + 1, -5])
def test_iteration_bounds_enforced(iterations: int) -> None:
    with pytest.raises(EncryptionError, match="iterations"):
        derive_key(KEY, SALT, iterations)
    with pytest.raises(EncryptionError):
        unwrap_content_key(KEY, SALT, iterations, bytes(60), "d", "s")
    with pytest.raises(EncryptionError):
        new_session_secrets(KEY, "d", "s", iterations=iterations)


@pytest.mark.parametrize("iterations", [True, 10_000.0, "10000", None])
def test_iterations_must_be_int(iterations: object) -> None:
    with pytest.raises(EncryptionError):
        derive_key(KEY, SALT, iterations)  # type: ignore[arg-type]


def test_iteration_bounds_inclusive() -> None:
    assert len(derive_key(KEY, SALT, MIN_ITERATIONS)) == 32
    assert (MIN_ITERATIONS, MAX_ITERATIONS) == (10_000, 10_000_000)


@pytest.mark.parametrize("salt", [b"", bytes(16), bytes(31), bytes(33)])
def test_salt_must_be_32_bytes(salt: bytes) -> None:
    with pytest.raises(EncryptionError, match="salt"):
        derive_key(KEY, salt, FAST)


def test_empty_or_non_string_key_refused() -> None:
    with pytest.raises(EncryptionError, match="empty"):
        derive_key("", SALT, FAST)
    with pytest.raises(EncryptionError):
        derive_key(b"bytes", SALT, FAST)  # type: ignore[arg-type]
    with pytest.raises(EncryptionError):
        derive_key("\ud800", SALT, FAST)


def test_derived_keys_are_cached_in_bounded_lru(monkeypatch: pytest.MonkeyPatch) -> None:
    crypto.clear_key_cache()
    calls = []
    real = crypto.PBKDF2HMAC

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(crypto, "PBKDF2HMAC", counting)
    first = derive_key(KEY, SALT, FAST)
    assert derive_key(KEY, SALT, FAST) == first
    assert len(calls) == 1
    derive_key(KEY + "!", SALT, FAST)
    derive_key(KEY, bytes(32), FAST)
    derive_key(KEY, SALT, FAST + 1)
    assert len(calls) == 4
    cache = crypto._key_cache
    for i in range(cache.maxsize + 5):
        cache.put((f"k{i}", SALT, FAST), bytes(32))
    assert len(cache) == cache.maxsize
    crypto.clear_key_cache()
    assert len(cache) == 0


# --- unwrap errors ----------------------------------------------------------


def test_unwrap_with_wrong_key_has_clear_message() -> None:
    secrets = new_session_secrets(KEY, "doc", "sess", iterations=FAST)
    with pytest.raises(EncryptionError) as info:
        unwrap_content_key("wrong", secrets.salt, FAST, secrets.wrapped_key, "doc", "sess")
    assert info.value.code == "encryption"
    assert isinstance(info.value, TandemError)
    assert "encryption key does not match" in str(info.value)
    assert "key hint" in info.value.message


def test_unwrap_bound_to_document_and_session() -> None:
    secrets = new_session_secrets(KEY, "doc", "sess", iterations=FAST)
    for doc, sess in [("doc2", "sess"), ("doc", "sess2"), ("docs", "ess")]:
        with pytest.raises(EncryptionError, match="does not match"):
            unwrap_content_key(KEY, secrets.salt, FAST, secrets.wrapped_key, doc, sess)


def test_unwrap_rejects_wrong_length_content_key() -> None:
    kek = derive_key(KEY, SALT, FAST)
    wrapped = seal(kek, bytes(16), associated_data("key", "d", "s"))
    with pytest.raises(EncryptionError, match="32 bytes"):
        unwrap_content_key(KEY, SALT, FAST, wrapped, "d", "s")


# --- argument validation ------------------------------------------------------


@pytest.mark.parametrize("key", [b"", bytes(16), bytes(31), bytes(33), "x" * 32])
def test_key_length_enforced(key: object) -> None:
    with pytest.raises(EncryptionError):
        seal(key, b"", b"")  # type: ignore[arg-type]
    with pytest.raises(EncryptionError):
        SessionCipher(key, "d", "s")  # type: ignore[arg-type]


@pytest.mark.parametrize("nonce", [b"", bytes(11), bytes(13)])
def test_nonce_length_enforced(nonce: bytes) -> None:
    with pytest.raises(EncryptionError, match="nonce"):
        seal(CONTENT_KEY, b"", b"", nonce=nonce)


def test_aad_field_types() -> None:
    assert associated_data("k", 0) == associated_data("k", "0")
    assert associated_data("k", -12) == associated_data("k", "-12")
    assert associated_data("k", 10**30).endswith(b"1" + b"0" * 30)
    with pytest.raises(TypeError):
        associated_data("k", True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        associated_data("k", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        associated_data("k", b"bytes")  # type: ignore[arg-type]
    with pytest.raises(EncryptionError):
        associated_data("k", "lone \udc00 surrogate")


@given(
    a=st.lists(st.one_of(st.text(), st.integers()), max_size=5),
    b=st.lists(st.one_of(st.text(), st.integers()), max_size=5),
)
@settings(max_examples=300)
def test_aad_is_injective(a: list, b: list) -> None:
    def norm(fields: list) -> list[str]:
        return [str(f) for f in fields]

    try:
        enc_a, enc_b = associated_data("k", *a), associated_data("k", *b)
    except EncryptionError:  # lone surrogates
        return
    assert (enc_a == enc_b) == (norm(a) == norm(b))


# --- garbage never escapes as anything but EncryptionError ---------------------


@given(blob=st.binary(max_size=80), counter=st.integers(min_value=0, max_value=2**64))
@settings(max_examples=300)
def test_garbage_blobs_raise_encryption_error_only(blob: bytes, counter: int) -> None:
    cipher = SessionCipher(CONTENT_KEY, "doc", "sess")
    for attempt in (
        lambda: cipher.open_update("c", counter, blob),
        lambda: cipher.open_snapshot(counter, blob),
        lambda: cipher.open_presence("c", blob),
        lambda: open_sealed(CONTENT_KEY, blob, b""),
    ):
        with pytest.raises(EncryptionError):
            attempt()


@given(blob=st.binary(max_size=28))
def test_short_blobs_say_too_short(blob: bytes) -> None:
    with pytest.raises(EncryptionError, match="too short" if len(blob) < 28 else "authentication"):
        open_sealed(CONTENT_KEY, blob, b"")


@given(blob=st.binary(max_size=100))
@settings(max_examples=50, deadline=None)
def test_garbage_wrapped_keys_raise_encryption_error_only(blob: bytes) -> None:
    with pytest.raises(EncryptionError):
        unwrap_content_key(KEY, SALT, FAST, blob, "doc", "sess")


@given(data=st.data())
@settings(max_examples=100)
def test_any_single_bit_flip_is_detected(data: st.DataObject) -> None:
    cipher = SessionCipher(CONTENT_KEY, "doc", "sess")
    plaintext = data.draw(st.binary(max_size=40))
    sealed = bytearray(cipher.seal_update("c", 1, plaintext))
    index = data.draw(st.integers(min_value=0, max_value=len(sealed) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    sealed[index] ^= 1 << bit
    with pytest.raises(EncryptionError):
        cipher.open_update("c", 1, bytes(sealed))


@pytest.mark.parametrize("bad", [5, "text", 1.5, [1, 2]])
def test_non_bytes_arguments_refused(bad: object) -> None:
    aad = associated_data("presence", "d", "s", "c")
    cipher = SessionCipher(CONTENT_KEY, "d", "s")
    with pytest.raises(EncryptionError):
        seal(CONTENT_KEY, bad, aad)  # type: ignore[arg-type]
    with pytest.raises(EncryptionError):
        seal(CONTENT_KEY, b"", bad)  # type: ignore[arg-type]
    with pytest.raises(EncryptionError):
        cipher.seal_presence("c", b"", nonce=bad)  # type: ignore[arg-type]
    with pytest.raises(EncryptionError):
        cipher.open_presence("c", bad)  # type: ignore[arg-type]
    with pytest.raises(EncryptionError):
        derive_key(KEY, bad, FAST)  # type: ignore[arg-type]
    with pytest.raises(EncryptionError):
        new_session_secrets(KEY, "d", "s", iterations=FAST, content_key=bad)  # type: ignore[arg-type]


@given(
    client_id=st.text(min_size=0, max_size=40),
    counter=st.integers(min_value=0, max_value=2**63),
)
@settings(max_examples=200)
def test_cached_update_aad_is_the_aad_byte_for_byte(client_id: str, counter: int) -> None:
    """SessionCipher caches the per-client prefix of an update's associated data; the
    result must stay exactly ``associated_data("update", doc, session, client, counter)``."""
    cipher = SessionCipher(bytes(32), "doc-1", "session-1")
    expected = crypto.associated_data("update", "doc-1", "session-1", client_id, counter)
    assert cipher._update_aad(client_id, counter) == expected
    assert cipher._update_aad(client_id, counter) == expected  # from the cache


def test_cached_update_aad_refuses_what_associated_data_refuses() -> None:
    cipher = SessionCipher(bytes(32), "doc-1", "session-1")
    with pytest.raises(TypeError):
        cipher._update_aad("client-1", True)  # type: ignore[arg-type]  # bool is not a counter
    with pytest.raises(crypto.EncryptionError):
        cipher._update_aad("\ud800", 1)  # a lone surrogate is not valid Unicode
