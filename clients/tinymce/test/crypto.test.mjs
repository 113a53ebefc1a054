// crypto.js against the shared vectors (tests/vectors/crypto.json), plus round trips and
// tamper failures. Run: cd clients/tinymce && node --test test/
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  DEFAULT_ITERATIONS,
  MAX_ITERATIONS,
  MIN_ITERATIONS,
  SALT_BYTES,
  EncryptionError,
  SessionCipher,
  associatedData,
  clearKeyCache,
  deriveKey,
  fromBase64,
  keyCacheSize,
  newSessionSecrets,
  openSealed,
  seal,
  toBase64,
  unwrapContentKey,
} from '../src/crypto.js';

const VECTORS = JSON.parse(
  readFileSync(new URL('../../../tests/vectors/crypto.json', import.meta.url), 'utf8'),
);

/** @param {string} s hex */
const h = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
/** @param {Uint8Array} b */
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
/** @param {string} s */
const utf8 = (s) => new TextEncoder().encode(s);

const KEY = 'correct horse battery staple';
const SALT = Uint8Array.from({ length: 32 }, (_, i) => i);
const CONTENT_KEY = Uint8Array.from({ length: 32 }, (_, i) => 100 + i);
const FAST = MIN_ITERATIONS;

/**
 * @param {unknown} err
 * @returns {err is EncryptionError}
 */
const isEncryptionError = (err) => err instanceof EncryptionError && err.code === 'encryption';
// Where a test hands a function a value of the wrong type on purpose, the value is cast to
// `any`: the function's runtime checks are what is under test.

/** @param {{content_key_hex: string, document_id: string, session_id: string}} c a vector */
const cipherFor = (c) => new SessionCipher(h(c.content_key_hex), c.document_id, c.session_id);

describe('shared vectors', () => {
  test('every section is present', () => {
    for (const section of [
      'aad', 'derive_key', 'session_secrets', 'seal', 'update', 'snapshot', 'presence',
      'negative', 'base64',
    ]) {
      assert.ok(VECTORS[section].length > 0, section);
    }
  });

  test('aad', () => {
    for (const c of VECTORS.aad) {
      assert.equal(hex(associatedData(c.kind, ...c.fields)), c.aad_hex, JSON.stringify(c.fields));
    }
  });

  test('derive_key', async () => {
    for (const c of VECTORS.derive_key) {
      const kek = await deriveKey(c.key, h(c.salt_hex), c.iterations);
      assert.ok(kek instanceof Uint8Array);
      assert.equal(hex(kek), c.kek_hex, `${c.key} @ ${c.iterations}`);
    }
  });

  test('session_secrets: wrap and unwrap', async () => {
    for (const c of VECTORS.session_secrets) {
      const secrets = await newSessionSecrets(c.key, c.document_id, c.session_id, {
        iterations: c.iterations,
        salt: h(c.salt_hex),
        contentKey: h(c.content_key_hex),
        nonce: h(c.nonce_hex),
      });
      assert.equal(hex(secrets.wrappedKey), c.wrapped_key_hex);
      assert.equal(hex(secrets.salt), c.salt_hex);
      assert.equal(secrets.iterations, c.iterations);
      assert.equal(hex(secrets.contentKey), c.content_key_hex);
      const unwrapped = await unwrapContentKey(
        c.key, h(c.salt_hex), c.iterations, h(c.wrapped_key_hex), c.document_id, c.session_id,
      );
      assert.equal(hex(unwrapped), c.content_key_hex);
    }
  });

  test('seal / openSealed', async () => {
    for (const c of VECTORS.seal) {
      const key = h(c.key_hex);
      const aad = h(c.aad_hex);
      const sealed = await seal(key, h(c.plaintext_hex), aad, { nonce: h(c.nonce_hex) });
      assert.equal(hex(sealed), c.sealed_hex);
      assert.equal(hex(await openSealed(key, sealed, aad)), c.plaintext_hex);
    }
  });

  test('update', async () => {
    for (const c of VECTORS.update) {
      const cipher = cipherFor(c);
      const sealed = await cipher.sealUpdate(c.client_id, c.counter, h(c.plaintext_hex), {
        nonce: h(c.nonce_hex),
      });
      assert.equal(hex(sealed), c.sealed_hex);
      const opened = await cipher.openUpdate(c.client_id, c.counter, h(c.sealed_hex));
      assert.equal(hex(opened), c.plaintext_hex);
    }
  });

  test('snapshot', async () => {
    for (const c of VECTORS.snapshot) {
      const cipher = cipherFor(c);
      const sealed = await cipher.sealSnapshot(c.seq, h(c.plaintext_hex), { nonce: h(c.nonce_hex) });
      assert.equal(hex(sealed), c.sealed_hex);
      assert.equal(hex(await cipher.openSnapshot(c.seq, h(c.sealed_hex))), c.plaintext_hex);
    }
  });

  test('presence', async () => {
    for (const c of VECTORS.presence) {
      const cipher = cipherFor(c);
      const sealed = await cipher.sealPresence(c.client_id, h(c.plaintext_hex), {
        nonce: h(c.nonce_hex),
      });
      assert.equal(hex(sealed), c.sealed_hex);
      assert.equal(hex(await cipher.openPresence(c.client_id, h(c.sealed_hex))), c.plaintext_hex);
    }
  });

  test('negative vectors all fail with EncryptionError', async () => {
    for (const c of VECTORS.negative) {
      const blob = h(c.sealed_hex);
      let attempt;
      switch (c.op) {
        case 'unwrap':
          attempt = unwrapContentKey(
            c.key, h(c.salt_hex), c.iterations, blob, c.document_id, c.session_id,
          );
          break;
        case 'open_update':
          attempt = cipherFor(c).openUpdate(c.client_id, c.counter, blob);
          break;
        case 'open_snapshot':
          attempt = cipherFor(c).openSnapshot(c.seq, blob);
          break;
        case 'open_presence':
          attempt = cipherFor(c).openPresence(c.client_id, blob);
          break;
        default:
          assert.fail(`unknown op ${c.op}`);
      }
      await assert.rejects(attempt, isEncryptionError, c.name);
    }
  });

  test('base64', () => {
    for (const c of VECTORS.base64) {
      assert.equal(toBase64(h(c.hex)), c.base64);
      assert.equal(hex(fromBase64(c.base64)), c.hex);
    }
  });
});

describe('associatedData', () => {
  test('hand-built encoding', () => {
    const expected = new Uint8Array([
      0, 0, 0, 8, ...utf8('tandem/1'),
      0, 0, 0, 6, ...utf8('update'),
      0, 0, 0, 14, ...utf8('dökument-✓x'),
      0, 0, 0, 0,
      0, 0, 0, 1, ...utf8('c'),
      0, 0, 0, 2, ...utf8('12'),
    ]);
    assert.deepEqual(associatedData('update', 'dökument-✓x', '', 'c', 12), expected);
  });

  test('integers: numbers, BigInt, negative, -0', () => {
    assert.deepEqual(associatedData('k', 0), associatedData('k', '0'));
    assert.deepEqual(associatedData('k', -0), associatedData('k', '0'));
    assert.deepEqual(associatedData('k', -12), associatedData('k', '-12'));
    assert.deepEqual(associatedData('k', 10n ** 30n), associatedData('k', '1' + '0'.repeat(30)));
  });

  test('rejects non-integers, unsafe numbers, other types and lone surrogates', () => {
    assert.throws(() => associatedData('k', 1.5), TypeError);
    assert.throws(() => associatedData('k', 2 ** 53), TypeError);
    assert.throws(() => associatedData('k', NaN), TypeError);
    assert.throws(() => associatedData('k', /** @type {any} */ (true)), TypeError);
    assert.throws(() => associatedData('k', /** @type {any} */ (null)), TypeError);
    assert.throws(() => associatedData('k', /** @type {any} */ (new Uint8Array(1))), TypeError);
    assert.throws(() => associatedData('k', 'lone \udc00'), isEncryptionError);
    assert.throws(() => associatedData('k', 'lone \ud800 x'), isEncryptionError);
  });
});

describe('round trips and binding', () => {
  test('random nonces, all kinds', async () => {
    const cipher = new SessionCipher(CONTENT_KEY, 'doc', 'sess');
    const a = await cipher.sealUpdate('c1', 5, utf8('payload'));
    const b = await cipher.sealUpdate('c1', 5, utf8('payload'));
    assert.notEqual(hex(a), hex(b));
    assert.equal(a.length, 12 + 7 + 16);
    assert.deepEqual(await cipher.openUpdate('c1', 5, a), utf8('payload'));
    assert.deepEqual(await cipher.openUpdate('c1', 5, b), utf8('payload'));
    assert.deepEqual(await cipher.openSnapshot(9, await cipher.sealSnapshot(9, utf8('snap'))), utf8('snap'));
    assert.deepEqual(
      await cipher.openPresence('c1', await cipher.sealPresence('c1', new Uint8Array())),
      new Uint8Array(),
    );
  });

  test('accepts ArrayBuffer and other views', async () => {
    const aad = associatedData('presence', 'd', 's', 'c');
    const sealed = await seal(CONTENT_KEY.buffer.slice(0), new DataView(utf8('xyz').buffer), aad, {
      nonce: new Uint8Array(12),
    });
    const opened = await openSealed(CONTENT_KEY, sealed.buffer, aad);
    assert.deepEqual(opened, utf8('xyz'));
  });

  test('update is bound to document, session, client and counter', async () => {
    const sealed = await new SessionCipher(CONTENT_KEY, 'doc', 'sess').sealUpdate('c1', 3, utf8('x'));
    const cases = [
      ['doc2', 'sess', 'c1', 3],
      ['doc', 'sess2', 'c1', 3],
      ['doc', 'sess', 'c2', 3],
      ['doc', 'sess', 'c1', 4],
      ['docs', 'ess', 'c1', 3],
    ];
    for (const [d, s, c, n] of /** @type {any[][]} */ (cases)) {
      await assert.rejects(new SessionCipher(CONTENT_KEY, d, s).openUpdate(c, n, sealed), isEncryptionError);
    }
  });

  test('snapshot and presence are bound to their fields', async () => {
    const cipher = new SessionCipher(CONTENT_KEY, 'doc', 'sess');
    const snap = await cipher.sealSnapshot(7, utf8('s'));
    await assert.rejects(cipher.openSnapshot(8, snap), isEncryptionError);
    await assert.rejects(new SessionCipher(CONTENT_KEY, 'doc2', 'sess').openSnapshot(7, snap), isEncryptionError);
    await assert.rejects(new SessionCipher(CONTENT_KEY, 'doc', 'sess2').openSnapshot(7, snap), isEncryptionError);
    const pres = await cipher.sealPresence('c1', utf8('p'));
    await assert.rejects(cipher.openPresence('c2', pres), isEncryptionError);
    await assert.rejects(new SessionCipher(CONTENT_KEY, 'doc2', 'sess').openPresence('c1', pres), isEncryptionError);
  });

  test('kind swaps fail', async () => {
    const cipher = new SessionCipher(CONTENT_KEY, 'doc', 'sess');
    const update = await cipher.sealUpdate('7', 7, utf8('x'));
    const snapshot = await cipher.sealSnapshot(7, utf8('x'));
    const presence = await cipher.sealPresence('7', utf8('x'));
    await assert.rejects(cipher.openSnapshot(7, update), isEncryptionError);
    await assert.rejects(cipher.openPresence('7', snapshot), isEncryptionError);
    await assert.rejects(cipher.openUpdate('7', 7, presence), isEncryptionError);
  });

  test('every single-byte flip is detected', async () => {
    const cipher = new SessionCipher(CONTENT_KEY, 'doc', 'sess');
    const sealed = await cipher.sealUpdate('c', 1, utf8('hello'));
    for (let i = 0; i < sealed.length; i++) {
      const bad = sealed.slice();
      bad[i] ^= 0x80;
      await assert.rejects(cipher.openUpdate('c', 1, bad), isEncryptionError, `byte ${i}`);
    }
  });

  test('short and garbage blobs reject with EncryptionError only', async () => {
    const cipher = new SessionCipher(CONTENT_KEY, 'doc', 'sess');
    for (let n = 0; n < 28; n++) {
      await assert.rejects(cipher.openUpdate('c', 0, new Uint8Array(n)), (e) =>
        isEncryptionError(e) && /too short/.test(e.message));
    }
    for (let i = 0; i < 50; i++) {
      const junk = crypto.getRandomValues(new Uint8Array(28 + i));
      await assert.rejects(cipher.openSnapshot(i, junk), isEncryptionError);
      await assert.rejects(openSealed(CONTENT_KEY, junk, new Uint8Array()), isEncryptionError);
    }
    await assert.rejects(cipher.openUpdate('c', 0, /** @type {any} */ ('not bytes')), isEncryptionError);
    await assert.rejects(cipher.openUpdate('c', 0, /** @type {any} */ (null)), isEncryptionError);
  });
});

describe('keys and sessions', () => {
  test('newSessionSecrets defaults, randomness and round trip', async () => {
    const secrets = await newSessionSecrets(KEY, 'doc', 'sess', { iterations: FAST });
    assert.equal(secrets.salt.length, SALT_BYTES);
    assert.equal(secrets.contentKey.length, 32);
    assert.equal(secrets.wrappedKey.length, 12 + 32 + 16);
    assert.equal(secrets.iterations, FAST);
    const again = await newSessionSecrets(KEY, 'doc', 'sess', { iterations: FAST });
    assert.notEqual(hex(again.salt), hex(secrets.salt));
    assert.notEqual(hex(again.contentKey), hex(secrets.contentKey));
    const ck = await unwrapContentKey(KEY, secrets.salt, FAST, secrets.wrappedKey, 'doc', 'sess');
    assert.deepEqual(ck, secrets.contentKey);
    assert.equal(DEFAULT_ITERATIONS, 210000);
  });

  test('unwrap with the wrong key gives the clear message', async () => {
    const secrets = await newSessionSecrets(KEY, 'doc', 'sess', { iterations: FAST });
    for (const [key, d, s] of [['wrong', 'doc', 'sess'], [KEY, 'doc2', 'sess'], [KEY, 'doc', 'sess2']]) {
      await assert.rejects(
        unwrapContentKey(key, secrets.salt, FAST, secrets.wrappedKey, d, s),
        (e) => isEncryptionError(e) && /encryption key does not match/.test(e.message) && /key hint/.test(e.message),
      );
    }
  });

  test('iteration bounds are enforced', async () => {
    for (const it of /** @type {any[]} */ ([0, 1, MIN_ITERATIONS - 1, MAX_ITERATIONS + 1, -5, 10000.5, '10000', null, true])) {
      await assert.rejects(deriveKey(KEY, SALT, it), isEncryptionError, String(it));
      await assert.rejects(
        unwrapContentKey(KEY, SALT, it, new Uint8Array(60), 'd', 's'),
        isEncryptionError,
      );
      await assert.rejects(newSessionSecrets(KEY, 'd', 's', { iterations: it }), isEncryptionError);
    }
    assert.equal((await deriveKey(KEY, SALT, MIN_ITERATIONS)).length, 32);
    assert.equal(MAX_ITERATIONS, 10_000_000);
  });

  test('salt must be 32 bytes; key must be a non-empty well-formed string', async () => {
    for (const salt of /** @type {any[]} */ ([new Uint8Array(0), new Uint8Array(16), new Uint8Array(31), new Uint8Array(33), 'salt'])) {
      await assert.rejects(deriveKey(KEY, salt, FAST), isEncryptionError);
    }
    for (const key of /** @type {any[]} */ (['', 42, null, utf8('bytes'), '\ud800'])) {
      await assert.rejects(deriveKey(key, SALT, FAST), isEncryptionError);
    }
  });

  test('derived keys are cached in a bounded LRU and copies are returned', async () => {
    clearKeyCache();
    assert.equal(keyCacheSize(), 0);
    const a = await deriveKey(KEY, SALT, FAST);
    const [b, c] = await Promise.all([deriveKey(KEY, SALT, FAST), deriveKey(KEY, SALT, FAST)]);
    assert.equal(keyCacheSize(), 1);
    assert.deepEqual(a, b);
    a.fill(0); // mutating a result does not poison the cache
    assert.deepEqual(await deriveKey(KEY, SALT, FAST), c);
    for (let i = 0; i < 40; i++) await deriveKey(`k${i}`, SALT, FAST);
    assert.equal(keyCacheSize(), 32);
    clearKeyCache();
    assert.equal(keyCacheSize(), 0);
  });

  test('key, nonce and content key lengths are enforced', async () => {
    for (const key of /** @type {any[]} */ ([new Uint8Array(16), new Uint8Array(31), new Uint8Array(33), 'x'.repeat(32)])) {
      await assert.rejects(seal(key, new Uint8Array(), new Uint8Array()), isEncryptionError);
      assert.throws(() => new SessionCipher(key, 'd', 's'), isEncryptionError);
    }
    for (const nonce of [new Uint8Array(0), new Uint8Array(11), new Uint8Array(13)]) {
      await assert.rejects(seal(CONTENT_KEY, new Uint8Array(), new Uint8Array(), { nonce }), isEncryptionError);
    }
    await assert.rejects(
      newSessionSecrets(KEY, 'd', 's', { iterations: FAST, contentKey: new Uint8Array(16) }),
      isEncryptionError,
    );
  });
});

describe('base64', () => {
  test('round trips random data of many lengths', () => {
    for (let n = 0; n < 70; n++) {
      const data = crypto.getRandomValues(new Uint8Array(n));
      assert.deepEqual(fromBase64(toBase64(data)), data);
    }
    const big = new Uint8Array(200_000).map((_, i) => i * 7);
    assert.deepEqual(fromBase64(toBase64(big)), big);
  });

  test('strict decoding', () => {
    for (const bad of /** @type {any[]} */ (['Zg', 'Zg=', 'Zm9', 'Zm9v\n', ' Zm9v', 'Zm-v', 'Zm_v', 'Z===', '=Zm9', 'Zh==', 'Zm9=', 'Zm9w=', null])) {
      assert.throws(() => fromBase64(bad), isEncryptionError, String(bad));
    }
    assert.deepEqual(fromBase64(''), new Uint8Array());
    assert.deepEqual(fromBase64('+/+/'), new Uint8Array([0xfb, 0xff, 0xbf]));
  });
});
