// Tandem client-side encryption (tandem/1): the byte-compatible twin of
// src/tandem/crypto.py. tests/vectors/crypto.json pins both.
//
//   kek         = PBKDF2-HMAC-SHA512(UTF-8(key), salt[32], iterations, dkLen = 32)
//   wrapped_key = seal(kek, content_key[32], aad("key", document_id, session_id))
//   seal(k, p, a) = nonce[12] || AES-256-GCM(k, nonce).encrypt(p, a)   (ciphertext || tag[16])
//   aad(kind, ...fields) = concat over ["tandem/1", kind, ...fields] of uint32_be(len(b)) || b,
//                          b = UTF-8 of the field (integers in decimal ASCII)
//   kinds: key [doc, session] · update [doc, session, client, counter]
//          snapshot [doc, session, seq] · presence [doc, session, client]
//
// Uses only WebCrypto (globalThis.crypto.subtle): browsers (secure contexts) and Node >= 20.
// Every function that touches a key is async. Byte arguments are Uint8Array (ArrayBuffer and
// other ArrayBuffer views are accepted); byte results are Uint8Array.

export const AAD_LABEL = 'tandem/1';
export const DEFAULT_ITERATIONS = 210_000;
export const MIN_ITERATIONS = 10_000;
export const MAX_ITERATIONS = 10_000_000;
export const SALT_BYTES = 32;
export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const WRONG_KEY_MESSAGE =
  "The encryption key does not match this document's session (wrong key for the key hint?)";

const KEY_CACHE_SIZE = 32;
const MAX_FIELD_BYTES = 0xffffffff;

/** A key could not be derived or unwrapped, or a ciphertext failed to decrypt. */
export class EncryptionError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'EncryptionError';
    this.code = 'encryption';
  }
}

// --- helpers -----------------------------------------------------------------

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) {
    throw new EncryptionError(
      'WebCrypto (crypto.subtle) is unavailable; Tandem needs a secure context (https or localhost)',
    );
  }
  return s;
}

/** @param {number} n */
function randomBytes(n) {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}

/**
 * `value` as a Uint8Array (a view of the same memory), or an EncryptionError.
 * @param {unknown} value
 * @param {string} what
 * @returns {Uint8Array<ArrayBuffer>}
 */
function bytes(value, what) {
  /** @type {Uint8Array} */
  let view;
  if (value instanceof Uint8Array) view = value;
  else if (value instanceof ArrayBuffer) view = new Uint8Array(value);
  else if (ArrayBuffer.isView(value)) view = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  else throw new EncryptionError(`${what} must be bytes (Uint8Array)`);
  // WebCrypto refuses views of shared memory: those are copied.
  if (typeof SharedArrayBuffer !== 'undefined' && view.buffer instanceof SharedArrayBuffer) return view.slice();
  return /** @type {Uint8Array<ArrayBuffer>} */ (view);
}

/**
 * @param {unknown} err
 * @returns {string}
 */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

/**
 * No lone surrogate (String.prototype.isWellFormed where the engine has it).
 * @param {string} text
 * @returns {boolean}
 */
function isWellFormed(text) {
  const native = /** @type {string & {isWellFormed?: () => boolean}} */ (text); // ES2024
  if (typeof native.isWellFormed === 'function') return native.isWellFormed();
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

const encoder = new TextEncoder();

/** @param {Uint8Array[]} parts */
function concat(parts) {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** @param {Uint8Array} data */
function hex(data) {
  let s = '';
  for (const b of data) s += b.toString(16).padStart(2, '0');
  return s;
}

// --- associated data --------------------------------------------------------

/**
 * @param {unknown} value
 * @returns {string}
 */
function fieldText(value) {
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString(10);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new TypeError(`associated data numbers must be safe integers (use BigInt), not ${value}`);
    }
    return Object.is(value, -0) ? '0' : value.toString(10);
  }
  throw new TypeError(`associated data fields are strings or integers, not ${typeof value}`);
}

/**
 * Encode ["tandem/1", kind, ...fields] as uint32-BE-length-prefixed UTF-8 parts.
 * @param {string} kind
 * @param {...(string|number|bigint)} fields
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function associatedData(kind, ...fields) {
  const parts = [];
  for (const item of [AAD_LABEL, kind, ...fields]) {
    const text = fieldText(item);
    if (!isWellFormed(text)) {
      throw new EncryptionError('associated data field is not valid Unicode (lone surrogate)');
    }
    const data = encoder.encode(text);
    if (data.length > MAX_FIELD_BYTES) {
      throw new EncryptionError('associated data field is longer than 2**32 - 1 bytes');
    }
    const prefix = new Uint8Array(4);
    new DataView(prefix.buffer).setUint32(0, data.length, false);
    parts.push(prefix, data);
  }
  return concat(parts);
}

// --- key derivation ---------------------------------------------------------

/** @param {unknown} iterations */
function checkIterations(iterations) {
  if (typeof iterations !== 'number' || !Number.isInteger(iterations)) {
    throw new EncryptionError(`PBKDF2 iterations must be an integer, not ${String(iterations)}`);
  }
  if (iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) {
    throw new EncryptionError(
      `PBKDF2 iterations ${iterations} out of range [${MIN_ITERATIONS}, ${MAX_ITERATIONS}]; ` +
        "refusing this session's key parameters",
    );
  }
}

/** @param {unknown} key */
function passwordBytes(key) {
  if (typeof key !== 'string') {
    throw new EncryptionError('the encryption provider must return the key as a string');
  }
  if (key.length === 0) throw new EncryptionError('the encryption provider returned an empty key');
  if (!isWellFormed(key)) throw new EncryptionError('the encryption key is not valid Unicode');
  return encoder.encode(key);
}

/** @param {unknown} salt */
function checkSalt(salt) {
  const s = bytes(salt, 'the salt');
  if (s.length !== SALT_BYTES) {
    throw new EncryptionError(`the salt must be ${SALT_BYTES} bytes, got ${s.length}`);
  }
  return s;
}

// LRU of derived keys: Map keeps insertion order; a hit is moved to the end. Values are
// promises, so concurrent derivations of the same key share one PBKDF2 run.
/** @type {Map<string, Promise<Uint8Array<ArrayBuffer>>>} */
const keyCache = new Map();

/** Forget every cached derived key (e.g. on logout). */
export function clearKeyCache() {
  keyCache.clear();
}

/** @returns {number} how many derived keys are cached (for tests). */
export function keyCacheSize() {
  return keyCache.size;
}

/**
 * PBKDF2-HMAC-SHA512 of the provider's key string: the 32-byte key-encryption key.
 * Cached per (key, salt, iterations) in a small LRU.
 * @param {string} key
 * @param {Uint8Array} salt 32 bytes
 * @param {number} iterations
 * @returns {Promise<Uint8Array<ArrayBuffer>>} 32 raw bytes (a fresh copy)
 */
export async function deriveKey(key, salt, iterations) {
  const password = passwordBytes(key);
  const s = checkSalt(salt);
  checkIterations(iterations);
  const entry = `${iterations}\u0000${hex(s)}\u0000${key}`;
  let pending = keyCache.get(entry);
  if (pending) {
    keyCache.delete(entry);
    keyCache.set(entry, pending);
  } else {
    pending = (async () => {
      const api = subtle();
      const base = await api.importKey('raw', password, 'PBKDF2', false, ['deriveBits']);
      const bits = await api.deriveBits(
        { name: 'PBKDF2', hash: 'SHA-512', salt: s.slice(), iterations },
        base,
        KEY_BYTES * 8,
      );
      return new Uint8Array(bits);
    })();
    keyCache.set(entry, pending);
    while (keyCache.size > KEY_CACHE_SIZE) {
      const oldest = keyCache.keys().next();
      if (oldest.done) break;
      keyCache.delete(oldest.value);
    }
    pending.catch(() => {
      if (keyCache.get(entry) === pending) keyCache.delete(entry);
    });
  }
  try {
    return (await pending).slice();
  } catch (err) {
    if (err instanceof EncryptionError) throw err;
    throw new EncryptionError(`key derivation failed: ${errorText(err)}`);
  }
}

// --- sealing ----------------------------------------------------------------

/**
 * @param {unknown} key raw bytes, or a CryptoKey
 * @returns {Promise<CryptoKey>}
 */
async function aesKey(key) {
  if (typeof CryptoKey !== 'undefined' && key instanceof CryptoKey) return key;
  const raw = bytes(key, 'an AES-256-GCM key');
  if (raw.length !== KEY_BYTES) {
    throw new EncryptionError(`an AES-256-GCM key must be ${KEY_BYTES} bytes`);
  }
  return subtle().importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

/**
 * @param {CryptoKey} cryptoKey
 * @param {unknown} plaintext bytes
 * @param {unknown} aad bytes
 * @param {unknown} nonce bytes, or none (a random one)
 */
async function sealWith(cryptoKey, plaintext, aad, nonce) {
  const iv = nonce === undefined || nonce === null ? randomBytes(NONCE_BYTES) : bytes(nonce, 'the nonce');
  if (iv.length !== NONCE_BYTES) throw new EncryptionError(`the nonce must be ${NONCE_BYTES} bytes`);
  const data = bytes(plaintext, 'the plaintext');
  const additionalData = bytes(aad, 'the associated data');
  const ct = await subtle().encrypt(
    { name: 'AES-GCM', iv, additionalData, tagLength: TAG_BYTES * 8 },
    cryptoKey,
    data,
  );
  return concat([iv, new Uint8Array(ct)]);
}

/**
 * @param {CryptoKey} cryptoKey
 * @param {unknown} blob bytes
 * @param {unknown} aad bytes
 */
async function openWith(cryptoKey, blob, aad) {
  const b = bytes(blob, 'the ciphertext');
  if (b.length < NONCE_BYTES + TAG_BYTES) {
    throw new EncryptionError(
      `the ciphertext is too short (${b.length} bytes; at least ${NONCE_BYTES + TAG_BYTES} expected)`,
    );
  }
  const additionalData = bytes(aad, 'the associated data');
  try {
    const pt = await subtle().decrypt(
      { name: 'AES-GCM', iv: b.subarray(0, NONCE_BYTES), additionalData, tagLength: TAG_BYTES * 8 },
      cryptoKey,
      b.subarray(NONCE_BYTES),
    );
    return new Uint8Array(pt);
  } catch (err) {
    // WebCrypto's one answer to a failed tag check; anything else is not an altered message.
    if (!(err !== null && typeof err === 'object' && 'name' in err && err.name === 'OperationError')) throw err;
    throw new EncryptionError(
      'the ciphertext failed authentication (wrong key, or it was altered or moved)',
    );
  }
}

/**
 * nonce || AES-256-GCM(key, nonce).encrypt(plaintext, aad); a random nonce unless one is given.
 * @param {ArrayBuffer|ArrayBufferView|CryptoKey} key 32 raw bytes (or an AES-GCM CryptoKey)
 * @param {ArrayBuffer|ArrayBufferView} plaintext
 * @param {ArrayBuffer|ArrayBufferView} aad
 * @param {{nonce?: Uint8Array}} [options]
 * @returns {Promise<Uint8Array<ArrayBuffer>>}
 */
export async function seal(key, plaintext, aad, { nonce } = {}) {
  return sealWith(await aesKey(key), plaintext, aad, nonce);
}

/**
 * Inverse of seal; any failure rejects with EncryptionError.
 * @param {ArrayBuffer|ArrayBufferView|CryptoKey} key
 * @param {ArrayBuffer|ArrayBufferView} blob
 * @param {ArrayBuffer|ArrayBufferView} aad
 * @returns {Promise<Uint8Array>}
 */
export async function openSealed(key, blob, aad) {
  return openWith(await aesKey(key), blob, aad);
}

// --- sessions ---------------------------------------------------------------

/**
 * Create a fresh content key and wrap it under the key derived from `key`.
 * salt, iterations and wrappedKey go to the server; contentKey never leaves the client.
 * @param {string} key the document's key (from the encryption provider)
 * @param {string} documentId
 * @param {string} sessionId
 * @param {{iterations?: number, salt?: Uint8Array | null, contentKey?: Uint8Array | null,
 *   nonce?: Uint8Array}} [options] fixed salt, content key and nonce: test vectors only
 * @returns {Promise<{salt: Uint8Array, iterations: number, wrappedKey: Uint8Array, contentKey: Uint8Array}>}
 */
export async function newSessionSecrets(
  key,
  documentId,
  sessionId,
  { iterations = DEFAULT_ITERATIONS, salt, contentKey, nonce } = {},
) {
  const s = salt === undefined || salt === null ? randomBytes(SALT_BYTES) : bytes(salt, 'the salt');
  const ck =
    contentKey === undefined || contentKey === null
      ? randomBytes(KEY_BYTES)
      : bytes(contentKey, 'the content key');
  if (ck.length !== KEY_BYTES) throw new EncryptionError(`the content key must be ${KEY_BYTES} bytes`);
  const kek = await deriveKey(key, s, iterations);
  const wrappedKey = await seal(kek, ck, associatedData('key', documentId, sessionId), { nonce });
  return { salt: s.slice(), iterations, wrappedKey, contentKey: ck.slice() };
}

/**
 * Recover a session's content key; a wrong key rejects with a clear EncryptionError.
 * @param {string} key the document's key (from the encryption provider)
 * @param {Uint8Array} salt
 * @param {number} iterations
 * @param {Uint8Array} wrappedKey
 * @param {string} documentId
 * @param {string} sessionId
 * @returns {Promise<Uint8Array>} 32 bytes
 */
export async function unwrapContentKey(key, salt, iterations, wrappedKey, documentId, sessionId) {
  const kek = await deriveKey(key, salt, iterations);
  let contentKey;
  try {
    contentKey = await openSealed(kek, wrappedKey, associatedData('key', documentId, sessionId));
  } catch (err) {
    if (err instanceof EncryptionError) throw new EncryptionError(WRONG_KEY_MESSAGE);
    throw err;
  }
  if (contentKey.length !== KEY_BYTES) {
    throw new EncryptionError(`the unwrapped content key is not ${KEY_BYTES} bytes`);
  }
  return contentKey;
}

/** Seals and opens one session's updates, snapshots and presence messages. */
export class SessionCipher {
  /**
   * @param {Uint8Array} contentKey 32 bytes
   * @param {string} documentId
   * @param {string} sessionId
   */
  constructor(contentKey, documentId, sessionId) {
    const raw = bytes(contentKey, 'the content key');
    if (raw.length !== KEY_BYTES) {
      throw new EncryptionError(`an AES-256-GCM key must be ${KEY_BYTES} bytes`);
    }
    this.documentId = documentId;
    this.sessionId = sessionId;
    this._key = aesKey(raw.slice()); // a non-extractable CryptoKey, imported once
    this._key.catch(() => {}); // surfaced on first use
  }

  /**
   * @param {string} kind
   * @param {...(string|number|bigint)} fields
   */
  _aad(kind, ...fields) {
    return associatedData(kind, this.documentId, this.sessionId, ...fields);
  }

  /**
   * @param {string|number|bigint} clientId
   * @param {number|bigint} counter
   * @param {Uint8Array} plaintext
   * @param {{nonce?: Uint8Array}} [options] a fixed nonce (test vectors only)
   */
  async sealUpdate(clientId, counter, plaintext, { nonce } = {}) {
    return sealWith(await this._key, plaintext, this._aad('update', clientId, counter), nonce);
  }

  /**
   * @param {string|number|bigint} clientId
   * @param {number|bigint} counter
   * @param {Uint8Array} blob
   */
  async openUpdate(clientId, counter, blob) {
    return openWith(await this._key, blob, this._aad('update', clientId, counter));
  }

  /**
   * @param {number|bigint} seq
   * @param {Uint8Array} plaintext
   * @param {{nonce?: Uint8Array}} [options] a fixed nonce (test vectors only)
   */
  async sealSnapshot(seq, plaintext, { nonce } = {}) {
    return sealWith(await this._key, plaintext, this._aad('snapshot', seq), nonce);
  }

  /**
   * @param {number|bigint} seq
   * @param {Uint8Array} blob
   */
  async openSnapshot(seq, blob) {
    return openWith(await this._key, blob, this._aad('snapshot', seq));
  }

  /**
   * @param {string|number|bigint} clientId
   * @param {Uint8Array} plaintext
   * @param {{nonce?: Uint8Array}} [options] a fixed nonce (test vectors only)
   */
  async sealPresence(clientId, plaintext, { nonce } = {}) {
    return sealWith(await this._key, plaintext, this._aad('presence', clientId), nonce);
  }

  /**
   * @param {string|number|bigint} clientId
   * @param {Uint8Array} blob
   */
  async openPresence(clientId, blob) {
    return openWith(await this._key, blob, this._aad('presence', clientId));
  }

  /**
   * A named version's name, bound to the snapshot's seq (docs/protocol.md).
   * @param {number} seq
   * @param {Uint8Array} plaintext
   * @param {{nonce?: Uint8Array}} [options] a fixed nonce (test vectors only)
   */
  async sealVersionName(seq, plaintext, { nonce } = {}) {
    return sealWith(await this._key, plaintext, this._aad('version_name', seq), nonce);
  }

  /**
   * @param {number} seq
   * @param {Uint8Array} blob
   */
  async openVersionName(seq, blob) {
    return openWith(await this._key, blob, this._aad('version_name', seq));
  }
}

// --- base64 (standard alphabet, with padding) --------------------------------

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * Standard base64 with padding, as the wire protocol carries ciphertext in JSON.
 * @param {Uint8Array} data
 * @returns {string}
 */
export function toBase64(data) {
  const b = bytes(data, 'base64 input');
  const CHUNK = 0x8000;
  let binary = '';
  for (let i = 0; i < b.length; i += CHUNK) {
    binary += String.fromCharCode.apply(null, /** @type {number[]} */ (/** @type {unknown} */ (b.subarray(i, i + CHUNK))));
  }
  return btoa(binary);
}

/**
 * Strict decoder: standard alphabet, padding required, no whitespace, canonical final bits.
 * @param {string} text
 * @returns {Uint8Array}
 */
export function fromBase64(text) {
  if (typeof text !== 'string' || !BASE64_RE.test(text)) {
    throw new EncryptionError('invalid base64 (standard alphabet with padding expected)');
  }
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  if (padding) {
    // the unused low bits of the last symbol must be zero (canonical encoding)
    const last = BASE64_ALPHABET.indexOf(text[text.length - padding - 1]);
    if (last & (padding === 2 ? 0x0f : 0x03)) {
      throw new EncryptionError('invalid base64 (non-canonical final bits)');
    }
  }
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
