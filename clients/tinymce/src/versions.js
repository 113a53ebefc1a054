// Version history in the editor (docs/protocol.md, "Version history"; issue 12):
// editor.plugins.rtc.versions(), .openVersion(n), .restoreVersion(n), .createVersion(name),
// and the fall-back that rebuilds the document from an older checkpoint and the retained log
// when the latest checkpoint cannot be decrypted or lacks acknowledged updates.
//
// Everything here is a key holder's work: the server only lists and hands out ciphertext.
import * as Y from 'yjs';
import { REMOTE_ORIGIN, fetchKey } from './protocol-client.js';
import { EncryptionError, SessionCipher, WRONG_KEY_MESSAGE, unwrapContentKey, fromBase64, toBase64 } from './crypto.js';
import { modelToHtml } from './content/html.js';
import { insertItems, readFragment, readTopNode } from './content/ydoc.js';

/** @typedef {import('./protocol-client.js').SessionInfo} SessionInfo */
/** @typedef {import('./protocol-client.js').ServerMessage} ServerMessage */
/** @typedef {import('./content/model.js').Block} Block */
/**
 * A version as list_versions describes it (docs/protocol.md, "Version history").
 * @typedef {{number: number, seq: number, session_id: string, [field: string]: unknown}} VersionEntry
 */
/**
 * A version, newest first in list().
 * @typedef {object} VersionInfo
 * @property {number} number
 * @property {number} seq
 * @property {string} kind auto, named, restore or repair
 * @property {unknown} createdAt
 * @property {unknown} editors
 * @property {unknown} size
 * @property {string} sessionId
 * @property {unknown} keyHint
 * @property {string | null} name null: none, or unreadable
 */
/**
 * What recover() reports (onIncident, VersionHistory.incidents).
 * @typedef {{type: 'history', code: string, message: string, recovered: boolean, base?: number}} HistoryIncident
 */

const PAGE = 100; // the protocol's most versions per list_versions
export const RESTORE_ORIGIN = Symbol('tandem-restore');

/**
 * Canonical, checked HTML of a Y.Doc's content (collaborators' content is untrusted).
 * @param {Y.Doc} doc
 */
export function docHtml(doc) {
  return modelToHtml(readFragment(doc.getXmlFragment('content')));
}

/**
 * Make `fragment` show what `target` shows, as one local edit that replaces only the
 * top-level blocks that differ: a common prefix and suffix keep their identity, so
 * collaborators' concurrent edits inside them survive.
 * @param {Y.XmlFragment} fragment
 * @param {Y.XmlFragment} target
 * @param {unknown} [origin] of the transaction
 * @returns {number} how many blocks were replaced
 */
export function morphFragment(fragment, target, origin = RESTORE_ORIGIN) {
  /** @param {Y.XmlElement | Y.XmlText | Y.XmlHook} node */
  const render = (node) => {
    const blocks = readTopNode(node); // checked: a version's content is untrusted too
    return { html: modelToHtml(blocks), blocks };
  };
  const have = fragment.toArray().map((n) => render(n).html);
  const wanted = target.toArray().map(render);
  const want = wanted.map((w) => w.html);
  let prefix = 0;
  while (prefix < Math.min(have.length, want.length) && have[prefix] === want[prefix]) prefix++;
  let suffix = 0;
  while (suffix < Math.min(have.length, want.length) - prefix && have[have.length - 1 - suffix] === want[want.length - 1 - suffix]) suffix++;
  const removed = have.length - suffix - prefix;
  const added = wanted.slice(prefix, want.length - suffix);
  if (!removed && !added.length) return 0;
  const doc = fragment.doc;
  if (!doc) throw new Error('the fragment is not part of a Y.Doc');
  doc.transact(() => {
    if (removed) fragment.delete(prefix, removed);
    if (added.length) insertItems(fragment, prefix, added.flatMap((w) => w.blocks));
  }, origin);
  return Math.max(removed, added.length);
}

/**
 * The sessions an answer names, by id.
 * @param {ServerMessage} answer
 * @returns {Map<string, SessionInfo>}
 */
const sessionsOf = (answer) => new Map((answer.sessions || []).map((/** @type {SessionInfo} */ s) => [s.session_id, s]));

export class VersionHistory {
  /**
   * @param {import('./protocol-client.js').TandemClient} client
   * @param {{onIncident?: (info: HistoryIncident) => void}} [o]
   */
  constructor(client, o = {}) {
    this.client = client;
    /** @type {HistoryIncident[]} */
    this.incidents = []; // what recover() reported, for getState() and tests
    const report = o.onIncident || (() => {});
    /** @param {HistoryIncident} info */
    this.onIncident = (info) => {
      this.incidents.push(info);
      console.warn('[rtc] ' + info.message);
      report(info);
    };
    /** @type {Map<string, SessionCipher>} */
    this._ciphers = new Map();
    this._busy = Promise.resolve();
    client.on('sync-problem', (/** @type {{code: string, message: string}} */ problem) => {
      this.recover(problem).catch((err) => console.error('[rtc] could not fall back to the history', err));
    });
  }

  /**
   * @param {SessionInfo | undefined} session
   * @returns {Promise<SessionCipher>}
   */
  async _cipherFor(session) {
    if (!session) throw new Error('the server sent no session for this version');
    const client = this.client;
    if (client.session && client._cipher && session.session_id === client.session.session_id) return client._cipher;
    let cipher = this._ciphers.get(session.session_id);
    if (!cipher) {
      const [key] = await fetchKey(client.encryptionProvider, client.documentId, session.key_hint);
      const contentKey = await unwrapContentKey(key, fromBase64(session.salt), session.iterations, fromBase64(session.wrapped_key), client.documentId, session.session_id);
      cipher = new SessionCipher(contentKey, client.documentId, session.session_id);
      this._ciphers.set(session.session_id, cipher);
    }
    return cipher;
  }

  /**
   * @param {number | null} before
   * @param {number} [limit]
   */
  async _page(before, limit = PAGE) {
    /** @type {{type: string, limit: number, before?: number}} */
    const message = { type: 'list_versions', limit };
    if (before) message.before = before;
    return this.client.request(message);
  }

  /**
   * Versions, newest first: {number, seq, kind, createdAt, editors, size, sessionId, keyHint, name}.
   * @param {{limit?: number}} [o]
   * @returns {Promise<VersionInfo[]>}
   */
  async list({ limit = Infinity } = {}) {
    /** @type {VersionInfo[]} */
    const found = [];
    /** @type {number | null} */
    let before = null;
    while (found.length < limit) {
      const answer = await this._page(before, Math.min(PAGE, limit - found.length));
      const sessions = sessionsOf(answer);
      for (const v of answer.versions) {
        let name = null;
        if (v.name) {
          try {
            const cipher = await this._cipherFor(sessions.get(v.session_id));
            name = new TextDecoder().decode(await cipher.openVersionName(v.seq, fromBase64(v.name)));
          } catch {
            name = null; // unreadable: listed without a name
          }
        }
        found.push({ number: v.number, seq: v.seq, kind: v.kind, createdAt: v.created_at, editors: v.editors, size: v.size, sessionId: v.session_id, keyHint: v.key_hint, name });
      }
      if (!answer.more || !answer.versions.length) break;
      before = answer.versions[answer.versions.length - 1].number;
    }
    return found;
  }

  /**
   * The document as of version n (a Y.Doc). With rebuild, its own checkpoint is not trusted.
   * @param {number} number
   * @param {{rebuild?: boolean}} [o]
   * @returns {Promise<Y.Doc>}
   */
  async open(number, { rebuild = false } = {}) {
    const answer = await this.client.request({ type: 'get_version', number });
    const version = answer.version;
    if (!rebuild) {
      try {
        const cipher = await this._cipherFor(answer.session);
        const state = await cipher.openSnapshot(version.seq, fromBase64(answer.data));
        const doc = new Y.Doc();
        Y.applyUpdate(doc, state);
        return doc;
      } catch (err) {
        console.warn(`[rtc] version ${number} could not be opened; rebuilding it from the log`, err);
      }
    }
    const rebuilt = await this._rebuild(version.seq, number);
    if (!rebuilt) throw new Error(`version ${number} cannot be opened and no older checkpoint rebuilds it`);
    return rebuilt.doc;
  }

  /** The client's document, which it has from its first connection on. */
  _doc() {
    const doc = this.client.doc;
    if (!doc) throw new Error('the client has no document yet');
    return doc;
  }

  /**
   * Store the current state as a version (all local edits acknowledged first).
   * @param {string | null} [name]
   * @param {string} [kind]
   */
  async createVersion(name = null, kind = 'named') {
    const client = this.client;
    if (client.role !== 'editor') throw new Error('a viewer cannot create versions');
    await client.whenSynced();
    await client.flush();
    if (!client._cipher || !client.session || client._above.size) throw new Error('the document is not fully loaded');
    const seq = client.version;
    /** @type {{session_id: string, seq: number, kind: string, data: string, name?: string}} */
    const message = {
      session_id: client.session.session_id,
      seq,
      kind,
      data: toBase64(await client._cipher.sealSnapshot(seq, Y.encodeStateAsUpdate(this._doc()))),
    };
    if (name) message.name = toBase64(await client._cipher.sealVersionName(seq, new TextEncoder().encode(name)));
    const ack = await client.sendSnapshot(message);
    if (!ack.accepted) throw new Error(ack.message || 'the version was not stored');
    return ack.version;
  }

  /**
   * Bring version n back as a new edit on top of the document: the state before is stored as
   * a version, only differing blocks are replaced, the result is stored as a restore version.
   * @param {number} number
   * @param {{rebuild?: boolean}} [o]
   */
  async restore(number, { rebuild = false } = {}) {
    const client = this.client;
    if (client.role !== 'editor') throw new Error('a viewer cannot restore versions');
    const target = await this.open(number, { rebuild });
    if (rebuild) {
      const current = await this._rebuild(client.version, number);
      if (current) Y.applyUpdate(this._doc(), Y.encodeStateAsUpdate(current.doc), REMOTE_ORIGIN);
    }
    await this.createVersion(`Before restoring version ${number}`);
    morphFragment(client.fragment, target.getXmlFragment('content'));
    return this.createVersion(`Restored version ${number}`, 'restore');
  }

  /**
   * The newest checkpoint below `below` that decrypts and, with the log up to `upto`, lacks nothing.
   * @param {number} upto
   * @param {number | null} [below]
   * @returns {Promise<{doc: Y.Doc, number: number} | null>}
   */
  async _rebuild(upto, below = null) {
    let before = below;
    for (;;) {
      const answer = await this._page(before);
      const sessions = sessionsOf(answer);
      for (const v of answer.versions) {
        if (v.seq > upto) continue;
        const doc = await this._tryBase(v, sessions.get(v.session_id), upto);
        if (doc) return { doc, number: v.number };
      }
      if (!answer.more || !answer.versions.length) return null;
      before = answer.versions[answer.versions.length - 1].number;
    }
  }

  /**
   * @param {VersionEntry} version
   * @param {SessionInfo | undefined} session
   * @param {number} upto
   * @returns {Promise<Y.Doc | null>}
   */
  async _tryBase(version, session, upto) {
    const doc = new Y.Doc();
    try {
      const cipher = await this._cipherFor(session);
      const got = await this.client.request({ type: 'get_version', number: version.number });
      Y.applyUpdate(doc, await cipher.openSnapshot(version.seq, fromBase64(got.data)));
    } catch {
      return null;
    }
    let after = version.seq;
    while (after < upto) {
      const page = await this.client.request({ type: 'get_updates', after, upto });
      const sessions = sessionsOf(page);
      for (const u of page.updates) {
        try {
          const cipher = await this._cipherFor(sessions.get(u.session_id));
          Y.applyUpdate(doc, await cipher.openUpdate(u.client_id, u.counter, fromBase64(u.data)));
        } catch (err) {
          // an update nobody can read: skipped, as the SDK does
          console.warn(`[rtc] update ${u.seq} could not be read while rebuilding; skipped`, err);
        }
        after = u.seq;
      }
      if (!page.more || !page.updates.length) break;
    }
    if (doc.store.pendingStructs || doc.store.pendingDs) return null;
    return doc;
  }

  /**
   * The latest checkpoint was unusable: merge the document rebuilt from history, repair.
   * @param {{code: string, message: string}} problem
   */
  async recover(problem) {
    const client = this.client;
    const upto = client.version;
    const rebuilt = await this._rebuild(upto);
    if (!rebuilt) {
      this.onIncident({ type: 'history', code: problem.code, message: `${problem.message}; no older checkpoint could rebuild the document`, recovered: false });
      if (!client._cipher) client._fail(new EncryptionError(WRONG_KEY_MESSAGE)); // nothing opens: a wrong key
      return;
    }
    Y.applyUpdate(this._doc(), Y.encodeStateAsUpdate(rebuilt.doc), REMOTE_ORIGIN);
    this.onIncident({ type: 'history', code: problem.code, message: `${problem.message}; rebuilt from version ${rebuilt.number} and the log`, recovered: true, base: rebuilt.number });
    if (client.role === 'editor' && client._cipher && client.session && client.version === upto) {
      const data = await client._cipher.sealSnapshot(upto, Y.encodeStateAsUpdate(this._doc()));
      await client.sendSnapshot({ session_id: client.session.session_id, seq: upto, kind: 'repair', data: toBase64(data) }).catch((err) => console.warn('[rtc] the repair checkpoint was not sent', err));
    }
  }
}
