"""Generate tests/vectors/crypto.json: byte-exact vectors for Tandem's encryption.

This is an independent reference implementation written straight from the
specification (hashlib's PBKDF2 and a bare AES-GCM); it does not import
``tandem``, so the vectors check ``tandem.crypto`` and ``crypto.js`` rather than
echo them. Run ``python tests/vectors/make_crypto_vectors.py`` to rewrite the
file; ``tests/test_crypto.py`` asserts the file is exactly what this produces.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import sys
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

OUTPUT = Path(__file__).with_name("crypto.json")


def aad(kind: str, *fields: str | int) -> bytes:
    out = b""
    for item in ("tandem/1", kind, *fields):
        data = (item if isinstance(item, str) else str(item)).encode("utf-8")
        out += struct.pack(">I", len(data)) + data
    return out


def kdf(key: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha512", key.encode("utf-8"), salt, iterations, dklen=32)


def seal(key: bytes, nonce: bytes, plaintext: bytes, associated: bytes) -> bytes:
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def flip(blob: bytes, index: int) -> bytes:
    out = bytearray(blob)
    out[index] ^= 0x01
    return bytes(out)


def counting(n: int, start: int = 0) -> bytes:
    return bytes((start + i) % 256 for i in range(n))


def build() -> dict:
    salt = counting(32, 0xA0)
    content_key = counting(32, 0x40)
    doc = "dökument-✓"
    session = "3f2c9a7e-5b1d-4c8e-9a0f-6d2e1b7c4a90"
    client = "client-🙂-7"

    aad_cases = [
        ("key", ["doc-1", "session-1"]),
        ("key", [doc, session]),
        ("update", ["doc-1", "session-1", "client-a", 0]),
        ("update", [doc, session, client, 4294967296]),
        ("snapshot", ["doc-1", "session-1", 42]),
        ("snapshot", ["", "", 0]),
        ("presence", ["doc-1", "session-1", "client-a"]),
        ("presence", ["", "", ""]),
        ("update", ["d", "s", "c", -1]),
        ("", []),
    ]
    aad_vectors = [
        {"kind": kind, "fields": fields, "aad_hex": aad(kind, *fields).hex()}
        for kind, fields in aad_cases
    ]

    kdf_cases = [
        ("correct horse battery staple", salt, 10_000),
        ("pässwörd ✓ 🔑", counting(32, 0x00), 10_000),
        ("k", bytes(32), 10_000),
        ("correct horse battery staple", salt, 210_000),
    ]
    derive_vectors = [
        {
            "key": key,
            "salt_hex": s.hex(),
            "iterations": it,
            "kek_hex": kdf(key, s, it).hex(),
        }
        for key, s, it in kdf_cases
    ]

    secrets_cases = [
        ("correct horse battery staple", "doc-1", "session-1", counting(12, 0x10), 10_000),
        ("pässwörd ✓ 🔑", doc, session, counting(12, 0x20), 10_000),
    ]
    session_vectors = []
    for key, d, s, nonce, it in secrets_cases:
        kek = kdf(key, salt, it)
        session_vectors.append(
            {
                "key": key,
                "document_id": d,
                "session_id": s,
                "salt_hex": salt.hex(),
                "iterations": it,
                "content_key_hex": content_key.hex(),
                "nonce_hex": nonce.hex(),
                "kek_hex": kek.hex(),
                "wrapped_key_hex": seal(kek, nonce, content_key, aad("key", d, s)).hex(),
            }
        )

    seal_cases = [
        (counting(32, 0x80), counting(12, 0x01), b"", b""),
        (counting(32, 0x80), counting(12, 0x02), b"hello, tandem", aad("presence", "a", "b", "c")),
        (bytes(32), bytes(12), counting(100), b"\x00\x01\x02"),
    ]
    seal_vectors = [
        {
            "key_hex": k.hex(),
            "nonce_hex": n.hex(),
            "plaintext_hex": p.hex(),
            "aad_hex": a.hex(),
            "sealed_hex": seal(k, n, p, a).hex(),
        }
        for k, n, p, a in seal_cases
    ]

    update_cases = [
        ("doc-1", "session-1", "client-a", 0, counting(12, 0x30), b"\x01\x02\x03 yjs update"),
        (doc, session, client, 9007199254740991, counting(12, 0x31), "<p>héllo ✓</p>".encode()),
        ("doc-1", "session-1", "client-a", 1, counting(12, 0x32), b""),
    ]
    update_vectors = [
        {
            "content_key_hex": content_key.hex(),
            "document_id": d,
            "session_id": s,
            "client_id": c,
            "counter": n,
            "nonce_hex": nonce.hex(),
            "plaintext_hex": p.hex(),
            "sealed_hex": seal(content_key, nonce, p, aad("update", d, s, c, n)).hex(),
        }
        for d, s, c, n, nonce, p in update_cases
    ]

    snapshot_cases = [
        ("doc-1", "session-1", 0, counting(12, 0x50), b"initial snapshot"),
        (doc, session, 123456789, counting(12, 0x51), counting(300, 7)),
    ]
    snapshot_vectors = [
        {
            "content_key_hex": content_key.hex(),
            "document_id": d,
            "session_id": s,
            "seq": q,
            "nonce_hex": nonce.hex(),
            "plaintext_hex": p.hex(),
            "sealed_hex": seal(content_key, nonce, p, aad("snapshot", d, s, q)).hex(),
        }
        for d, s, q, nonce, p in snapshot_cases
    ]

    presence_cases = [
        ("doc-1", "session-1", "client-a", counting(12, 0x60), b'{"cursor":{"index":3}}'),
        (doc, session, client, counting(12, 0x61), '{"name":"Zoë"}'.encode()),
    ]
    presence_vectors = [
        {
            "content_key_hex": content_key.hex(),
            "document_id": d,
            "session_id": s,
            "client_id": c,
            "nonce_hex": nonce.hex(),
            "plaintext_hex": p.hex(),
            "sealed_hex": seal(content_key, nonce, p, aad("presence", d, s, c)).hex(),
        }
        for d, s, c, nonce, p in presence_cases
    ]

    # Negative vectors: every one must fail to open with an encryption error.
    good_update = bytes.fromhex(update_vectors[0]["sealed_hex"])
    good_snapshot = bytes.fromhex(snapshot_vectors[0]["sealed_hex"])
    good_presence = bytes.fromhex(presence_vectors[0]["sealed_hex"])
    good_wrapped = bytes.fromhex(session_vectors[0]["wrapped_key_hex"])
    base_update = {
        "content_key_hex": content_key.hex(),
        "document_id": "doc-1",
        "session_id": "session-1",
        "client_id": "client-a",
        "counter": 0,
    }
    base_snapshot = {
        "content_key_hex": content_key.hex(),
        "document_id": "doc-1",
        "session_id": "session-1",
        "seq": 0,
    }
    base_presence = {
        "content_key_hex": content_key.hex(),
        "document_id": "doc-1",
        "session_id": "session-1",
        "client_id": "client-a",
    }

    def neg(name: str, op: str, blob: bytes, **args: object) -> dict:
        return {"name": name, "op": op, **args, "sealed_hex": blob.hex()}

    negative = [
        neg("update: tampered tag", "open_update", flip(good_update, -1), **base_update),
        neg("update: tampered ciphertext", "open_update", flip(good_update, 12), **base_update),
        neg("update: tampered nonce", "open_update", flip(good_update, 0), **base_update),
        neg("update: truncated to 27 bytes", "open_update", good_update[:27], **base_update),
        neg("update: empty blob", "open_update", b"", **base_update),
        neg("update: wrong counter", "open_update", good_update, **{**base_update, "counter": 1}),
        neg(
            "update: wrong client",
            "open_update",
            good_update,
            **{**base_update, "client_id": "client-b"},
        ),
        neg(
            "update: wrong document",
            "open_update",
            good_update,
            **{**base_update, "document_id": "doc-2"},
        ),
        neg(
            "update: wrong session",
            "open_update",
            good_update,
            **{**base_update, "session_id": "session-2"},
        ),
        neg(
            "update: wrong content key",
            "open_update",
            good_update,
            **{**base_update, "content_key_hex": counting(32, 0x41).hex()},
        ),
        neg("snapshot: wrong seq", "open_snapshot", good_snapshot, **{**base_snapshot, "seq": 1}),
        neg("snapshot: tampered tag", "open_snapshot", flip(good_snapshot, -1), **base_snapshot),
        neg(
            "presence: wrong client",
            "open_presence",
            good_presence,
            **{**base_presence, "client_id": "client-b"},
        ),
        neg("kind swap: update opened as snapshot", "open_snapshot", good_update, **base_snapshot),
        neg(
            "kind swap: presence opened as update",
            "open_update",
            good_presence,
            **base_update,
        ),
        neg(
            "unwrap: wrong key string",
            "unwrap",
            good_wrapped,
            key="correct horse battery stapler",
            salt_hex=salt.hex(),
            iterations=10_000,
            document_id="doc-1",
            session_id="session-1",
        ),
        neg(
            "unwrap: wrong document",
            "unwrap",
            good_wrapped,
            key="correct horse battery staple",
            salt_hex=salt.hex(),
            iterations=10_000,
            document_id="doc-2",
            session_id="session-1",
        ),
        neg(
            "unwrap: tampered wrapped key",
            "unwrap",
            flip(good_wrapped, 20),
            key="correct horse battery staple",
            salt_hex=salt.hex(),
            iterations=10_000,
            document_id="doc-1",
            session_id="session-1",
        ),
    ]

    base64_vectors = [
        {"hex": data.hex(), "base64": base64.b64encode(data).decode("ascii")}
        for data in (
            b"",
            b"f",
            b"fo",
            b"foo",
            b"foob",
            b"fooba",
            b"foobar",
            bytes(range(256)),
            b"\xfb\xff\xbf",
            good_update,
        )
    ]

    return {
        "description": (
            "Tandem encryption test vectors (tandem/1). Generated by "
            "tests/vectors/make_crypto_vectors.py; do not edit by hand."
        ),
        "aad": aad_vectors,
        "derive_key": derive_vectors,
        "session_secrets": session_vectors,
        "seal": seal_vectors,
        "update": update_vectors,
        "snapshot": snapshot_vectors,
        "presence": presence_vectors,
        "negative": negative,
        "base64": base64_vectors,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
