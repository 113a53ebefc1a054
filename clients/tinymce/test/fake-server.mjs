// An in-memory Tandem server speaking docs/protocol.md to FakeSocket objects (no network).
// Enough of the real server for the client tests: sessions, the create race, seq/ack,
// de-duplication, resume from last_seq, presence relay, errors with close codes.
export class FakeServer {
  constructor() {
    this.docs = new Map();
    this.sockets = new Set();
    this.received = [];
    this.hold = false; // when true, messages queue until release()
    this.queue = [];
    this.maxMembers = Infinity; // per document, then too_many_connections (4009)
    this.retryAfter = null; // seconds, sent with too_many_connections
  }

  doc(id) {
    if (!this.docs.has(id)) this.docs.set(id, { session: null, log: [], snapshot: null, seen: new Map(), members: new Map(), version: 0 });
    return this.docs.get(id);
  }

  /** A WebSocket class bound to this server. */
  socketClass() {
    const server = this;
    return class FakeSocket {
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        this.sent = [];
        /** @type {((event: object) => void) | null} set by the client */
        this.onopen = null;
        server.sockets.add(this);
        setTimeout(() => {
          if (this.readyState !== 0) return;
          this.readyState = 1;
          this.onopen && this.onopen({});
        }, 0);
      }
      send(data) {
        if (this.readyState !== 1) throw new Error('not open');
        const msg = JSON.parse(data);
        this.sent.push(msg);
        server.received.push(msg);
        if (server.hold) server.queue.push([this, msg]);
        else server.handle(this, msg);
      }
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

  push(ws, msg) {
    if (ws.readyState !== 1) return;
    setTimeout(() => ws.readyState === 1 && ws.onmessage && ws.onmessage({ data: JSON.stringify(msg) }), 0);
  }

  /** Close from the server side (network drop or error close). */
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

  fail(ws, code, message, close, extra = {}) {
    this.push(ws, { type: 'error', code, message, close, ...extra });
    setTimeout(() => this.drop(ws, close, message), 5);
  }

  handle(ws, msg) {
    if (msg.type === 'hello') return this.onHello(ws, msg);
    if (!ws.state) return this.fail(ws, 'protocol_violation', 'hello first', 4000);
    const d = this.doc(ws.state.documentId);
    if (msg.type === 'create_session') {
      if (d.session) {
        this.push(ws, { type: 'session_rejected', session_id: msg.session_id });
        return;
      }
      d.session = {
        session_id: msg.session_id, key_hint: msg.key_hint, salt: msg.salt, iterations: msg.iterations,
        wrapped_key: msg.wrapped_key, creator: ws.state.member.user_id, start_seq: d.version,
      };
      d.snapshot = { seq: d.version, data: msg.snapshot };
      this.push(ws, { type: 'session_created', session_id: msg.session_id, version: d.version });
      for (const other of d.members.keys()) {
        if (other === ws) continue;
        this.push(other, { type: 'new_session', session: d.session });
        this.push(other, { type: 'snapshot', session_id: d.session.session_id, seq: d.snapshot.seq, data: d.snapshot.data });
        this.push(other, { type: 'synced', session_id: d.session.session_id, version: d.version });
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
    const clients = [...d.members.values()].map((s) => s.member);
    d.members.set(ws, ws.state);
    for (const other of d.members.keys()) if (other !== ws) this.push(other, { type: 'client_joined', ...member });
    this.push(ws, {
      type: 'welcome', protocol: 1, user_id: member.user_id, role: 'editor', client_id: msg.client_id, caret: member.caret,
      version: d.version, session: d.session, clients, token_expires_at: Date.now() / 1000 + 3600, limits: {},
    });
    if (!d.session) return;
    const resume = msg.session_id === d.session.session_id && msg.last_seq !== null && msg.last_seq >= d.snapshot.seq;
    if (!resume) this.push(ws, { type: 'snapshot', session_id: d.session.session_id, seq: d.snapshot.seq, data: d.snapshot.data });
    const after = resume ? msg.last_seq : d.snapshot.seq;
    for (const e of d.log) if (e.seq > after) this.push(ws, e);
    this.push(ws, { type: 'synced', session_id: d.session.session_id, version: d.version });
  }
}
