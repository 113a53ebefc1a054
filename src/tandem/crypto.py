"""Client-side encryption: key derivation, key wrapping and message envelopes.

Only clients use this module; the server never holds a key. The construction
(the JavaScript twin in ``clients/tinymce/src/crypto.js`` is byte-compatible,
``tests/vectors/crypto.json`` pins both):

* ``kek = PBKDF2-HMAC-SHA512(UTF-8(key), salt, iterations, dkLen=32)`` where
  ``key`` is the string from the integrator's encryption provider and ``salt``
  (32 random bytes) and ``iterations`` are stored with the session.
* The content key is 32 random bytes per session, stored only wrapped:
  ``wrapped_key = seal(kek, content_key, aad("key", document_id, session_id))``.
* ``seal(key, plaintext, aad) = nonce(12) || AES-256-GCM(key, nonce, plaintext, aad)``
  (ciphertext then the 16-byte tag).
* ``aad(kind, *fields)`` is ``uint32_be(len(b)) || b`` over
  ``["tandem/1", kind, *fields]``, each ``b`` the UTF-8 bytes of the field
  (integers in decimal ASCII). Kinds: ``key`` [document, session], ``update``
  [document, session, client, counter], ``snapshot`` [document, session, seq],
  ``presence`` [document, session, client].
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from tandem.errors import TandemError

__all__ = [
    "AAD_LABEL",
    "DEFAULT_ITERATIONS",
    "KEY_BYTES",
    "MAX_ITERATIONS",
    "MIN_ITERATIONS",
    "NONCE_BYTES",
    "SALT_BYTES",
    "TAG_BYTES",
    "EncryptionError",
    "SessionCipher",
    "SessionSecrets",
    "associated_data",
    "clear_key_cache",
    "derive_key",
    "new_session_secrets",
    "open_sealed",
    "seal",
    "unwrap_content_key",
]

AAD_LABEL = "tandem/1"
DEFAULT_ITERATIONS = 210_000
MIN_ITERATIONS = 10_000
MAX_ITERATIONS = 10_000_000
SALT_BYTES = 32
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_KEY_CACHE_SIZE = 32
_MAX_FIELD_BYTES = 0xFFFFFFFF

WRONG_KEY_MESSAGE = (
    "The encryption key does not match this document's session (wrong key for the key hint?)"
)


class EncryptionError(TandemError):
    """A key could not be derived or unwrapped, or a ciphertext failed to decrypt."""

    code = "encryption"


# --- associated data --------------------------------------------------------


_MAX_CACHED_PREFIXES = 4096  # SessionCipher's per-client-id AAD prefixes


def _field_bytes(value: str | int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"associated data fields are str or int, not {type(value).__name__}")
    text = value if isinstance(value, str) else str(value)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncryptionError(f"associated data field is not valid Unicode: {exc}") from None
    if len(data) > _MAX_FIELD_BYTES:
        raise EncryptionError("associated data field is longer than 2**32 - 1 bytes")
    return data


def associated_data(kind: str, *fields: str | int) -> bytes:
    """Encode ``["tandem/1", kind, *fields]`` as length-prefixed (uint32 BE) UTF-8 parts."""
    parts = []
    for item in (AAD_LABEL, kind, *fields):
        data = _field_bytes(item)
        parts.append(struct.pack(">I", len(data)))
        parts.append(data)
    return b"".join(parts)


# --- key derivation ---------------------------------------------------------


def _check_iterations(iterations: int) -> None:
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise EncryptionError(f"PBKDF2 iterations must be an integer, not {iterations!r}")
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise EncryptionError(
            f"PBKDF2 iterations {iterations} out of range "
            f"[{MIN_ITERATIONS}, {MAX_ITERATIONS}]; refusing this session's key parameters"
        )


def _password_bytes(key: str) -> bytes:
    if not isinstance(key, str):
        raise EncryptionError("the encryption provider must return the key as a string")
    if not key:
        raise EncryptionError("the encryption provider returned an empty key")
    try:
        return key.encode("utf-8")
    except UnicodeEncodeError:
        raise EncryptionError("the encryption key is not valid Unicode") from None


def _check_salt(salt: bytes) -> bytes:
    salt = _as_bytes(salt, "the salt")
    if len(salt) != SALT_BYTES:
        raise EncryptionError(f"the salt must be {SALT_BYTES} bytes, got {len(salt)}")
    return salt


class _KeyCache:
    """A small thread-safe LRU of derived keys; PBKDF2 is deliberately slow."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[str, bytes, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, entry: tuple[str, bytes, int]) -> bytes | None:
        with self._lock:
            value = self._items.get(entry)
            if value is not None:
                self._items.move_to_end(entry)
            return value

    def put(self, entry: tuple[str, bytes, int], value: bytes) -> None:
        with self._lock:
            self._items[entry] = value
            self._items.move_to_end(entry)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


_key_cache = _KeyCache(_KEY_CACHE_SIZE)


def clear_key_cache() -> None:
    """Forget every cached derived key (e.g. on logout)."""
    _key_cache.clear()


def derive_key(key: str, salt: bytes, iterations: int) -> bytes:
    """PBKDF2-HMAC-SHA512 of the provider's key string: the 32-byte key-encryption key.

    Results are cached per ``(key, salt, iterations)`` in a small LRU. This is
    CPU-bound (~0.1-0.3 s at the default); async callers should run it in a thread.
    """
    password = _password_bytes(key)
    salt = _check_salt(salt)
    _check_iterations(iterations)
    entry = (key, salt, iterations)
    cached = _key_cache.get(entry)
    if cached is not None:
        return cached
    kdf = PBKDF2HMAC(algorithm=hashes.SHA512(), length=KEY_BYTES, salt=salt, iterations=iterations)
    derived = kdf.derive(password)
    _key_cache.put(entry, derived)
    return derived


# --- sealing ----------------------------------------------------------------


def _as_bytes(value: object, what: str) -> bytes:
    # bytes(5) would silently be five zero bytes: accept only bytes-like objects.
    if not isinstance(value, bytes | bytearray | memoryview):
        raise EncryptionError(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _aesgcm(key: bytes) -> AESGCM:
    raw = _as_bytes(key, "an AES-256-GCM key")
    if len(raw) != KEY_BYTES:
        raise EncryptionError(f"an AES-256-GCM key must be {KEY_BYTES} bytes")
    return AESGCM(raw)


def _seal_with(aes: AESGCM, plaintext: bytes, aad: bytes, nonce: bytes | None) -> bytes:
    iv = os.urandom(NONCE_BYTES) if nonce is None else _as_bytes(nonce, "the nonce")
    if len(iv) != NONCE_BYTES:
        raise EncryptionError(f"the nonce must be {NONCE_BYTES} bytes")
    data = _as_bytes(plaintext, "the plaintext")
    return iv + aes.encrypt(iv, data, _as_bytes(aad, "the associated data"))


def _open_with(aes: AESGCM, blob: bytes, aad: bytes) -> bytes:
    blob = _as_bytes(blob, "the ciphertext")
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise EncryptionError(
            f"the ciphertext is too short ({len(blob)} bytes; at least "
            f"{NONCE_BYTES + TAG_BYTES} expected)"
        )
    try:
        return aes.decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _as_bytes(aad, "the associated data")
        )
    except InvalidTag:
        raise EncryptionError(
            "the ciphertext failed authentication (wrong key, or it was altered or moved)"
        ) from None


def seal(key: bytes, plaintext: bytes, aad: bytes, *, nonce: bytes | None = None) -> bytes:
    """``nonce || AES-256-GCM(key, nonce).encrypt(plaintext, aad)``; a random nonce by default."""
    return _seal_with(_aesgcm(key), plaintext, aad, nonce)


def open_sealed(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Inverse of :func:`seal`; any failure raises :class:`EncryptionError`."""
    return _open_with(_aesgcm(key), blob, aad)


# --- sessions ---------------------------------------------------------------


@dataclass(frozen=True)
class SessionSecrets:
    """What a session creator produces: the public parameters plus the content key.

    ``salt``, ``iterations`` and ``wrapped_key`` go to the server; ``content_key``
    never leaves the client.
    """

    salt: bytes
    iterations: int
    wrapped_key: bytes
    content_key: bytes = field(repr=False)


def new_session_secrets(
    key: str,
    document_id: str,
    session_id: str,
    *,
    iterations: int = DEFAULT_ITERATIONS,
    salt: bytes | None = None,
    content_key: bytes | None = None,
    nonce: bytes | None = None,
) -> SessionSecrets:
    """Create a fresh content key and wrap it under the key derived from ``key``."""
    if salt is None:
        salt = os.urandom(SALT_BYTES)
    if content_key is None:
        content_key = os.urandom(KEY_BYTES)
    content_key = _as_bytes(content_key, "the content key")
    if len(content_key) != KEY_BYTES:
        raise EncryptionError(f"the content key must be {KEY_BYTES} bytes")
    kek = derive_key(key, salt, iterations)
    wrapped = seal(kek, content_key, associated_data("key", document_id, session_id), nonce=nonce)
    return SessionSecrets(
        salt=bytes(salt), iterations=iterations, wrapped_key=wrapped, content_key=bytes(content_key)
    )


def unwrap_content_key(
    key: str,
    salt: bytes,
    iterations: int,
    wrapped_key: bytes,
    document_id: str,
    session_id: str,
) -> bytes:
    """Recover a session's content key; a wrong key raises a clear :class:`EncryptionError`."""
    kek = derive_key(key, salt, iterations)
    try:
        content_key = open_sealed(kek, wrapped_key, associated_data("key", document_id, session_id))
    except EncryptionError:
        raise EncryptionError(WRONG_KEY_MESSAGE) from None
    if len(content_key) != KEY_BYTES:
        raise EncryptionError(f"the unwrapped content key is not {KEY_BYTES} bytes")
    return content_key


class SessionCipher:
    """Seals and opens one session's updates, snapshots and presence messages."""

    def __init__(self, content_key: bytes, document_id: str, session_id: str) -> None:
        self._aes = _aesgcm(content_key)
        self.document_id = document_id
        self.session_id = session_id
        # associated_data("update", document, session, client id) per client id: a
        # client opens every collaborator's updates, and the prefix never changes
        self._update_prefixes: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"SessionCipher(document_id={self.document_id!r}, session_id={self.session_id!r})"

    def _aad(self, kind: str, *fields: str | int) -> bytes:
        return associated_data(kind, self.document_id, self.session_id, *fields)

    def _update_aad(self, client_id: str, counter: int) -> bytes:
        """``_aad("update", client_id, counter)``, byte for byte, from a cached prefix."""
        prefix = self._update_prefixes.get(client_id)
        if prefix is None:
            if len(self._update_prefixes) >= _MAX_CACHED_PREFIXES:
                self._update_prefixes.clear()
            prefix = associated_data("update", self.document_id, self.session_id, client_id)
            self._update_prefixes[client_id] = prefix
        last = _field_bytes(counter)
        return prefix + struct.pack(">I", len(last)) + last

    def seal_update(
        self, client_id: str, counter: int, plaintext: bytes, *, nonce: bytes | None = None
    ) -> bytes:
        return _seal_with(self._aes, plaintext, self._update_aad(client_id, counter), nonce)

    def open_update(self, client_id: str, counter: int, blob: bytes) -> bytes:
        return _open_with(self._aes, blob, self._update_aad(client_id, counter))

    def seal_snapshot(self, seq: int, plaintext: bytes, *, nonce: bytes | None = None) -> bytes:
        return _seal_with(self._aes, plaintext, self._aad("snapshot", seq), nonce)

    def open_snapshot(self, seq: int, blob: bytes) -> bytes:
        return _open_with(self._aes, blob, self._aad("snapshot", seq))

    def seal_presence(
        self, client_id: str, plaintext: bytes, *, nonce: bytes | None = None
    ) -> bytes:
        return _seal_with(self._aes, plaintext, self._aad("presence", client_id), nonce)

    def open_presence(self, client_id: str, blob: bytes) -> bytes:
        return _open_with(self._aes, blob, self._aad("presence", client_id))

    def seal_version_name(self, seq: int, plaintext: bytes, *, nonce: bytes | None = None) -> bytes:
        """A named version's name, bound to the snapshot's seq (docs/protocol.md)."""
        return _seal_with(self._aes, plaintext, self._aad("version_name", seq), nonce)

    def open_version_name(self, seq: int, blob: bytes) -> bytes:
        return _open_with(self._aes, blob, self._aad("version_name", seq))
