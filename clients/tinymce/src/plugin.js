// The TinyMCE plugin "rtc": real-time collaboration through a self-hosted Tandem server.
// Options follow Tiny's retired RTC plugin (see options.js). editor.plugins.rtc is the API:
//   getState() -> {connected, synced, version, sessionId, keyHint, clients, unacknowledged}
//   whenSynced() -> Promise · flush() -> Promise (every local change acknowledged)

import * as Y from 'yjs';
import { ClientError, TandemClient, websocketUrl, REMOTE_ORIGIN } from './protocol-client.js';
import { Binding } from './binding.js';
import { editorIo, sharedContent } from './editor-io.js';
import { modelToHtml } from './content/html.js';
import { insertItems, readFragment } from './content/ydoc.js';
import { CaretOverlay } from './carets.js';
import { LocalStore } from './local-store.js';
import { VersionHistory, docHtml } from './versions.js';
import { registerOptions, readOptions } from './options.js';
import { toBase64, fromBase64 } from './crypto.js';

/** @typedef {import('tinymce').Editor} Editor */
/** @typedef {import('tinymce').TinyMCE} TinyMCE */
/** @typedef {import('./protocol-client.js').Member} Member */
/** @typedef {import('./protocol-client.js').DisconnectInfo} DisconnectInfo */
/** @typedef {import('./options.js').RtcOptions} RtcOptions */
/** @typedef {import('./options.js').UserDetails} UserDetails */
/** @typedef {import('./options.js').ClientPayload} ClientPayload */
/** @typedef {import('./editor-io.js').EditorIo} EditorIo */
/** @typedef {import('./local-store.js').StoredRecord} StoredRecord */
/** @typedef {ReturnType<typeof setTimeout>} Timer */
/** @typedef {'info' | 'warning' | 'error' | 'success'} NoticeType */
/** @typedef {{resolve: () => void, reject: (reason: unknown) => void}} SyncedWaiter */

/**
 * The plugin's state, one per editor (see setupPlugin).
 * @typedef {object} PluginState
 * @property {TandemClient | null} client
 * @property {Binding | null} binding
 * @property {Y.UndoManager | null} undo
 * @property {CaretOverlay | null} carets
 * @property {boolean} editable
 * @property {{reason: string, message: string} | null} locked why editing stopped for good
 * @property {boolean} composing an IME composition is on
 * @property {(() => void)[]} composeWaiters remote content waiting for the composition to end
 * @property {number[]} incidents times (Date.now()) of the last minute's sync-loop incidents
 * @property {boolean} syncQueued
 * @property {{reason: string, message: string} | null} failed
 * @property {Timer | null} offlineTimer
 * @property {{close: () => void} | null} offlineNotice
 * @property {Timer | null} presenceTimer
 * @property {number} lastPresence
 * @property {string | null} lastPresenceKey
 * @property {Timer | null} snapshotTimer
 * @property {boolean} editedSinceSnapshot
 * @property {Map<string, Promise<UserDetails>>} userDetails by user id
 * @property {boolean} originalReadonly
 * @property {EditorIo | null} io
 * @property {boolean} destroyed
 * @property {boolean} deleted
 * @property {LocalStore | null} store
 * @property {string | null} storeKey
 * @property {StoredRecord | null} stored
 * @property {Y.Doc | null} offlineDoc
 * @property {boolean} offlineEdited
 * @property {Y.Doc | null} boundDoc
 * @property {Timer | null} saveTimer
 * @property {VersionHistory | null} history
 */

export const SECURE_CONTEXT_MESSAGE = 'RTC services require a secure context';
const OFFLINE_NOTICE_MS = 3000; // short blips do not nag
const SAVE_DEBOUNCE_MS = 150;
const OFFLINE_NOTICE = 'You are offline. Your changes are kept on this device and will be sent when the connection is back.';
const PRESENCE_INTERVAL_MS = 100; // at most 10 presence messages per second
const SNAPSHOT_DEBOUNCE_MS = 1500;
const COMPOSITION_HOLD_MS = 10000; // a composition that never ends does not hold collaborators back
const INCIDENTS_BEFORE_LOCK = 3; // sync-loop incidents in a minute before editing stops

// The origin of this script (the Tandem server serves it): the default rtc_server_url.
const SCRIPT_SRC = (() => {
  try {
    const s = typeof document !== 'undefined' && document.currentScript;
    // an SVG script element has no src
    return s && 'src' in s && s.src ? new URL(s.src).origin : '';
  } catch {
    return '';
  }
})();

/** @param {Y.RelativePosition} rel */
function encodeRel(rel) {
  return toBase64(Y.encodeRelativePosition(rel));
}
/** @param {string} s */
function decodeRel(s) {
  return Y.decodeRelativePosition(fromBase64(s));
}

/** @param {Editor} editor */
function setupPlugin(editor) {
  registerOptions(editor, SCRIPT_SRC);
  const LOCAL = { rtc: 'local' };
  const INITIAL = { rtc: 'initial' };
  const LOCAL_COPY = { rtc: 'local-copy' }; // edits from this device's copy, sent as local
  /** @type {PluginState} */
  const state = {
    client: null,
    binding: null,
    undo: null,
    carets: null,
    editable: false,
    locked: null,
    composing: false,
    composeWaiters: [],
    incidents: [],
    syncQueued: false,
    failed: null,
    offlineTimer: null,
    offlineNotice: null,
    presenceTimer: null,
    lastPresence: 0,
    lastPresenceKey: null,
    snapshotTimer: null,
    editedSinceSnapshot: false,
    userDetails: new Map(),
    originalReadonly: false,
    io: null,
    destroyed: false,
    deleted: false, // the server deleted the document (close 4004): nothing is saved on this device
    store: null, // the local copy (IndexedDB)
    storeKey: null,
    stored: null, // the record loaded at start
    offlineDoc: null, // the local copy shown until the server is reached
    offlineEdited: false,
    boundDoc: null,
    saveTimer: null,
    history: null, // VersionHistory (versions.js)
  };
  /** @type {RtcOptions | null} read when the editor is initialised */
  let options = null;
  /** @type {SyncedWaiter[]} whenSynced() before the client exists */
  const pendingSynced = [];

  const api = {
    getState() {
      const s = state.client
        ? state.client.getState()
        : { connected: false, synced: false, version: 0, sessionId: null, keyHint: null, clients: [], unacknowledged: 0 };
      return {
        ...s,
        editable: state.editable,
        offline: !!state.offlineDoc || (!!state.client && !state.client.connected && !!state.binding && state.binding.active),
        error: state.failed ? { reason: state.failed.reason, message: state.failed.message } : null,
        historyIncidents: state.history ? state.history.incidents.map((i) => ({ ...i })) : [],
      };
    },
    /** @returns {Promise<void>} */
    whenSynced() {
      if (state.client) return state.client.whenSynced();
      if (state.failed) return Promise.reject(new Error(state.failed.message));
      return new Promise((resolve, reject) => pendingSynced.push({ resolve, reject }));
    },
    flush() {
      syncNow();
      return state.client ? state.client.flush() : Promise.resolve();
    },
    /** Canonical HTML of the shared document (what other clients and the Python SDK see). */
    getCanonicalContent() {
      return state.binding ? modelToHtml(readFragment(state.binding.fragment)) : '';
    },
    /** The shared document as the content model (plain JSON; docs/content-model.md §2). */
    getModel() {
      return state.binding ? JSON.parse(JSON.stringify(readFragment(state.binding.fragment))) : [];
    },
    /** What this editor's DOM holds now, as canonical HTML of the content model. */
    readLocal() {
      return state.binding ? modelToHtml(state.binding.readDom()) : '';
    },
    /** Binding counters (syncs, writes, renders, incidents…), for diagnostics and tests. */
    getStats() {
      return state.binding ? { ...state.binding.stats } : null;
    },
    /** The Y.Doc (read it; write through the editor). */
    getDoc() {
      return state.client ? state.client.doc : null;
    },
    /** Save this document's copy on this device now (it is saved shortly after each change). */
    saveLocal() {
      return save();
    },
    /** Drop the connection and connect again (after a network change, say); edits are kept. */
    reconnect() {
      if (state.client) state.client.dropConnection();
    },
    /** Erase this document's copy on this device (IndexedDB). */
    forgetLocal() {
      return state.store && state.storeKey ? state.store.delete(state.storeKey) : Promise.resolve();
    },
    /** The version history, newest first (versions.js): [{number, seq, kind, createdAt, editors, size, name}]. */
    /** @param {{limit?: number}} [opts] */
    versions(opts) {
      return history().list(opts);
    },
    /**
     * Read-only canonical HTML of version n ({rebuild: true}: from the log, not its checkpoint).
     * @param {number} n
     * @param {{rebuild?: boolean}} [opts]
     */
    async openVersion(n, opts) {
      return docHtml(await history().open(n, opts));
    },
    /**
     * Restore version n as a new edit on top of the document; resolves with the restore's version number.
     * @param {number} n
     * @param {{rebuild?: boolean}} [opts]
     */
    restoreVersion(n, opts) {
      syncNow();
      return history().restore(n, opts);
    },
    /**
     * Store the current state as a named version; resolves with its number.
     * @param {string} [name]
     */
    createVersion(name) {
      syncNow();
      return history().createVersion(name || null);
    },
    /** Close the connection (the editor stays read-only). */
    disconnect() {
      if (state.client) state.client.close();
      setEditable(false);
    },
  };

  // A session whose key does not open (versions.js shows its history): nothing can be sent.
  function keyless() {
    return !!(state.client && state.client.session && !state.client._cipher);
  }

  function history() {
    if (!state.history) throw new Error('real-time collaboration is not connected');
    return state.history;
  }

  // -- read-only / progress -------------------------------------------------------------------

  function role() {
    if (state.client && state.client.role) return state.client.role;
    return state.stored ? state.stored.role : null;
  }

  /** @param {boolean} on */
  function setEditable(on) {
    const want = on && !state.locked && !state.originalReadonly && state.binding && state.binding.active && role() !== 'viewer' && !keyless();
    state.editable = !!want;
    try {
      editor.mode.set(want ? 'design' : 'readonly');
    } catch (err) {
      console.debug('[rtc] could not switch the editor to', want ? 'design' : 'readonly', 'mode (no mode API?)', err);
    }
  }

  /**
   * @param {string} text
   * @param {NoticeType} [type]
   * @param {number} [timeout] ms
   */
  function notify(text, type = 'warning', timeout) {
    try {
      return editor.notificationManager.open({ text, type, ...(timeout ? { timeout } : {}) });
    } catch {
      return null;
    }
  }

  // What a sync could not keep (an event handler, a disallowed iframe host…): it was removed
  // from the shared document and from this editor, so everybody sees the same content.
  let lastNotes = '';
  /** @param {string[]} notes */
  function reportNotes(notes) {
    const key = notes.join('|');
    console.info('[rtc] not kept in the shared document:', notes);
    editor.dispatch('RtcContentRemoved', { notes });
    if (key === lastNotes || !options || !options.unsupportedNotification) return;
    lastNotes = key;
    notify('Some content cannot be shared and was removed: ' + notes.slice(0, 3).join('; '), 'info', 6000);
  }

  // The binding's loop guard tripped: the view was reloaded from the shared document.
  /** @param {object} info */
  function onIncident(info) {
    const now = Date.now();
    state.incidents = state.incidents.filter((t) => now - t < 60000);
    state.incidents.push(now);
    editor.dispatch('RtcIncident', info);
    if (state.incidents.length >= INCIDENTS_BEFORE_LOCK) {
      lock('sync-loop', 'Real-time collaboration stopped this editor to protect the shared document: it kept changing content by itself. Reload the page.');
    }
  }

  /**
   * Stop editing for good (with the reason in a notice and in getState().error).
   * @param {string} reason
   * @param {string} message
   */
  function lock(reason, message) {
    if (state.locked) return;
    state.locked = { reason, message };
    if (state.binding) state.binding.paused = true;
    setEditable(false);
    notify(message, 'error');
    console.error('[rtc] ' + message);
  }

  // -- local changes -----------------------------------------------------------------------------

  function syncNow() {
    state.syncQueued = false;
    if (!state.binding || state.composing || !state.editable) return;
    state.binding.sync();
  }

  function scheduleSync() {
    if (state.syncQueued) return;
    state.syncQueued = true;
    Promise.resolve().then(syncNow);
  }

  /** @returns {Promise<void> | null} */
  function holdRemote() {
    if (!state.composing) return null;
    return new Promise((resolve) => {
      state.composeWaiters.push(resolve);
      setTimeout(resolve, COMPOSITION_HOLD_MS);
    });
  }

  function releaseRemote() {
    const waiters = state.composeWaiters.splice(0);
    waiters.forEach((w) => w());
  }

  // -- presence ------------------------------------------------------------------------------------

  function currentSelection() {
    if (!state.binding) return null;
    const sel = editor.getWin() && editor.getWin().getSelection();
    if (!sel || !sel.rangeCount || !sel.anchorNode || !editor.getBody().contains(sel.anchorNode)) return null;
    const a = state.binding.domToY(sel.anchorNode, sel.anchorOffset);
    const h = state.binding.domToY(sel.focusNode, sel.focusOffset);
    if (!a || !h) return null;
    return {
      anchor: encodeRel(Y.createRelativePositionFromTypeIndex(a.type, a.index)),
      head: encodeRel(Y.createRelativePositionFromTypeIndex(h.type, h.index)),
    };
  }

  function sendPresence(force = false) {
    if (!state.client || !state.client.synced) return;
    const now = Date.now();
    const wait = PRESENCE_INTERVAL_MS - (now - state.lastPresence);
    if (wait > 0) {
      if (!state.presenceTimer) {
        state.presenceTimer = setTimeout(() => {
          state.presenceTimer = null;
          sendPresence(force);
        }, wait);
      }
      return;
    }
    syncNow();
    let sel;
    try {
      sel = currentSelection();
    } catch (err) {
      console.debug('[rtc] no selection to share in presence', err);
      sel = null;
    }
    const payload = { selection: sel };
    const key = JSON.stringify(payload);
    if (!force && key === state.lastPresenceKey) return;
    state.lastPresenceKey = key;
    state.lastPresence = now;
    state.client.setPresence(payload).catch((err) => console.debug('[rtc] presence not sent', err));
  }

  // -- remote clients -----------------------------------------------------------------------------

  /**
   * @param {string} userId
   * @returns {Promise<UserDetails>}
   */
  async function userDetailsFor(userId) {
    const known = state.userDetails.get(userId);
    if (known) return known;
    const provider = options && options.userDetailsProvider;
    /** @type {Promise<UserDetails>} */
    const p = (async () => {
      if (!provider) return { fullName: userId };
      try {
        const d = await provider({ userId });
        return d && typeof d === 'object' ? /** @type {UserDetails} */ (d) : { fullName: userId };
      } catch {
        return { fullName: userId };
      }
    })();
    state.userDetails.set(userId, p);
    return p;
  }

  /**
   * @param {Member} member
   * @param {UserDetails} userDetails
   * @returns {ClientPayload}
   */
  function clientPayload(member, userDetails) {
    return {
      userId: member.user_id,
      userDetails,
      clientId: member.client_id,
      caretNumber: member.caret,
      clientInfo: member.client_info || {},
    };
  }

  /** @param {Member} member */
  async function onJoined(member) {
    const details = await userDetailsFor(member.user_id);
    if (state.carets) state.carets.set(member.client_id, { name: details.fullName || member.user_id, caret: member.caret });
    const payload = clientPayload(member, details);
    try {
      if (options && options.clientConnected) options.clientConnected(payload);
    } catch (err) {
      console.error('[rtc] rtc_client_connected failed', err);
    }
    editor.dispatch('RtcClientConnected', payload);
    sendPresence(true); // let the newcomer see our caret
  }

  /** @param {Member} member */
  async function onLeft(member) {
    if (state.carets) state.carets.remove(member.client_id);
    const details = await userDetailsFor(member.user_id);
    const payload = clientPayload(member, details);
    try {
      if (options && options.clientDisconnected) options.clientDisconnected(payload);
    } catch (err) {
      console.error('[rtc] rtc_client_disconnected failed', err);
    }
    editor.dispatch('RtcClientDisconnected', payload);
  }

  // -- binding / undo (per Y.Doc) -------------------------------------------------------------------

  /** @param {Y.XmlFragment} fragment the content of a Y.Doc */
  function bind(fragment) {
    const doc = fragment.doc;
    if (!doc) throw new Error('the fragment to show is not part of a Y.Doc');
    if (state.boundDoc) state.boundDoc.off('update', onBoundUpdate);
    state.boundDoc = doc;
    doc.on('update', onBoundUpdate);
    if (state.binding) state.binding.destroy();
    if (state.undo) state.undo.destroy();
    if (!state.io) state.io = editorIo(editor, window.tinymce || globalThis.tinymce);
    const binding = new Binding(editor.getBody(), fragment, {
      origin: LOCAL,
      io: state.io,
      onNotes: reportNotes,
      onIncident,
      onDirty: scheduleSync,
      getSelection: () => editor.getWin().getSelection(),
      onRemoteRender: () => {
        if (state.carets) state.carets.schedule();
      },
    });
    state.binding = binding;
    state.undo = new Y.UndoManager(fragment, { trackedOrigins: new Set([LOCAL]), captureTimeout: 500 });
    state.undo.on('stack-item-added', () => editor.dispatch('TypingUndo'));
    state.undo.on('stack-item-popped', () => editor.dispatch('TypingUndo'));
    // Presence positions arrive decoded already (see the 'presence' handler).
    if (state.carets) state.carets.resolve = (rel) => binding.relToDom(rel);
    if ((state.client && state.client.synced) || fragment.doc === state.offlineDoc) show();
  }

  // -- the copy on this device -------------------------------------------------------------------

  /**
   * @param {Uint8Array} _update
   * @param {unknown} origin
   */
  function onBoundUpdate(_update, origin) {
    if (state.offlineDoc && state.boundDoc === state.offlineDoc && origin === LOCAL) state.offlineEdited = true;
    scheduleSave();
  }

  function scheduleSave() {
    if (!state.store || state.saveTimer) return;
    state.saveTimer = setTimeout(save, SAVE_DEBOUNCE_MS);
  }

  /**
   * Save the shown document and whether it holds edits the server has not acknowledged.
   * @returns {Promise<unknown>}
   */
  function save() {
    if (state.saveTimer !== null) clearTimeout(state.saveTimer);
    state.saveTimer = null;
    if (state.deleted || !state.store || !state.storeKey || !state.boundDoc || !state.binding || !state.binding.active) return Promise.resolve();
    const client = state.client;
    // the copy shown offline comes with its stored record; the server's document with the client
    const offline = state.boundDoc === state.offlineDoc;
    const stored = state.stored;
    const from = offline
      ? stored && { pending: state.offlineEdited || !!stored.pending, sessionId: stored.sessionId, keyHint: stored.keyHint, userId: stored.userId }
      : client && { pending: client.unacknowledged > 0, sessionId: client.session && client.session.session_id, keyHint: client.keyHint, userId: client.userId };
    if (!from) return Promise.resolve();
    /** @type {StoredRecord} */
    const record = {
      sessionId: from.sessionId,
      keyHint: from.keyHint,
      userId: from.userId,
      role: role(),
      pending: from.pending,
      savedAt: Date.now(),
      update: Y.encodeStateAsUpdate(state.boundDoc),
    };
    if (!record.sessionId) return Promise.resolve();
    return state.store.put(state.storeKey, record);
  }

  /** The document was deleted on the server: erase its copy on this device as well, and never
   * save it again (a saved copy would re-create the document on the next visit). */
  function forgetDeleted() {
    state.deleted = true;
    if (state.saveTimer !== null) clearTimeout(state.saveTimer);
    state.saveTimer = null;
    if (state.store && state.storeKey) state.store.delete(state.storeKey);
  }

  /** Show the saved copy while the server cannot be reached (a reload, a browser restart). */
  async function openLocalCopy() {
    if (!state.store || !state.storeKey) return;
    const record = await state.store.get(state.storeKey);
    state.stored = record;
    if (!record || !record.update || state.destroyed || !state.client || state.client.synced) return;
    const doc = new Y.Doc();
    Y.applyUpdate(doc, record.update, INITIAL);
    state.offlineDoc = doc;
    state.offlineEdited = false;
    bind(doc.getXmlFragment('content'));
    editor.setProgressState(false);
    setEditable(true);
    editor.dispatch('RtcOfflineCopy', { savedAt: record.savedAt, pending: record.pending });
    offlineNoticeSoon();
  }

  /**
   * The server's document is here: fold in what was edited on this device (the saved copy of
   * a previous visit, or the copy shown until now) as local edits, which are sent.
   */
  function mergeLocalCopy() {
    const client = state.client;
    if (!client) return;
    const local = state.offlineDoc;
    const record = state.stored;
    if (local) syncNow();
    const edited = local ? state.offlineEdited || (record && record.pending) : record && record.pending;
    if (edited && record) {
      const same = client.session && record.sessionId === client.session.session_id && (!record.userId || record.userId === client.userId);
      if (same) {
        Y.applyUpdate(client.doc, local ? Y.encodeStateAsUpdate(local) : record.update, LOCAL_COPY);
      } else {
        // the document was replaced (or another user signed in): keep the copy aside
        if (state.store) state.store.put(`${state.storeKey}|unmerged|${record.savedAt}`, { ...record, update: local ? Y.encodeStateAsUpdate(local) : record.update });
        notify('Changes made offline could not be merged: the document was replaced on the server. They are kept on this device.', 'warning');
        editor.dispatch('RtcOfflineUnmerged', { savedAt: record.savedAt });
      }
    }
    state.stored = null;
    if (local) {
      state.offlineDoc = null;
      state.offlineEdited = false;
      bind(client.fragment);
    }
  }

  function offlineNoticeSoon() {
    if (state.offlineTimer !== null || state.offlineNotice) return;
    state.offlineTimer = setTimeout(() => {
      state.offlineTimer = null;
      if (state.client && state.client.synced) return;
      state.offlineNotice = notify(OFFLINE_NOTICE, 'warning');
    }, OFFLINE_NOTICE_MS);
  }

  /** Show the shared document in the editor and start reading the user's changes. */
  function show() {
    const binding = state.binding;
    if (!binding) return;
    binding.renderAll();
    binding.observe();
    if (state.undo) state.undo.clear();
  }

  // -- snapshots (rtc_snapshot) ------------------------------------------------------------------------

  function scheduleSnapshotCallback() {
    if (!options || !options.snapshot || !options.documentId || !state.editedSinceSnapshot) return;
    const { snapshot, documentId } = options;
    if (state.snapshotTimer !== null) clearTimeout(state.snapshotTimer);
    state.snapshotTimer = setTimeout(() => {
      if (!state.client || state.client.unacknowledged) return;
      state.editedSinceSnapshot = false;
      const fragment = state.client.fragment;
      try {
        snapshot({
          documentId,
          version: state.client.version,
          getContent: () => modelToHtml(readFragment(fragment)),
        });
      } catch (err) {
        console.error('[rtc] rtc_snapshot failed', err);
      }
    }, SNAPSHOT_DEBOUNCE_MS);
  }

  // -- connection ------------------------------------------------------------------------------------

  function initialHtml() {
    const el = editor.getElement();
    if (!el) return '';
    return el.nodeName === 'TEXTAREA' || el.nodeName === 'INPUT' ? /** @type {HTMLTextAreaElement | HTMLInputElement} */ (el).value : el.innerHTML;
  }

  function start() {
    const opts = readOptions(editor);
    options = opts;
    if (typeof window !== 'undefined' && window.isSecureContext === false) {
      console.error(SECURE_CONTEXT_MESSAGE);
      notify(SECURE_CONTEXT_MESSAGE, 'error');
      state.failed = { reason: 'general', message: SECURE_CONTEXT_MESSAGE };
      pendingSynced.splice(0).forEach((w) => w.reject(new Error(SECURE_CONTEXT_MESSAGE)));
      try {
        editor.mode.set('readonly');
      } catch (err) {
        console.warn('[rtc] could not make the editor read-only', err);
      }
      return;
    }
    const { documentId, tokenProvider, encryptionProvider } = opts;
    if (!documentId || !tokenProvider || !encryptionProvider) {
      /** @type {('documentId' | 'tokenProvider' | 'encryptionProvider')[]} */
      const required = ['documentId', 'tokenProvider', 'encryptionProvider'];
      const missing = required.filter((k) => !opts[k]);
      const message = `RTC configuration error: ${missing.map((k) => ({ documentId: 'rtc_document_id', tokenProvider: 'rtc_token_provider', encryptionProvider: 'rtc_encryption_provider' })[k]).join(', ')} required`;
      console.error(message);
      notify(message, 'error');
      state.failed = { reason: 'general', message };
      pendingSynced.splice(0).forEach((w) => w.reject(new Error(message)));
      return;
    }
    let url;
    try {
      url = websocketUrl(opts.serverUrl || (typeof location !== 'undefined' ? location.origin : ''));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      console.error(message);
      notify(message, 'error');
      state.failed = { reason: 'general', message };
      return;
    }
    state.originalReadonly = editor.mode.isReadOnly ? editor.mode.isReadOnly() : false;
    const startContent = initialHtml();
    editor.setProgressState(true);
    setEditable(false);
    const body = editor.getBody();
    state.carets = new CaretOverlay({ body, resolve: () => null });

    const client = new TandemClient({
      url,
      apiKey: opts.apiKey,
      documentId,
      tokenProvider,
      encryptionProvider,
      clientInfo: opts.clientInfo,
      beforeRemote: () => syncNow(),
      holdRemote,
      initialContent: async (fragment, doc) => {
        let html = startContent;
        if (opts.initialContentProvider) {
          const r = await opts.initialContentProvider({ documentId });
          const content = r && typeof r === 'object' ? /** @type {{content?: unknown}} */ (r).content : undefined;
          if (typeof content !== 'string') {
            throw new ClientError('rtc_initial_content_provider must resolve to {content: string}', { code: 'content' });
          }
          html = content;
        }
        // as setContent would show it and getContent would give it back
        if (!state.io) state.io = editorIo(editor, window.tinymce || globalThis.tinymce);
        const { blocks, notes } = state.io.contentToModel(html);
        doc.transact(() => insertItems(fragment, 0, blocks), INITIAL);
        if (notes.length) setTimeout(() => reportNotes(notes), 0);
      },
    });
    state.client = client;
    state.history = new VersionHistory(client, {
      onIncident: (info) => {
        editor.dispatch('RtcIncident', info);
        if (keyless()) {
          setEditable(false);
          notify('This document was moved to an encryption key that cannot be opened; it is shown from its history, read-only, until an editor with the right key repairs it.', 'warning');
        }
      },
    });
    pendingSynced.splice(0).forEach((w) => client.whenSynced().then(w.resolve, w.reject));
    bind(client.fragment);
    if (opts.offline && typeof window !== 'undefined' && window.indexedDB) {
      state.store = new LocalStore(window.indexedDB);
      state.storeKey = `${url}|${opts.apiKey}|${opts.documentId}`;
      openLocalCopy().catch((err) => console.warn('[rtc] could not open the local copy', err));
      window.addEventListener('pagehide', () => save());
    }

    client.on('doc', ({ fragment }) => {
      if (!state.offlineDoc) bind(fragment);
    });
    client.on('synced', () => {
      if (state.offlineDoc || (state.stored && state.stored.pending)) mergeLocalCopy();
      state.stored = null;
      if (state.binding && !state.binding.active) show();
      editor.setProgressState(false);
      setEditable(true);
      scheduleSave();
      if (state.offlineTimer !== null) clearTimeout(state.offlineTimer);
      state.offlineTimer = null;
      if (state.offlineNotice) {
        try {
          state.offlineNotice.close();
        } catch (err) {
          console.debug('[rtc] the offline notice was already closed', err);
        }
        state.offlineNotice = null;
      }
      sendPresence(true);
      editor.dispatch('RtcSynced', { version: client.version });
    });
    client.on('remote', () => {
      if (state.carets) state.carets.schedule();
    });
    client.on('idle', () => {
      scheduleSnapshotCallback();
      scheduleSave(); // nothing pending any more
    });
    client.on('client-joined', (m) => onJoined(m));
    client.on('client-left', (m) => onLeft(m));
    client.on('presence', ({ clientId, state: p }) => {
      if (!state.carets || !p || typeof p !== 'object') return;
      const sel = p.selection;
      state.carets.set(clientId, sel && typeof sel.anchor === 'string' && typeof sel.head === 'string' ? { anchor: decodeRel(sel.anchor), head: decodeRel(sel.head) } : { anchor: null, head: null });
    });
    client.on('disconnected', (/** @type {DisconnectInfo} */ info) => {
      syncNow(); // keep what was typed in the last instant: it stays pending and is re-sent
      if (info.fatal) {
        if (info.code === 'document_deleted') forgetDeleted();
        setEditable(false);
        editor.setProgressState(false);
        state.failed = info;
        const text = `Real-time collaboration disconnected (${info.reason}): ${info.message}`;
        console.error('[rtc]', text);
        // Tiny's rule: an integrator's rtc_server_disconnected replaces the default notice
        if (!opts.serverDisconnected) notify(text, 'error');
        if (opts.serverDisconnected) {
          try {
            opts.serverDisconnected({ reason: info.reason, message: info.message });
          } catch (err) {
            console.error('[rtc] rtc_server_disconnected failed', err);
          }
        }
        editor.dispatch('RtcServerDisconnected', { reason: info.reason, message: info.message });
        return;
      }
      // offline: editing goes on; the edits stay pending (and saved on this device) and are
      // sent once the connection is back
      save();
      offlineNoticeSoon();
    });
    // any local update since the last rtc_snapshot call
    /**
     * @param {Uint8Array} _u
     * @param {unknown} origin
     */
    const markEdited = (_u, origin) => {
      if (origin !== REMOTE_ORIGIN && origin !== INITIAL) state.editedSinceSnapshot = true;
    };
    client.on('doc', ({ doc }) => doc.on('update', markEdited));
    client.doc.on('update', markEdited);

    client.start();
  }

  // -- TinyMCE hooks --------------------------------------------------------------------------------

  // TinyMCE core switches features off for a plugin named "rtc" that it expects to be Tiny's
  // own (format listeners, initial load, blob URL replacement after an image upload…): it asks
  // hasOwnProperty(editor.plugins, 'rtc'). Expose the API from the prototype of
  // editor.plugins instead, so editor.plugins.rtc works and TinyMCE behaves as usual.
  Promise.resolve().then(() => {
    if (!editor.plugins) return;
    if (editor.plugins.rtc === api) delete editor.plugins.rtc;
    const proto = Object.create(Object.getPrototypeOf(editor.plugins));
    Object.defineProperty(proto, 'rtc', { value: api, enumerable: false, configurable: true });
    Object.setPrototypeOf(editor.plugins, proto);
  });

  editor.on('BeforeAddUndo', (e) => e.preventDefault());
  editor.on('BeforeExecCommand', (e) => {
    const cmd = String(e.command || '').toLowerCase();
    if (cmd === 'undo' || cmd === 'redo') {
      e.preventDefault();
      if (!state.editable || !state.undo) return;
      syncNow();
      state.undo.stopCapturing();
      if (cmd === 'undo') state.undo.undo();
      else state.undo.redo();
      editor.nodeChanged();
      return;
    }
  });
  // What the user (or the integrator's code) does: the next change written is theirs.
  editor.on('keydown beforeinput input paste cut drop mousedown BeforeExecCommand BeforeSetContent ObjectResizeStart', (e) => {
    if (e && e.rtc) return;
    if (state.binding) state.binding.noteInput();
  });
  // Text being composed (IME) is not content yet: nothing is read, and collaborators' changes
  // wait, until the composition ends.
  editor.on('compositionstart', () => {
    state.composing = true;
  });
  editor.on('compositionend', () => {
    state.composing = false;
    if (state.binding) state.binding.noteInput();
    syncNow();
    releaseRemote();
  });
  // getContent() gives the shared document (what every collaborator has), not the local DOM.
  editor.on('GetContent', (e) => {
    if (e.selection || (e.format && e.format !== 'html') || !state.client || !state.io || !state.binding || !state.binding.active) return;
    try {
      e.content = sharedContent(editor, state.io, readFragment(state.client.fragment));
    } catch (err) {
      console.error('[rtc] could not serialize the shared document', err);
    }
  });
  editor.on('NodeChange keyup mouseup', () => sendPresence());
  editor.on('ResizeEditor ResizeContent', () => state.carets && state.carets.schedule());
  editor.on('init', () => {
    // undo/redo availability comes from the collaborative undo manager
    const um = editor.undoManager;
    if (um) {
      um.hasUndo = () => !!(state.undo && state.editable && state.undo.canUndo());
      um.hasRedo = () => !!(state.undo && state.editable && state.undo.canRedo());
    }
    start();
  });
  editor.on('remove', () => {
    state.destroyed = true;
    if (state.client) state.client.close();
    if (state.binding) state.binding.destroy();
    if (state.undo) state.undo.destroy();
    if (state.carets) state.carets.destroy();
    if (state.offlineTimer !== null) clearTimeout(state.offlineTimer);
    if (state.saveTimer !== null) clearTimeout(state.saveTimer);
    if (state.store) save();
    if (state.snapshotTimer !== null) clearTimeout(state.snapshotTimer);
    if (state.presenceTimer !== null) clearTimeout(state.presenceTimer);
  });

  return api;
}

/* global tinymce */
/** @param {TinyMCE} tiny */
function register(tiny) {
  tiny.PluginManager.add('rtc', setupPlugin);
  // TinyMCE 8 defaults the "model" option to 'plugin' when a plugin named rtc is configured
  // (Tiny's retired RTC brought its own model). This plugin edits the normal DOM model.
  if (tiny.on) {
    tiny.on('SetupEditor', (e) => {
      const editor = e && e.editor;
      try {
        if (editor && editor.hasPlugin('rtc') && !editor.options.isSet('model')) editor.options.set('model', 'dom');
      } catch (err) {
        console.debug('[rtc] could not set the "model" option to dom (older TinyMCE?)', err);
      }
    });
  }
  // Loaded after the editor was set up (external_plugins): answer for the 'plugin' model with
  // the DOM model when it is available, or a minimal stand-in.
  if (tiny.ModelManager && !tiny.ModelManager.get('plugin')) {
    tiny.ModelManager.add('plugin', (editor, url) => {
      const Dom = tiny.ModelManager.get('dom');
      if (Dom) return Dom(editor, url);
      return { table: { getSelectedCells: () => [], clearSelectedCells: () => {} } };
    });
  }
}

if (typeof tinymce !== 'undefined' && tinymce.PluginManager) register(tinymce);

export { setupPlugin };
