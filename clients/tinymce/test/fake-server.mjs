// An in-memory Tandem server speaking docs/protocol.md to FakeSocket objects (no network).
// Enough of the real server for the client tests: sessions, the create race, seq/ack,
// de-duplication, resume from last_seq, presence relay, errors with close codes.
const utf8 = new TextEncoder();

/** @typedef {import('../src/protocol-client.js').ServerMessage} Message a message either way */
/**
 * A fake socket's connection state, after its hello.
 * @typedef {{documentId: string, clientId: string, member: {user_id: string, client_id: string, caret: number, client_info: unknown, role: string}}} SocketState
 */
/**
 * A socket of the fake server (see socketClass).
 * @typedef {{
 *   url: string,
 *   readyState: number,
 *   sent: Message[],
 *   state: SocketState | null,
 *   binaryOk: boolean,
 *   onopen: ((event: object) => void) | null,
 *   onmessage: ((event: {data: string | ArrayBuffer}) => void) | null,
 *   onclose: ((event: {code: number, reason: string, wasClean: boolean}) => void) | null,
 *   onerror: ((event: object) => void) | null,
 *   send(data: string | Uint8Array): void,
 *   close(code?: number, reason?: string): void,
 * }} FakeSocket
 */
/**
 * @typedef {object} FakeDoc
 * @property {{session_id: string, key_hint: string, salt: string, iterations: number, wrapped_key: string, creator: string, start_seq: number} | null} session
 * @property {Message[]} log
 * @property {{seq: number, data: string} | null} snapshot
 * @property {Map<string, number>} seen
 * @property {Map<FakeSocket, SocketState>} members
 * @property {number} version
 */

/**
 * @param {Uint8Array} bytes
 * @returns {Message}
 */
function decodeClientUpdate(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== 0x01) throw new Error('not a client update');
  const sidLength = bytes[1];
  const sessionId = new TextDecoder().decode(bytes.subarray(2, 2 + sidLength));
  const counter = Number(view.getBigUint64(2 + sidLength));
  const data = Buffer.from(bytes.subarray(10 + sidLength)).toString('base64');
  return { type: 'update', session_id: sessionId, counter, data, binary: true };
}

/** @param {Message} m */
function encodeServerUpdate(m) {
  const sid = utf8.encode(m.session_id);
  const cid = utf8.encode(m.client_id);
  const uid = utf8.encode(m.user_id);
  const data = Buffer.from(m.data, 'base64');
  const out = new Uint8Array(17 + 1 + sid.length + 1 + cid.length + 2 + uid.length + data.length);
  const view = new DataView(out.buffer);
  out[0] = 0x02;
  view.setBigUint64(1, BigInt(m.seq));
  view.setBigUint64(9, BigInt(m.counter));
  let at = 17;
  out[at++] = sid.length;
  out.set(sid, at);
  at += sid.length;
  out[at++] = cid.length;
  out.set(cid, at);
  at += cid.length;
  view.setUint16(at, uid.length);
  at += 2;
  out.set(uid, at);
  out.set(data, at + uid.length);
  return out.buffer;
}

/** @param {(ArrayBuffer | Uint8Array)[]} parts */
function encodeBatch(parts) {
  const bytes = parts.map((p) => new Uint8Array(p));
  const out = new Uint8Array(1 + bytes.reduce((n, b) => n + 4 + b.length, 0));
  const view = new DataView(out.buffer);
  out[0] = 0x04;
  let at = 1;
  for (const b of bytes) {
    view.setUint32(at, b.length);
    out.set(b, at + 4);
    at += 4 + b.length;
  }
  return out.buffer;
}

export class FakeServer {
  constructor() {
    /** @type {Map<string, FakeDoc>} */
    this.docs = new Map();
    /** @type {Set<FakeSocket>} */
    this.sockets = new Set();
    /** @type {Message[]} */
    this.received = [];
    this.hold = false; // when true, messages queue until release()
    /** @type {[FakeSocket, Message][]} */
    this.queue = [];
    this.maxMembers = Infinity; // per document, then too_many_connections (4009)
    /** @type {number | null} */
    this.retryAfter = null; // seconds, sent with too_many_connections
    this.binary = false; // speak binary update frames with clients that ask (docs/protocol.md)
    this.binaryIn = 0; // binary frames received
    this.binaryOut = 0; // binary frames sent
  }

  /**
   * @param {string} id
   * @returns {FakeDoc}
   */
  doc(id) {
    let d = this.docs.get(id);
    if (!d) {
      d = { session: null, log: [], snapshot: null, seen: new Map(), members: new Map(), version: 0 };
      this.docs.set(id, d);
    }
    return d;
  }

  /**
   * A WebSocket class bound to this server.
   * @returns {new (url: string) => FakeSocket}
   */
  socketClass() {
    const server = this;
    return class FakeSocket {
      /** @param {string} url */
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        /** @type {Message[]} */
        this.sent = [];
        /** @type {SocketState | null} */
        this.state = null;
        this.binaryOk = false;
        /** @type {((event: object) => void) | null} set by the client */
        this.onopen = null;
        /** @type {((event: {data: string | ArrayBuffer}) => void) | null} set by the client */
        this.onmessage = null;
        /** @type {((event: {code: number, reason: string, wasClean: boolean}) => void) | null} set by the client */
        this.onclose = null;
        /** @type {((event: object) => void) | null} set by the client */
        this.onerror = null;
        server.sockets.add(this);
        setTimeout(() => {
          if (this.readyState !== 0) return;
          this.readyState = 1;
          this.onopen && this.onopen({});
        }, 0);
      }
      /** @param {string | Uint8Array} data */
      send(data) {
        if (this.readyState !== 1) throw new Error('not open');
        let msg;
        if (typeof data === 'string') {
          msg = JSON.parse(data);
        } else {
          server.binaryIn += 1;
          msg = decodeClientUpdate(data);
        }
        this.sent.push(msg);
        server.received.push(msg);
        if (server.hold) server.queue.push([this, msg]);
        else server.handle(this, msg);
      }
      /**
       * @param {number} [code]
       * @param {string} [reason]
       */
      close(code = 1000, reason = '') {
        server.drop(this, code, reason, false);
      }
    };
  }

  release() {
    this.hold = false;
    const q = this.queue;
    this.queue = [];
    for (const [ws, msg] of q) this.handle(ws, msg);
  }

  /**
   * @param {FakeSocket} ws
   * @param {Message} msg
   */
  push(ws, msg) {
    if (ws.readyState !== 1) return;
    /** @type {string | ArrayBuffer} */
    let data = JSON.stringify(msg);
    if (ws.binaryOk && msg.type === 'update') {
      this.binaryOut += 1;
      // every other one as a batch, so both framings are exercised
      data = this.binaryOut % 2 ? encodeServerUpdate(msg) : encodeBatch([encodeServerUpdate(msg), utf8.encode(JSON.stringify({ type: 'client_joined_noop' }))]);
    }
    setTimeout(() => ws.readyState === 1 && ws.onmessage && ws.onmessage({ data }), 0);
  }

  /**
   * Close from the server side (network drop or error close).
   * @param {FakeSocket} ws
   * @param {number} [code]
   * @param {string} [reason]
   * @param {boolean} [notify] a clean close
   */
  drop(ws, code = 1006, reason = '', notify = true) {
    if (ws.readyState === 3) return;
    ws.readyState = 3;
    this.sockets.delete(ws);
    if (ws.state) {
      const d = this.doc(ws.state.documentId);
      d.members.delete(ws);
      for (const other of d.members.keys()) this.push(other, { type: 'client_left', ...ws.state.member });
    }
    setTimeout(() => ws.onclose && ws.onclose({ code, reason, wasClean: notify }), 1);
  }

  /**
   * An error frame, then the close.
   * @param {FakeSocket} ws
   * @param {string} code
   * @param {string} message
   * @param {number} close
   * @param {object} [extra] more fields of the error frame
   */
  fail(ws, code, message, close, extra = {}) {
    this.push(ws, { type: 'error', code, message, close, ...extra });
    setTimeout(() => this.drop(ws, close, message), 5);
  }

  /**
   * @param {FakeSocket} ws
   * @param {Message} msg
   */
  handle(ws, msg) {
    if (msg.type === 'hello') return this.onHello(ws, msg);
    if (!ws.state) return this.fail(ws, 'protocol_violation', 'hello first', 4000);
    const d = this.doc(ws.state.documentId);
    if (msg.type === 'create_session') {
      if (d.session) {
        this.push(ws, { type: 'session_rejected', session_id: msg.session_id });
        return;
      }
      const session = {
        session_id: msg.session_id, key_hint: msg.key_hint, salt: msg.salt, iterations: msg.iterations,
        wrapped_key: msg.wrapped_key, creator: ws.state.member.user_id, start_seq: d.version,
      };
      const snapshot = { seq: d.version, data: msg.snapshot };
      d.session = session;
      d.snapshot = snapshot;
      this.push(ws, { type: 'session_created', session_id: msg.session_id, version: d.version });
      for (const other of d.members.keys()) {
        if (other === ws) continue;
        this.push(other, { type: 'new_session', session });
        this.push(other, { type: 'snapshot', session_id: session.session_id, seq: snapshot.seq, data: snapshot.data });
        this.push(other, { type: 'synced', session_id: session.session_id, version: d.version });
      }
      return;
    }
    if (msg.type === 'update') {
      if (!d.session || msg.session_id !== d.session.session_id) return this.fail(ws, 'stale_session', 'stale', 4012);
      const key = `${ws.state.clientId}:${msg.counter}`;
      if (d.seen.has(key)) {
        this.push(ws, { type: 'ack', counter: msg.counter, seq: d.seen.get(key), duplicate: true });
        return;
      }
      const seq = ++d.version;
      d.seen.set(key, seq);
      const entry = { type: 'update', seq, session_id: msg.session_id, client_id: ws.state.clientId, counter: msg.counter, user_id: ws.state.member.user_id, data: msg.data };
      d.log.push(entry);
      this.push(ws, { type: 'ack', counter: msg.counter, seq, duplicate: false });
      for (const other of d.members.keys()) if (other !== ws) this.push(other, entry);
      return;
    }
    if (msg.type === 'presence') {
      for (const other of d.members.keys()) if (other !== ws) this.push(other, { type: 'presence', client_id: ws.state.clientId, user_id: ws.state.member.user_id, data: msg.data });
      return;
    }
    if (msg.type === 'token') {
      this.push(ws, { type: 'token_accepted', expires_at: Date.now() / 1000 + 3600, role: 'editor' });
      return;
    }
    if (msg.type === 'snapshot') {
      d.snapshot = { seq: msg.seq, data: msg.data };
      this.push(ws, { type: 'snapshot_ack', seq: msg.seq, accepted: true });
    }
  }

  /**
   * @param {FakeSocket} ws
   * @param {Message} msg
   */
  onHello(ws, msg) {
    if (msg.protocol !== 1) return this.fail(ws, 'client_update_required', 'update the client', 4010);
    if (msg.token === 'bad') return this.fail(ws, 'jwt', 'JWT has expired', 4001);
    const d = this.doc(msg.document_id);
    for (const [other, st] of d.members) if (st.clientId === msg.client_id) this.drop(other, 4005, 'replaced');
    if (d.members.size >= this.maxMembers) {
      const extra = this.retryAfter === null ? {} : { retry_after: this.retryAfter };
      return this.fail(ws, 'too_many_connections', 'the document is full', 4009, extra);
    }
    const member = { user_id: msg.token, client_id: msg.client_id, caret: d.members.size + 1, client_info: msg.client_info, role: 'editor' };
    ws.state = { documentId: msg.document_id, clientId: msg.client_id, member };
    ws.binaryOk = this.binary && msg.binary === true;
    const clients = [...d.members.values()].map((s) => s.member);
    d.members.set(ws, ws.state);
    for (const other of d.members.keys()) if (other !== ws) this.push(other, { type: 'client_joined', ...member });
    this.push(ws, {
      type: 'welcome', protocol: 1, user_id: member.user_id, role: 'editor', client_id: msg.client_id, caret: member.caret,
      version: d.version, session: d.session, clients, token_expires_at: Date.now() / 1000 + 3600, limits: {},
      ...(ws.binaryOk ? { binary: true } : {}),
    });
    const snapshot = d.snapshot; // set with the session
    if (!d.session || !snapshot) return;
    const resume = msg.session_id === d.session.session_id && msg.last_seq !== null && msg.last_seq >= snapshot.seq;
    if (!resume) this.push(ws, { type: 'snapshot', session_id: d.session.session_id, seq: snapshot.seq, data: snapshot.data });
    const after = resume ? msg.last_seq : snapshot.seq;
    for (const e of d.log) if (e.seq > after) this.push(ws, e);
    this.push(ws, { type: 'synced', session_id: d.session.session_id, version: d.version });
  }
}
