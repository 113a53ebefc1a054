// The Tandem protocol (docs/protocol.md) over a WebSocket: the JavaScript twin of the Python
// DocumentClient (src/tandem/client/document_client.py). It holds the document as a Y.Doc,
// seals every local update before it leaves, opens what arrives, reconnects with backoff and
// resumes from the last contiguous seq, re-sending unacknowledged updates in counter order.
//
// Events (client.on(name, fn)):
//   doc {doc, fragment}          the Y.Doc was replaced (new session / lost create race)
//   session {sessionId, keyHint, created}
//   synced {version}             history delivered, live from here
//   remote {seq?, snapshot?}     remote content was applied
//   acked {counter, seq}  ·  idle (every local update acknowledged)
//   client-joined / client-left (member object)  ·  presence {clientId, userId, state}
//   connected  ·  disconnected {code, reason, message, closeCode, fatal}
//   welcome (the welcome message)

import * as Y from 'yjs';
import {
  DEFAULT_ITERATIONS,
  EncryptionError,
  SessionCipher,
  fromBase64,
  newSessionSecrets,
  toBase64,
  unwrapContentKey,
} from './crypto.js';

export const PROTOCOL_VERSION = 1;

/**
 * A session as the server describes it (welcome, new_session, list_versions).
 * @typedef {object} SessionInfo
 * @property {string} session_id
 * @property {string} key_hint
 * @property {string} salt base64
 * @property {number} iterations
 * @property {string} wrapped_key base64
 * @property {number} [start_seq]
 */
/**
 * A server message, JSON or a decoded binary frame: its fields depend on its type
 * (docs/protocol.md) and are read as the protocol defines them.
 * @typedef {{type: string, [field: string]: any}} ServerMessage
 */
/**
 * What the client knows of a member of the document (welcome, client_joined).
 * @typedef {object} Member
 * @property {string} user_id
 * @property {string} client_id
 * @property {number} [caret]
 * @property {Record<string, unknown>} [client_info]
 * @property {string} [role]
 * @property {unknown} [presence] its last presence state
 */
/**
 * The part of the WebSocket API the client uses (tests pass a class of their own).
 * @typedef {object} SocketLike
 * @property {number} readyState
 * @property {string} [binaryType]
 * @property {(data: string | Uint8Array) => void} send
 * @property {(code?: number) => void} close
 * @property {((event: Event) => void) | null} onopen
 * @property {((event: MessageEvent) => void) | null} onmessage
 * @property {((event: CloseEvent) => void) | null} onclose
 * @property {((event: Event) => void) | null} onerror
 */
/** @typedef {new (url: string) => SocketLike} SocketClass */
/**
 * Why a connection ended: a ClientError, or an EncryptionError (which the close handler
 * gives the close code, and fatal for a fatal close code).
 * @typedef {ClientError | (EncryptionError & {closeCode?: number | null, fatal?: boolean, retryable?: undefined, retryAfter?: undefined})} Failure
 */
/** @typedef {{resolve: (value: any) => void, reject: (reason: unknown) => void}} Waiter */
/** @typedef {{resolve: () => void, reject: (reason: unknown) => void}} VoidWaiter */
/**
 * The disconnected event.
 * @typedef {object} DisconnectInfo
 * @property {string} code
 * @property {string} reason an rtc_server_disconnected reason (closeReason)
 * @property {string} message
 * @property {number | null} closeCode
 * @property {number | null} retryAfter
 * @property {boolean} fatal
 */
/**
 * @typedef {object} ClientState
 * @property {boolean} connected
 * @property {boolean} synced
 * @property {number} version
 * @property {string | null} sessionId
 * @property {string | null} keyHint
 * @property {Member[]} clients
 * @property {number} unacknowledged
 * @property {string} [clientId]
 * @property {string | null} [userId]
 * @property {string | null} [role]
 * @property {number | null} [caret]
 */
/** @typedef {(arg: {documentId: string}) => unknown} TokenProvider returns (a promise of) {token} */
/** @typedef {(arg: {documentId: string, keyHint: string | null}) => unknown} EncryptionProvider returns (a promise of) {key, keyHint?} */

// -- binary frames (docs/protocol.md, "Binary frames") ------------------------------------------
// Negotiated in hello/welcome ("binary": true): updates travel as a small header and the raw
// ciphertext, no JSON and no base64. A binary frame whose first byte is below 0x09 is one of
// these; any other binary frame holds UTF-8 JSON.
const FIRST_NON_BINARY = 0x09;
const CLIENT_UPDATE = 0x01;
const SERVER_UPDATE = 0x02;
const BATCH = 0x04;
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A client update as a binary frame: 0x01, len(session id), session id, u64 counter, data.
 * @param {string} sessionId
 * @param {number} counter
 * @param {Uint8Array} data
 */
export function encodeClientUpdate(sessionId, counter, data) {
  const sid = utf8.encode(sessionId);
  const out = new Uint8Array(10 + sid.length + data.length);
  out[0] = CLIENT_UPDATE;
  out[1] = sid.length;
  out.set(sid, 2);
  new DataView(out.buffer).setBigUint64(2 + sid.length, BigInt(counter));
  out.set(data, 10 + sid.length);
  return out;
}

/**
 * @param {Uint8Array} bytes
 * @returns {ServerMessage}
 */
function decodeServerUpdate(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== SERVER_UPDATE) throw new Error(`not an update frame: ${bytes[0]}`);
  const seq = Number(view.getBigUint64(1));
  const counter = Number(view.getBigUint64(9));
  let at = 17;
  /** @param {number} size */
  const field = (size) => {
    if (at + size > bytes.length) throw new Error('truncated update frame');
    const out = bytes.subarray(at, at + size);
    at += size;
    return utf8Decoder.decode(out);
  };
  const sessionId = field(bytes[at++]);
  const clientId = field(bytes[at++]);
  if (at + 2 > bytes.length) throw new Error('truncated update frame');
  const uidLength = view.getUint16(at);
  at += 2;
  const userId = field(uidLength);
  return { type: 'update', seq, counter, session_id: sessionId, client_id: clientId, user_id: userId, data: bytes.slice(at) };
}

/**
 * The messages of a binary server frame (an update, or a batch of updates and JSON).
 * @param {Uint8Array} bytes
 * @returns {ServerMessage[]}
 */
export function decodeServerFrame(bytes) {
  if (bytes[0] === SERVER_UPDATE) return [decodeServerUpdate(bytes)];
  if (bytes[0] !== BATCH) throw new Error(`unknown binary frame type ${bytes[0]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = [];
  let at = 1;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) throw new Error('truncated batch frame');
    const size = view.getUint32(at);
    at += 4;
    if (size === 0 || at + size > bytes.length) throw new Error('truncated batch frame');
    const part = bytes.subarray(at, at + size);
    out.push(part[0] < FIRST_NON_BINARY ? decodeServerUpdate(part) : JSON.parse(utf8Decoder.decode(part)));
    at += size;
  }
  return out;
}

/** @param {string | Uint8Array} data base64 (a JSON frame) or bytes (a binary frame) */
const binaryData = (data) => (typeof data === 'string' ? fromBase64(data) : data);
export const COLLAB_PATH = '/v1/collab';
/** Close codes after which reconnecting cannot help. Every other close is retried with
 * backoff, never sooner than the error's retry_after (a full document, a quota, a rate
 * limit, a busy server are temporary). */
export const FATAL_CLOSE = new Set([4003, 4004, 4010]); // 4004: the document was deleted
/** Marks transactions that apply server content (never sent back). */
export const REMOTE_ORIGIN = Symbol('tandem-remote');

/**
 * Map a close code (and the error frame's code, if any) to an rtc_server_disconnected reason.
 * @param {number | null | undefined} closeCode
 * @param {string | null} [errorCode]
 */
export function closeReason(closeCode, errorCode) {
  if (errorCode === 'encryption') return 'encryption';
  if (errorCode === 'content') return 'content';
  if (errorCode === 'jwt' || errorCode === 'forbidden_document') return 'jwt';
  if (errorCode === 'client_update_required') return 'client_update_required';
  if (closeCode === 4001) return 'jwt';
  if (closeCode === 4010) return 'client_update_required';
  return 'general';
}

/**
 * https://host/base -> wss://host/base/v1/collab
 * @param {string | undefined} serverUrl (none: an invalid server URL)
 */
export function websocketUrl(serverUrl) {
  let u;
  try {
    u = new URL(serverUrl ?? '');
  } catch {
    throw new Error(`invalid server URL ${JSON.stringify(serverUrl)}: expected http(s)://host[:port]`);
  }
  /** @type {Record<string, string | undefined>} */
  const schemes = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' };
  const scheme = schemes[u.protocol];
  if (!scheme || !u.host) throw new Error(`invalid server URL ${JSON.stringify(serverUrl)}: expected http(s)://host[:port]`);
  return `${scheme}//${u.host}${u.pathname.replace(/\/+$/, '')}${COLLAB_PATH}`;
}

export function randomId(bytes = 18) {
  const b = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(b);
  return toBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export class ClientError extends Error {
  /**
   * @param {string} message
   * @param {object} [o]
   * @param {string} [o.code]
   * @param {boolean} [o.fatal] reconnecting cannot help
   * @param {number | null} [o.closeCode]
   * @param {unknown} [o.detail]
   * @param {number | null} [o.retryAfter]
   * @param {boolean} [o.retryable] a jwt failure that is worth retrying (the token provider
   *   itself failed): it does not count towards the jwt failures that end the connection
   */
  constructor(message, { code = 'general', fatal = false, closeCode = null, detail = null, retryAfter = null, retryable = false } = {}) {
    super(message);
    this.name = 'ClientError';
    this.code = code;
    this.fatal = fatal;
    this.closeCode = closeCode;
    this.detail = detail;
    this.retryAfter = retryAfter; // seconds the server asked to wait before reconnecting
    this.retryable = retryable;
  }
}

/**
 * @param {Function} provider
 * @param {object} arg
 * @returns {Promise<unknown>}
 */
async function callProvider(provider, arg) {
  return await provider(arg);
}

/**
 * @param {TokenProvider} provider
 * @param {string} documentId
 * @returns {Promise<string>}
 */
export async function fetchToken(provider, documentId) {
  const result = await callProvider(provider, { documentId });
  const token = result && typeof result === 'object' ? /** @type {{token?: unknown}} */ (result).token : undefined;
  if (typeof token !== 'string' || !token) {
    throw new ClientError("the token provider must return { token: '<JWT>' }", { code: 'jwt' });
  }
  return token;
}

/**
 * Returns [key, keyHint]. For a new session the provider may choose the hint.
 * @param {EncryptionProvider} provider
 * @param {string} documentId
 * @param {string | null} keyHint
 * @returns {Promise<[string, string]>}
 */
export async function fetchKey(provider, documentId, keyHint) {
  const result = await callProvider(provider, { documentId, keyHint });
  const key = result && typeof result === 'object' ? /** @type {{key?: unknown}} */ (result).key : undefined;
  if (typeof key !== 'string' || !key) {
    throw new EncryptionError("the encryption provider must return { key: '<secret>', ... }");
  }
  // an object: its key was read
  let hint = /** @type {{keyHint?: unknown}} */ (result).keyHint;
  if (keyHint !== null && keyHint !== undefined) hint = keyHint;
  if (hint === null || hint === undefined) hint = '';
  if (typeof hint !== 'string' || hint.length > 256) {
    throw new EncryptionError('the key hint must be a string of at most 256 characters');
  }
  return [key, hint];
}

/**
 * `err && err.message` of anything thrown (a provider may throw anything).
 * @param {unknown} err
 */
const messageOf = (err) => err && /** @type {{message?: unknown}} */ (err).message;

export class TandemClient {
  /**
   * @param {object} o
   * @param {string} [o.url] ws(s)://…/v1/collab (or give o.serverUrl, http(s)://…)
   * @param {string} [o.serverUrl]
   * @param {string} [o.apiKey]
   * @param {string} o.documentId
   * @param {TokenProvider} o.tokenProvider ({documentId}) -> {token}
   * @param {EncryptionProvider} o.encryptionProvider ({documentId, keyHint}) -> {key, keyHint?}
   * @param {(fragment: Y.XmlFragment, doc: Y.Doc) => (void|Promise<void>)} [o.initialContent] fills a new document
   * @param {Record<string, unknown>} [o.clientInfo]
   * @param {string} [o.clientId]
   * @param {number} [o.iterations]
   * @param {boolean} [o.reconnect]
   * @param {number} [o.maxBackoff] ms
   * @param {number} [o.minBackoff] ms
   * @param {SocketClass} [o.WebSocket]
   * @param {() => number} [o.now] ms since the epoch
   * @param {boolean} [o.create] create the document if it does not exist
   * @param {boolean} [o.binaryFrames]
   * @param {() => void} [o.beforeRemote]
   * @param {() => (Promise<unknown> | null)} [o.holdRemote]
   */
  constructor(o) {
    this.url = o.url || websocketUrl(o.serverUrl);
    this.apiKey = o.apiKey ?? '';
    this.documentId = o.documentId;
    this.tokenProvider = o.tokenProvider;
    this.encryptionProvider = o.encryptionProvider;
    this.initialContent = o.initialContent || null;
    this.clientInfo = o.clientInfo || {};
    this.clientId = o.clientId || randomId(12);
    this.iterations = o.iterations || DEFAULT_ITERATIONS;
    this.reconnect = o.reconnect !== false;
    this.maxBackoff = o.maxBackoff ?? 10000;
    this.minBackoff = o.minBackoff ?? 250;
    /** @type {SocketClass} */
    this.WebSocket = o.WebSocket || globalThis.WebSocket;
    this.now = o.now || (() => Date.now());
    this.create = o.create !== false;
    // offer binary update frames (used when the server's welcome agrees; JSON otherwise)
    this.binaryFrames = o.binaryFrames !== false;
    this._binary = false;
    this.beforeRemote = o.beforeRemote || null; // called before applying remote content
    // returns a promise to wait for before applying remote content (an IME composition), or null
    this.holdRemote = o.holdRemote || null;

    /** @type {Map<string, Set<(info: any) => void>>} */
    this.listeners = new Map();
    /** @type {string | null} */
    this.userId = null;
    /** @type {string | null} */
    this.role = null;
    /** @type {number | null} */
    this.caret = null;
    this.version = 0;
    /** @type {SessionInfo | null} */
    this.session = null;
    /** @type {string | null} */
    this.keyHint = null;
    /** @type {Map<string, Member>} */
    this.clients = new Map();
    this.connected = false;
    this.synced = false;
    /** @type {Failure | null} the fatal failure that stopped the client */
    this.error = null;
    /** @type {number | null} seconds since the epoch */
    this.tokenExpiresAt = null;

    /** @type {SessionCipher | null} */
    this._cipher = null;
    this._counter = 0;
    /** @type {Map<number, Uint8Array>} */
    this._pending = new Map(); // counter -> plaintext update, until acked
    /** @type {Set<number>} */
    this._above = new Set();
    /** @type {SocketLike | null} */
    this._ws = null;
    this._generation = 0;
    /** @type {Promise<void>} */
    this._queue = Promise.resolve();
    /** @type {Promise<void>} */
    this._sendChain = Promise.resolve();
    /** @type {string | null} */
    this._creating = null;
    /** @type {{cipher: SessionCipher, session: SessionInfo} | null} */
    this._pendingSession = null;
    this._suppressLocal = false;
    this._stopped = false;
    this._attempt = 0;
    this._jwtFailures = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._retryTimer = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this._tokenTimer = null;
    /** @type {Failure | null} */
    this._lastError = null;
    /** @type {{synced: VoidWaiter[], idle: VoidWaiter[]}} */
    this._waiters = { synced: [], idle: [] };
    /** @type {Map<number, Waiter>} */
    this._requests = new Map(); // history request id -> {resolve, reject} (versions.js)
    this._nextRequest = 0;
    /** @type {(Waiter | null)[]} */
    this._snapshotWaiters = []; // one entry per snapshot sent, resolved by its snapshot_ack
    /** @type {{code: string, message: string} | null} */
    this._syncProblem = null;
    /** @type {(update: Uint8Array, origin: unknown) => void} */
    this._onDocUpdate = (update, origin) => this._onLocalUpdate(update, origin);
    // replaced by _newDoc (a new session)
    this.doc = new Y.Doc();
    this.fragment = this.doc.getXmlFragment('content');
    this.doc.on('update', this._onDocUpdate);
  }

  // -- public API ----------------------------------------------------------------------

  /**
   * @param {string} name
   * @param {(info: any) => void} fn called with the event's object (see the top of this file)
   * @returns {() => boolean} removes the listener
   */
  on(name, fn) {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(fn);
    const listeners = set;
    return () => listeners.delete(fn);
  }

  start() {
    this._stopped = false;
    if (!this._ws && !this._retryTimer) this._connect();
  }

  close() {
    this._stopped = true;
    if (this._retryTimer !== null) clearTimeout(this._retryTimer);
    if (this._tokenTimer !== null) clearTimeout(this._tokenTimer);
    this._retryTimer = null;
    const ws = this._ws;
    this._ws = null;
    this._generation++;
    if (ws) {
      try {
        ws.close(1000);
      } catch (err) {
        console.debug('[rtc] closing a socket that is already closed:', err);
      }
    }
    this.connected = false;
    this.synced = false;
  }

  /** Close the socket as a network drop would: the client reconnects by itself. */
  dropConnection() {
    const ws = this._ws;
    if (!ws) return;
    try {
      ws.close(1000);
    } catch (err) {
      console.debug('[rtc] closing a socket that is already closed:', err);
    }
  }

  /** @returns {Promise<void>} */
  whenSynced() {
    if (this.synced) return Promise.resolve();
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => this._waiters.synced.push({ resolve, reject }));
  }

  /** @returns {Promise<void>} */
  flush() {
    if (!this._pending.size) return Promise.resolve();
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => this._waiters.idle.push({ resolve, reject }));
  }

  get unacknowledged() {
    return this._pending.size;
  }

  /** @returns {ClientState} */
  getState() {
    return {
      connected: this.connected,
      synced: this.synced,
      version: this.version,
      sessionId: this.session ? this.session.session_id : null,
      keyHint: this.keyHint,
      clients: [...this.clients.values()].map((c) => ({ ...c })),
      unacknowledged: this._pending.size,
      clientId: this.clientId,
      userId: this.userId,
      role: this.role,
      caret: this.caret,
    };
  }

  /**
   * Send a history request (list_versions, get_version, get_updates; docs/protocol.md,
   * "Version history") and resolve with its answer; a request_failed answer rejects.
   * @param {{type: string, [field: string]: unknown}} message
   * @returns {Promise<ServerMessage>}
   */
  request(message) {
    if (!this._ws || !this.connected) return Promise.reject(new ClientError('not connected', { code: 'network' }));
    const id = ++this._nextRequest;
    return new Promise((resolve, reject) => {
      this._requests.set(id, { resolve, reject });
      if (!this._sendRaw({ ...message, id })) {
        this._requests.delete(id);
        reject(new ClientError('not connected', { code: 'network' }));
      }
    });
  }

  /**
   * Send a snapshot (kind: auto/named/restore/repair) and resolve with its snapshot_ack.
   * @param {{session_id: string, seq: number, kind: string, data: string, name?: string}} message
   * @returns {Promise<ServerMessage>}
   */
  sendSnapshot(message) {
    return new Promise((resolve, reject) => {
      if (!this._sendRaw({ type: 'snapshot', ...message })) {
        reject(new ClientError('not connected', { code: 'network' }));
        return;
      }
      this._snapshotWaiters.push({ resolve, reject });
    });
  }

  /** @param {ServerMessage} msg */
  _onAnswer(msg) {
    const waiter = this._requests.get(msg.id);
    if (!waiter) return;
    this._requests.delete(msg.id);
    if (msg.type === 'request_failed') waiter.reject(new ClientError(msg.message || 'request failed', { code: msg.code || 'general' }));
    else waiter.resolve(msg);
  }

  /** @param {ServerMessage} msg */
  _onSnapshotAck(msg) {
    const waiter = this._snapshotWaiters.shift();
    if (waiter) waiter.resolve(msg);
    this._emit('snapshot-ack', msg);
  }

  /**
   * Send an encrypted ephemeral presence state (caret, selection...).
   * @param {unknown} state plain JSON
   */
  async setPresence(state) {
    const ws = this._ws;
    const cipher = this._cipher;
    if (!ws || !cipher || !this.synced) return;
    const data = await cipher.sealPresence(this.clientId, new TextEncoder().encode(JSON.stringify(state)));
    if (ws === this._ws && cipher === this._cipher) this._sendRaw({ type: 'presence', data: toBase64(data) });
  }

  // -- internals: events ---------------------------------------------------------------------

  /**
   * @param {string} name
   * @param {unknown} info
   */
  _emit(name, info) {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(info);
      } catch (err) {
        // a listener's bug must not break the connection
        if (globalThis.console) console.error('[rtc] listener failed', err);
      }
    }
  }

  /** @param {'synced' | 'idle'} kind */
  _resolve(kind) {
    const list = this._waiters[kind];
    this._waiters[kind] = [];
    list.forEach((w) => w.resolve());
  }

  // -- internals: the document ----------------------------------------------------------------

  _newDoc() {
    this.doc.off('update', this._onDocUpdate);
    this.doc = new Y.Doc();
    this.fragment = this.doc.getXmlFragment('content');
    this.doc.on('update', this._onDocUpdate);
  }

  _resetDocument() {
    this._newDoc();
    this.version = 0;
    this._above.clear();
    this._pending.clear();
    this._resolve('idle');
    this._emit('doc', { doc: this.doc, fragment: this.fragment });
  }

  /**
   * @param {Uint8Array} update
   * @param {unknown} origin
   */
  _onLocalUpdate(update, origin) {
    if (origin === REMOTE_ORIGIN || this._suppressLocal) return;
    if (!update || (update.length === 2 && update[0] === 0 && update[1] === 0)) return;
    this._counter += 1;
    this._pending.set(this._counter, update);
    if (this._ws && this._cipher && this.synced) this._sendUpdate(this._counter);
  }

  /** Wait while the editor asks to (messages stay in order: they are handled one by one). */
  async _hold() {
    const wait = this.holdRemote ? this.holdRemote() : null;
    if (wait) await wait;
  }

  /** @param {Uint8Array} update */
  _applyRemote(update) {
    Y.applyUpdate(this.doc, update, REMOTE_ORIGIN);
  }

  /** @param {number} seq */
  _advance(seq) {
    if (seq <= this.version) return;
    this._above.add(seq);
    while (this._above.has(this.version + 1)) {
      this.version += 1;
      this._above.delete(this.version);
    }
  }

  // -- internals: sending -------------------------------------------------------------------------

  /**
   * @param {{type: string, [field: string]: unknown}} message
   * @returns {boolean} sent (the socket is open)
   */
  _sendRaw(message) {
    const ws = this._ws;
    if (!ws || ws.readyState !== 1) return false;
    try {
      ws.send(JSON.stringify(message));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * @param {Uint8Array} bytes
   * @returns {boolean} sent (the socket is open)
   */
  _sendBytes(bytes) {
    const ws = this._ws;
    if (!ws || ws.readyState !== 1) return false;
    try {
      ws.send(bytes);
      return true;
    } catch {
      return false;
    }
  }

  /** @param {number} counter */
  _sendUpdate(counter) {
    const generation = this._generation;
    this._sendChain = this._sendChain
      .then(async () => {
        const update = this._pending.get(counter);
        const cipher = this._cipher;
        const session = this.session;
        if (!update || !cipher || !session || generation !== this._generation) return;
        const data = await cipher.sealUpdate(this.clientId, counter, update);
        if (generation !== this._generation || !this._pending.has(counter)) return;
        if (this._binary) this._sendBytes(encodeClientUpdate(session.session_id, counter, data));
        else this._sendRaw({ type: 'update', session_id: session.session_id, counter, data: toBase64(data) });
      })
      .catch((err) => this._fail(err));
  }

  // -- internals: connection ------------------------------------------------------------------------

  async _connect() {
    this._retryTimer = null;
    if (this._stopped) return;
    const generation = ++this._generation;
    this._lastError = null;
    let token;
    try {
      token = await fetchToken(this.tokenProvider, this.documentId);
    } catch (err) {
      if (generation !== this._generation) return;
      // The provider itself failing (its endpoint unreachable while the network is down) is
      // worth retrying; a token the server refuses, or a malformed answer, is not.
      const failure = err instanceof ClientError ? err : new ClientError(`the token provider failed: ${messageOf(err)}`, { code: 'jwt', retryable: true });
      this._afterClose(failure, generation);
      return;
    }
    if (generation !== this._generation || this._stopped) return;
    let ws;
    try {
      ws = new this.WebSocket(this.url);
    } catch (err) {
      this._afterClose(new ClientError(`cannot open ${this.url}: ${messageOf(err)}`, { code: 'network' }), generation);
      return;
    }
    this._ws = ws;
    this._binary = false; // until this connection's welcome agrees
    try {
      ws.binaryType = 'arraybuffer';
    } catch (err) {
      // not every WebSocket implementation has it (binary frames then arrive as it gives them)
      console.debug('[rtc] WebSocket.binaryType not settable:', err);
    }
    ws.onopen = () => {
      if (generation !== this._generation) return;
      this.connected = true;
      this._emit('connected', {});
      this._sendRaw({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        api_key: this.apiKey,
        document_id: this.documentId,
        token,
        client_id: this.clientId,
        client_info: this.clientInfo,
        last_seq: this.session ? this.version : null,
        session_id: this.session ? this.session.session_id : null,
        batch: true,
        binary: this.binaryFrames !== false,
      });
    };
    ws.onmessage = (event) => {
      if (generation !== this._generation) return;
      let msg;
      try {
        if (typeof event.data === 'string') {
          msg = JSON.parse(event.data);
        } else {
          const bytes = new Uint8Array(event.data);
          msg = bytes.length && bytes[0] < FIRST_NON_BINARY
            ? { type: 'batch', messages: decodeServerFrame(bytes) }
            : JSON.parse(new TextDecoder().decode(bytes));
        }
      } catch (err) {
        // a frame this client cannot parse is dropped; the server's next frames still apply
        console.warn('[rtc] dropped a malformed frame from the server:', err);
        return;
      }
      this._queue = this._queue.then(() => {
        if (generation !== this._generation) return undefined;
        return this._handle(msg);
      }).catch((err) => {
        if (generation !== this._generation) return;
        this._fail(err);
      });
    };
    ws.onclose = (event) => {
      if (generation !== this._generation) return;
      // let queued messages (e.g. the error frame) be handled first
      this._queue = this._queue.then(() => {
        if (generation !== this._generation) return;
        const code = event && event.code;
        const err = this._lastError
          ? this._lastError
          : new ClientError((event && event.reason) || `closed with code ${code}`, {
              code: code === 4001 ? 'jwt' : code === 4010 ? 'client_update_required' : 'network',
              closeCode: code,
              fatal: FATAL_CLOSE.has(code),
            });
        if (err.closeCode === null || err.closeCode === undefined) err.closeCode = code;
        if (FATAL_CLOSE.has(code)) err.fatal = true;
        this._afterClose(err, generation);
      });
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  /**
   * @param {Failure} err why the connection ended
   * @param {number} generation the connection's
   */
  _afterClose(err, generation) {
    if (generation !== this._generation) return;
    this._ws = null;
    this._generation++;
    this.connected = false;
    this.synced = false;
    if (this._tokenTimer !== null) clearTimeout(this._tokenTimer);
    const lost = new ClientError('the connection was lost', { code: 'network' });
    for (const waiter of this._requests.values()) waiter.reject(lost);
    this._requests.clear();
    for (const waiter of this._snapshotWaiters.splice(0)) if (waiter) waiter.reject(lost);
    if (err.code === 'jwt' && !err.retryable) this._jwtFailures++;
    const fatal =
      err.fatal ||
      err instanceof EncryptionError ||
      err.code === 'encryption' ||
      err.code === 'client_update_required' ||
      err.code === 'content' ||
      this._jwtFailures > 1 ||
      !this.reconnect;
    const info = {
      code: err.code,
      reason: closeReason(err.closeCode, err instanceof EncryptionError ? 'encryption' : err.code),
      message: err.message,
      closeCode: err.closeCode ?? null,
      retryAfter: err.retryAfter ?? null,
      fatal,
    };
    this._emit('disconnected', info);
    if (this._stopped) return;
    if (fatal) {
      this.error = err;
      this._stopped = true;
      const synced = this._waiters.synced;
      const idle = this._waiters.idle;
      this._waiters = { synced: [], idle: [] };
      [...synced, ...idle].forEach((w) => w.reject(err));
      return;
    }
    this._attempt += 1;
    const backoff = Math.min(this.maxBackoff, this.minBackoff * 2 ** Math.min(this._attempt - 1, 8)) * (0.5 + Math.random());
    const delay = Math.max(backoff, typeof err.retryAfter === 'number' ? err.retryAfter * 1000 : 0);
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }

  /**
   * A failure while handling a message: close the socket and treat it as the close reason.
   * @param {unknown} failure
   */
  _fail(failure) {
    const err =
      failure instanceof ClientError || failure instanceof EncryptionError
        ? failure
        : new ClientError(`could not apply the document content: ${messageOf(failure)}`, { code: 'content' });
    this._lastError = err;
    const ws = this._ws;
    const generation = this._generation;
    if (ws) {
      try {
        ws.close(1000);
      } catch (err) {
        console.debug('[rtc] closing a socket that is already closed:', err);
      }
    }
    this._afterClose(err, generation);
  }

  _scheduleTokenRefresh() {
    if (this._tokenTimer !== null) clearTimeout(this._tokenTimer);
    const expires = this.tokenExpiresAt;
    if (typeof expires !== 'number') return;
    const left = expires - this.now() / 1000;
    const delay = left > 90 ? left - 60 : Math.max(0.5, left / 2);
    const generation = this._generation;
    this._tokenTimer = setTimeout(async () => {
      if (generation !== this._generation) return;
      try {
        const token = await fetchToken(this.tokenProvider, this.documentId);
        if (generation !== this._generation) return;
        this.tokenExpiresAt = null;
        this._sendRaw({ type: 'token', token });
      } catch (err) {
        this._fail(err);
      }
    }, Math.min(delay * 1000, 2 ** 31 - 1));
  }

  // -- internals: server messages ------------------------------------------------------------------

  /**
   * @param {ServerMessage} msg
   * @returns {Promise<void>}
   */
  async _handle(msg) {
    if (msg && msg.type === 'batch' && Array.isArray(msg.messages)) {
      // several server messages in one frame, in order
      for (const inner of msg.messages) await this._handle(inner);
      return undefined;
    }
    /** @type {Record<string, ((msg: ServerMessage) => unknown) | undefined>} */
    const handlers = {
      welcome: this._onWelcome,
      session_created: this._onSessionCreated,
      session_rejected: this._onSessionRejected,
      new_session: this._onNewSession,
      snapshot: this._onSnapshot,
      update: this._onUpdate,
      synced: this._onSynced,
      ack: this._onAck,
      snapshot_request: this._onSnapshotRequest,
      snapshot_ack: this._onSnapshotAck,
      versions: this._onAnswer,
      version: this._onAnswer,
      history_updates: this._onAnswer,
      request_failed: this._onAnswer,
      client_joined: this._onClientJoined,
      client_left: this._onClientLeft,
      presence: this._onPresence,
      token_accepted: this._onTokenAccepted,
      error: this._onError,
    };
    const handler = handlers[msg && msg.type];
    if (handler) await handler.call(this, msg);
  }

  /** @param {ServerMessage} msg */
  async _onWelcome(msg) {
    this._binary = msg.binary === true && this.binaryFrames !== false;
    this.userId = msg.user_id;
    this.role = msg.role;
    this.caret = msg.caret;
    this.tokenExpiresAt = typeof msg.token_expires_at === 'number' ? msg.token_expires_at : null;
    this._scheduleTokenRefresh();
    /** @type {Map<string, Member>} */
    const fresh = new Map((msg.clients || []).map((/** @type {Member} */ c) => [c.client_id, c]));
    for (const [id, c] of this.clients) if (!fresh.has(id)) this._emit('client-left', c);
    const previous = this.clients;
    this.clients = fresh;
    for (const [id, c] of fresh) if (!previous.has(id)) this._emit('client-joined', c);
    this._emit('welcome', msg);
    const session = msg.session;
    if (session) {
      await this._adoptSession(session, !this.session || this.session.session_id !== session.session_id);
    } else if (!this.create) {
      throw new ClientError(`document ${JSON.stringify(this.documentId)} does not exist`, { code: 'general', fatal: true });
    } else if (this.role === 'editor') {
      await this._createSession(msg.version || 0);
    }
  }

  /**
   * @param {number} version the seq the new session starts at
   * @param {string | null} [replaces] the session it replaces
   */
  async _createSession(version, replaces = null) {
    const [key, hint] = await fetchKey(this.encryptionProvider, this.documentId, null);
    const sessionId = randomId(18);
    const secrets = await newSessionSecrets(key, this.documentId, sessionId, { iterations: this.iterations });
    this._resetDocument();
    if (this.initialContent) {
      // the initial state travels as the snapshot, not as updates
      this._suppressLocal = true;
      try {
        await this.initialContent(this.fragment, this.doc);
      } finally {
        this._suppressLocal = false;
      }
    }
    const cipher = new SessionCipher(secrets.contentKey, this.documentId, sessionId);
    const snapshot = await cipher.sealSnapshot(version, Y.encodeStateAsUpdate(this.doc));
    const session = {
      session_id: sessionId,
      key_hint: hint,
      salt: toBase64(secrets.salt),
      iterations: secrets.iterations,
      wrapped_key: toBase64(secrets.wrappedKey),
      start_seq: version,
    };
    this._creating = sessionId;
    this._pendingSession = { cipher, session };
    this._sendRaw({
      type: 'create_session',
      session_id: sessionId,
      key_hint: hint,
      salt: session.salt,
      iterations: session.iterations,
      wrapped_key: session.wrapped_key,
      snapshot: toBase64(snapshot),
      replaces,
    });
  }

  /** @param {ServerMessage} msg */
  async _onSessionCreated(msg) {
    if (msg.session_id !== this._creating || !this._pendingSession) return;
    const { cipher, session } = this._pendingSession;
    this._cipher = cipher;
    this.session = session;
    this.keyHint = session.key_hint;
    this.version = msg.version || 0;
    this._creating = null;
    this._pendingSession = null;
    this._emit('session', { sessionId: session.session_id, keyHint: session.key_hint, created: true });
    this._becameSynced();
  }

  /** @param {ServerMessage} msg */
  _onSessionRejected(msg) {
    // the winner's session arrives as new_session; wait for it
    if (msg.session_id === this._creating) {
      this._creating = null;
      this._pendingSession = null;
    }
  }

  /** @param {ServerMessage} msg */
  async _onNewSession(msg) {
    this._creating = null;
    this._pendingSession = null;
    await this._adoptSession(msg.session, true);
  }

  /**
   * @param {SessionInfo} session
   * @param {boolean} fresh not the session this client had
   */
  async _adoptSession(session, fresh) {
    const [key] = await fetchKey(this.encryptionProvider, this.documentId, session.key_hint);
    let contentKey = null;
    try {
      contentKey = await unwrapContentKey(
        key,
        fromBase64(session.salt),
        session.iterations,
        fromBase64(session.wrapped_key),
        this.documentId,
        session.session_id,
      );
    } catch (err) {
      // The document's first session: simply a wrong key. A later one (a rotation) whose
      // wrapped key does not open may be broken or malicious: versions.js reads the older
      // sessions' history instead, and fails with the wrong-key error if none opens.
      if (!(err instanceof EncryptionError) || (!this.session && !session.start_seq)) throw err;
      this._syncProblem = { code: 'session_key_unusable', message: `the content key of session ${session.session_id} cannot be unwrapped` };
    }
    if (fresh) {
      this.synced = false;
      // With no session yet, this Doc holds our own losing initial content, which is not
      // part of the winner's document: start from its snapshot. A rotated session
      // continues the same Yjs document: keep it, and re-send unacknowledged edits.
      if (!this.session) this._resetDocument();
    }
    this.session = session;
    this.keyHint = session.key_hint;
    this._cipher = contentKey ? new SessionCipher(contentKey, this.documentId, session.session_id) : null;
    this._emit('session', { sessionId: session.session_id, keyHint: session.key_hint, created: false });
  }

  /** @param {ServerMessage} msg */
  async _onSnapshot(msg) {
    if (!this.session || msg.session_id !== this.session.session_id) return;
    let state = null;
    try {
      if (!this._cipher) throw new EncryptionError('no key for this session');
      state = await this._cipher.openSnapshot(msg.seq, fromBase64(msg.data));
    } catch (err) {
      // Carry on from its seq; versions.js rebuilds what it should have held (issue 12).
      this._syncProblem = this._syncProblem || { code: 'snapshot_unreadable', message: `the checkpoint at seq ${msg.seq} cannot be decrypted (${messageOf(err)})` };
    }
    await this._hold();
    if (this.beforeRemote) this.beforeRemote();
    if (state) this._applyRemote(state);
    if (msg.seq > this.version) {
      this.version = msg.seq;
      for (const s of [...this._above]) if (s <= this.version) this._above.delete(s);
      this._advance(this.version);
    }
    this._emit('remote', { seq: msg.seq, snapshot: true });
  }

  /** @param {ServerMessage} msg */
  async _onUpdate(msg) {
    if (!this.session || msg.session_id !== this.session.session_id) return;
    const seq = msg.seq;
    if (!this._cipher) {
      this._advance(seq); // a session we cannot open (see _adoptSession)
      return;
    }
    if (seq > this.version && !this._above.has(seq)) {
      const update = await this._cipher.openUpdate(msg.client_id, msg.counter, binaryData(msg.data));
      await this._hold();
      if (this.beforeRemote) this.beforeRemote();
      this._applyRemote(update);
      this._advance(seq);
      this._emit('remote', { seq, userId: msg.user_id, clientId: msg.client_id });
    }
  }

  /** @param {ServerMessage} msg */
  _onSynced(msg) {
    this._advance(msg.version || 0);
    // Structs Yjs parks for want of earlier ones: the checkpoint lacks updates the log
    // after it builds on (a stale or broken checkpoint). versions.js falls back.
    let problem = this._syncProblem;
    this._syncProblem = null;
    if (!problem && (this.doc.store.pendingStructs || this.doc.store.pendingDs)) {
      problem = { code: 'snapshot_incomplete', message: 'the latest checkpoint lacks updates the log after it builds on' };
    }
    this._becameSynced();
    if (problem) this._emit('sync-problem', problem);
  }

  _becameSynced() {
    this.synced = true;
    this._attempt = 0;
    this._jwtFailures = 0;
    this._emit('synced', { version: this.version });
    this._resolve('synced');
    for (const counter of [...this._pending.keys()].sort((a, b) => a - b)) this._sendUpdate(counter);
  }

  /** @param {ServerMessage} msg */
  _onAck(msg) {
    this._pending.delete(msg.counter);
    this._advance(msg.seq);
    this._emit('acked', { counter: msg.counter, seq: msg.seq, duplicate: !!msg.duplicate });
    if (!this._pending.size) {
      this._resolve('idle');
      this._emit('idle', { version: this.version });
    }
  }

  async _onSnapshotRequest() {
    if (!this._cipher || !this.session || this._above.size) return;
    const seq = this.version;
    const data = await this._cipher.sealSnapshot(seq, Y.encodeStateAsUpdate(this.doc));
    if (this._sendRaw({ type: 'snapshot', session_id: this.session.session_id, seq, data: toBase64(data) })) {
      this._snapshotWaiters.push(null);
    }
  }

  /** @param {ServerMessage} msg */
  _onClientJoined(msg) {
    /** @type {Record<string, unknown>} */
    const fields = {};
    for (const k of ['user_id', 'client_id', 'caret', 'client_info', 'role']) if (k in msg) fields[k] = msg[k];
    const info = /** @type {Member} */ (fields);
    this.clients.set(msg.client_id, info);
    this._emit('client-joined', info);
  }

  /** @param {ServerMessage} msg */
  _onClientLeft(msg) {
    const info = this.clients.get(msg.client_id) || msg;
    this.clients.delete(msg.client_id);
    this._emit('client-left', info);
  }

  /** @param {ServerMessage} msg */
  async _onPresence(msg) {
    if (!this._cipher) return;
    let state;
    try {
      const plain = await this._cipher.openPresence(msg.client_id, fromBase64(msg.data));
      state = JSON.parse(new TextDecoder().decode(plain));
    } catch (err) {
      // presence from another session or garbage: ignore, it is ephemeral
      console.debug('[rtc] ignored presence that does not open:', msg.client_id, err);
      return;
    }
    const c = this.clients.get(msg.client_id);
    if (c) c.presence = state;
    this._emit('presence', { clientId: msg.client_id, userId: msg.user_id, state });
  }

  /** @param {ServerMessage} msg */
  _onTokenAccepted(msg) {
    this.tokenExpiresAt = typeof msg.expires_at === 'number' ? msg.expires_at : null;
    if (msg.role) this.role = msg.role;
    this._scheduleTokenRefresh();
  }

  /** @param {ServerMessage} msg */
  _onError(msg) {
    const code = msg.code || 'general';
    const closeCode = typeof msg.close === 'number' ? msg.close : null;
    this._lastError = new ClientError(msg.message || 'error', {
      code,
      fatal: closeCode !== null && FATAL_CLOSE.has(closeCode),
      closeCode,
      detail: msg.detail || null,
      retryAfter: typeof msg.retry_after === 'number' && msg.retry_after > 0 ? msg.retry_after : null,
    });
  }
}
