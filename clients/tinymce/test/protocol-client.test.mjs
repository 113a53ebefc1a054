// protocol-client.js against an in-memory server (test/fake-server.mjs) and fake sockets.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { FakeServer } from './fake-server.mjs';
import { TandemClient, closeReason, websocketUrl } from '../src/protocol-client.js';

/** @typedef {import('../src/protocol-client.js').DisconnectInfo} DisconnectInfo */
/** @typedef {import('../src/protocol-client.js').Member} Member */

/** @type {Record<string, string>} */
const KEYS = { k1: 'secret one', k2: 'secret two' };
/** @param {number} ms */
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
/** The code of a rejection (a ClientError's, an EncryptionError's). @param {unknown} err */
const codeOf = (err) => /** @type {{code?: unknown}} */ (err).code;
/**
 * @param {() => boolean} fn
 * @param {number} [ms]
 */
async function until(fn, ms = 3000) {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await wait(5);
  }
}

/**
 * A client of the fake server; providerCalls: the key hints its encryption provider was asked for.
 * @param {FakeServer} server
 * @param {{documentId?: string, tokenProvider?: () => Promise<{token: string}>, user?: string, hint?: string, initial?: string, client?: object}} [opts]
 */
function client(server, opts = {}) {
  /** @type {(string | null)[]} */
  const calls = [];
  const c = new TandemClient({
    url: 'wss://tandem.test/v1/collab',
    apiKey: 'key',
    documentId: opts.documentId || 'doc-1',
    tokenProvider: opts.tokenProvider || (async () => ({ token: opts.user || 'alice' })),
    encryptionProvider: async ({ keyHint }) => {
      calls.push(keyHint);
      const hint = keyHint ?? opts.hint ?? 'k1';
      return { key: KEYS[hint], keyHint: hint };
    },
    initialContent: (fragment) => {
      if (!opts.initial) return;
      const p = new Y.XmlElement('p');
      fragment.insert(0, [p]);
      const t = new Y.XmlText();
      p.insert(0, [t]);
      t.insert(0, opts.initial);
    },
    iterations: 10000,
    WebSocket: server.socketClass(),
    minBackoff: 10,
    maxBackoff: 50,
    ...opts.client,
  });
  return Object.assign(c, { providerCalls: calls });
}

/**
 * The text of each paragraph, joined by |.
 * @param {TandemClient} c
 */
const text = (c) => c.fragment.toArray().map((p) => /** @type {Y.XmlElement} */ (p).get(0).toString()).join('|');

/**
 * Type at the end of the first paragraph (made if there is none).
 * @param {TandemClient} c
 * @param {string} s
 */
function typeInto(c, s) {
  let p = /** @type {Y.XmlElement | undefined} */ (c.fragment.get(0));
  if (!p) {
    p = new Y.XmlElement('p');
    c.fragment.insert(0, [p]);
    p.insert(0, [new Y.XmlText()]);
  }
  const t = /** @type {Y.XmlText} */ (p.get(0));
  t.insert(t.length, s);
}

describe('protocol client', () => {
  test('urls and close-code reasons', () => {
    assert.equal(websocketUrl('https://rtc.example.com/'), 'wss://rtc.example.com/v1/collab');
    assert.equal(websocketUrl('http://localhost:8000/base'), 'ws://localhost:8000/base/v1/collab');
    assert.equal(closeReason(4001, 'jwt'), 'jwt');
    assert.equal(closeReason(4003, 'forbidden_document'), 'jwt');
    assert.equal(closeReason(4003, 'read_only'), 'general');
    assert.equal(closeReason(4003, 'origin_not_allowed'), 'general');
    assert.equal(closeReason(4010, 'client_update_required'), 'client_update_required');
    assert.equal(closeReason(4010), 'client_update_required');
    assert.equal(closeReason(4000, 'bad_frame'), 'general');
    assert.equal(closeReason(1011), 'general');
    assert.equal(closeReason(null, 'encryption'), 'encryption');
  });

  test('binary update frames when the server agrees; JSON for a client that opts out', async () => {
    const server = new FakeServer();
    server.binary = true;
    const a = client(server, { initial: 'hello' });
    a.start();
    await a.whenSynced();
    typeInto(a, ' world');
    await a.flush();
    assert.equal(server.binaryIn, 1);
    assert.ok(!JSON.stringify(server.received).includes('world'));
    const b = client(server, { user: 'bob' });
    b.start();
    await b.whenSynced();
    assert.equal(text(b), 'hello world');
    typeInto(b, '!');
    typeInto(b, '?');
    await until(() => text(a) === 'hello world!?');
    assert.ok(server.binaryOut >= 2); // single and batched binary frames were decoded
    const c = client(server, { user: 'carol', client: { binaryFrames: false } });
    c.start();
    await c.whenSynced();
    const before = server.binaryIn;
    typeInto(c, '.');
    await c.flush();
    assert.equal(server.binaryIn, before); // carol sent JSON
    await until(() => text(a) === 'hello world!?.' && text(b) === text(a));
    a.close();
    b.close();
    c.close();
  });

  test('creates a session, sends updates, gets acks; a second client loads it', async () => {
    const server = new FakeServer();
    const a = client(server, { initial: 'hello' });
    a.start();
    await a.whenSynced();
    assert.equal(a.getState().synced, true);
    assert.equal(a.getState().keyHint, 'k1');
    assert.deepEqual(a.providerCalls, [null]);
    typeInto(a, ' world');
    assert.equal(a.getState().unacknowledged, 1);
    await a.flush();
    assert.equal(a.getState().unacknowledged, 0);
    assert.equal(a.getState().version, 1);
    // the server holds only ciphertext
    assert.ok(!JSON.stringify(server.received).includes('world'));
    const b = client(server, { user: 'bob' });
    b.start();
    await b.whenSynced();
    assert.equal(text(b), 'hello world');
    assert.deepEqual(b.providerCalls, ['k1']);
    typeInto(b, '!');
    await until(() => text(a) === 'hello world!');
    a.close();
    b.close();
  });

  test('create race: the loser adopts the winner session, key hint and content', async () => {
    const server = new FakeServer();
    const a = client(server, { initial: 'from A', hint: 'k1' });
    const b = client(server, { initial: 'from B', hint: 'k2', user: 'bob' });
    server.hold = true; // both hellos are answered before any create_session is handled
    a.start();
    b.start();
    await until(() => server.queue.length === 2);
    const hellos = server.queue;
    server.queue = [];
    for (const [ws, m] of hellos) server.handle(ws, m); // both get welcome with session null
    await until(() => server.queue.length === 2); // both create_session requests arrive
    const [first, second] = server.queue;
    server.queue = [];
    server.hold = false;
    server.handle(first[0], first[1]);
    server.handle(second[0], second[1]);
    await Promise.all([a.whenSynced(), b.whenSynced()]);
    const winner = first[1].key_hint === 'k1' ? a : b;
    const loser = winner === a ? b : a;
    assert.equal(loser.getState().sessionId, winner.getState().sessionId);
    assert.equal(loser.getState().keyHint, winner.getState().keyHint);
    assert.equal(text(loser), text(winner));
    assert.equal(text(winner), winner === a ? 'from A' : 'from B');
    // the loser asked its provider with null, then with the winner's hint
    assert.deepEqual(loser.providerCalls, [null, winner.getState().keyHint]);
    typeInto(loser, '+');
    await until(() => text(winner).endsWith('+'));
    a.close();
    b.close();
  });

  test('unacknowledged updates are re-sent in counter order after a reconnect', async () => {
    const server = new FakeServer();
    const a = client(server, { initial: 'x' });
    a.start();
    await a.whenSynced();
    const ws1 = [...server.sockets][0];
    server.hold = true; // updates reach the server but are not handled (no ack)
    typeInto(a, '1');
    typeInto(a, '2');
    typeInto(a, '3');
    await until(() => server.queue.length === 3);
    // the server stores the first one durably, then the connection drops before the ack
    const [firstUpdate] = server.queue;
    server.queue = [];
    server.hold = false;
    const d = server.doc('doc-1');
    const seq = ++d.version;
    d.seen.set(`${a.clientId}:${firstUpdate[1].counter}`, seq);
    d.log.push({ type: 'update', seq, session_id: firstUpdate[1].session_id, client_id: a.clientId, counter: firstUpdate[1].counter, user_id: 'alice', data: firstUpdate[1].data });
    /** @type {DisconnectInfo[]} */
    const disconnects = [];
    a.on('disconnected', (i) => disconnects.push(i));
    server.drop(ws1, 1006);
    await until(() => a.getState().synced === false);
    await a.whenSynced();
    await a.flush();
    assert.equal(disconnects.length, 1);
    assert.equal(disconnects[0].reason, 'general');
    assert.equal(disconnects[0].fatal, false);
    const hellos = server.received.filter((m) => m.type === 'hello');
    assert.equal(hellos.length, 2);
    assert.equal(hellos[1].client_id, hellos[0].client_id, 'client id stable across reconnects');
    assert.equal(hellos[1].session_id, a.getState().sessionId);
    assert.equal(hellos[1].last_seq, 0);
    const resent = server.received.filter((m) => m.type === 'update').slice(3).map((m) => m.counter);
    assert.deepEqual(resent, [1, 2, 3]);
    assert.equal(d.log.length, 3, 'the duplicate was not stored twice');
    assert.equal(a.getState().version, 3);
    const b = client(server, { user: 'bob' });
    b.start();
    await b.whenSynced();
    assert.equal(text(b), 'x123');
    a.close();
    b.close();
  });

  test('error frames map to reasons; 4010 is fatal, jwt is retried once', async () => {
    const server = new FakeServer();
    const old = client(server, { client: { } });
    // protocol mismatch: pretend by patching the hello
    const Sock = server.socketClass();
    old.WebSocket = class extends Sock {
      /**
       * @override
       * @param {string | Uint8Array} data
       */
      send(data) {
        const m = JSON.parse(/** @type {string} */ (data));
        if (m.type === 'hello') m.protocol = 99;
        super.send(JSON.stringify(m));
      }
    };
    /** @type {DisconnectInfo[]} */
    const events = [];
    old.on('disconnected', (i) => events.push(i));
    old.start();
    await assert.rejects(old.whenSynced(), (err) => codeOf(err) === 'client_update_required');
    assert.deepEqual(events.map((e) => [e.reason, e.closeCode, e.fatal]), [['client_update_required', 4010, true]]);

    const bad = client(server, { tokenProvider: async () => ({ token: 'bad' }) });
    /** @type {DisconnectInfo[]} */
    const ev2 = [];
    bad.on('disconnected', (i) => ev2.push(i));
    bad.start();
    await assert.rejects(bad.whenSynced(), (err) => codeOf(err) === 'jwt');
    assert.deepEqual(ev2.map((e) => [e.reason, e.message, e.fatal]), [
      ['jwt', 'JWT has expired', false],
      ['jwt', 'JWT has expired', true],
    ]);
  });

  test('a deleted document (4004) is fatal: no reconnect, no re-creation', async () => {
    const server = new FakeServer();
    const a = client(server, { initial: 'x' });
    /** @type {DisconnectInfo[]} */
    const events = [];
    a.on('disconnected', (i) => events.push(i));
    a.start();
    await a.whenSynced();
    const [ws] = server.sockets;
    server.fail(ws, 'document_deleted', 'the document was deleted', 4004);
    await until(() => events.length >= 1);
    await wait(100);
    assert.deepEqual(events.map((e) => [e.code, e.reason, e.message, e.closeCode, e.fatal]), [
      ['document_deleted', 'general', 'the document was deleted', 4004, true],
    ]);
    assert.equal(a.error && a.error.code, 'document_deleted');
    assert.equal(server.sockets.size, 0, 'reconnected after a deletion');
  });

  test('a full document (4009) is retried, not before retry_after, until a slot frees', async () => {
    const server = new FakeServer();
    const a = client(server, { initial: 'x', user: 'alice' });
    a.start();
    await a.whenSynced();
    server.maxMembers = 1;
    server.retryAfter = 0.2;
    const late = client(server, { user: 'carol' });
    /** @type {(DisconnectInfo & {at: number})[]} */
    const events = [];
    late.on('disconnected', (i) => events.push({ ...i, at: Date.now() }));
    const started = Date.now();
    late.start();
    await until(() => events.length >= 2, 3000);
    assert.equal(events[0].code, 'too_many_connections');
    assert.equal(events[0].fatal, false);
    assert.equal(events[0].retryAfter, 0.2);
    assert.ok(events[1].at - started >= 200, 'retried before retry_after');
    server.maxMembers = Infinity;
    await late.whenSynced();
    assert.equal(late.error, null);
    a.close();
    late.close();
  });

  test('a wrong key is an encryption failure', async () => {
    const server = new FakeServer();
    const a = client(server, { initial: 'x' });
    a.start();
    await a.whenSynced();
    const b = new TandemClient({
      url: 'wss://t/v1/collab', documentId: 'doc-1', tokenProvider: () => ({ token: 'eve' }),
      encryptionProvider: () => ({ key: 'wrong' }), WebSocket: server.socketClass(),
    });
    /** @type {DisconnectInfo[]} */
    const ev = [];
    b.on('disconnected', (i) => ev.push(i));
    b.start();
    await assert.rejects(b.whenSynced(), (err) => codeOf(err) === 'encryption');
    assert.equal(ev[0].reason, 'encryption');
    assert.equal(ev[0].fatal, true);
    a.close();
  });

  test('presence is sealed and relayed', async () => {
    const server = new FakeServer();
    const a = client(server, { initial: 'x' });
    a.start();
    await a.whenSynced();
    const b = client(server, { user: 'bob' });
    /** @type {{clientId: string, userId: string, state: unknown}[]} */
    const seen = [];
    b.on('presence', (p) => seen.push(p));
    /** @type {Member[]} */
    const joined = [];
    a.on('client-joined', (c) => joined.push(c));
    b.start();
    await b.whenSynced();
    await until(() => joined.length === 1);
    assert.equal(joined[0].user_id, 'bob');
    await a.setPresence({ caret: 'secret-caret' });
    await until(() => seen.length === 1);
    assert.deepEqual(seen[0].state, { caret: 'secret-caret' });
    assert.ok(!JSON.stringify(server.received).includes('secret-caret'));
    a.close();
    b.close();
  });
});
