// The TinyMCE plugin "rtc": real-time collaboration through a self-hosted Tandem server.
// Options follow Tiny's retired RTC plugin (see options.js). editor.plugins.rtc is the API:
//   getState() -> {connected, synced, version, sessionId, keyHint, clients, unacknowledged}
//   whenSynced() -> Promise · flush() -> Promise (every local change acknowledged)

import * as Y from 'yjs';
import { TandemClient, websocketUrl, REMOTE_ORIGIN } from './protocol-client.js';
import { Binding } from './binding.js';
import { fragmentToHtml, htmlToModel, insertBlocks, normalizeHtml } from './content-model.js';
import { CaretOverlay } from './carets.js';
import { registerOptions, readOptions } from './options.js';
import { toBase64, fromBase64 } from './crypto.js';

export const SECURE_CONTEXT_MESSAGE = 'RTC services require a secure context';
const OFFLINE_NOTICE_MS = 30000;
const PRESENCE_INTERVAL_MS = 100; // at most 10 presence messages per second
const SNAPSHOT_DEBOUNCE_MS = 1500;
const UNSUPPORTED_COMMANDS = new Set(
  ['forecolor', 'hilitecolor', 'fontname', 'fontsize', 'lineheight', 'mceapplytextcolor', 'mceinsertmedia', 'mcemedia'],
);

// The origin of this script (the Tandem server serves it): the default rtc_server_url.
const SCRIPT_SRC = (() => {
  try {
    const s = typeof document !== 'undefined' && document.currentScript;
    return s && s.src ? new URL(s.src).origin : '';
  } catch {
    return '';
  }
})();

// Notes about markup TinyMCE itself adds (column widths, colgroups) are dropped without
// locking the editor: they are layout hints, not content.
function isBenignNote(note) {
  return (
    /^dropped style '(width|height|min-width|min-height)[^']*' on <(td|th|tr|table|col|colgroup|tbody|thead|tfoot|img)>$/.test(note) ||
    /^dropped <(colgroup|col)> \(column widths\)$/.test(note) ||
    /^dropped attribute '(class|data-[^']*|width|height|cellpadding|cellspacing)' on <(td|th|tr|table|tbody|thead|tfoot|col|colgroup)>$/.test(note)
  );
}

function encodeRel(rel) {
  return toBase64(Y.encodeRelativePosition(rel));
}
function decodeRel(s) {
  return Y.decodeRelativePosition(fromBase64(s));
}

function setupPlugin(editor) {
  registerOptions(editor, SCRIPT_SRC);
  const LOCAL = { rtc: 'local' };
  const INITIAL = { rtc: 'initial' };
  const state = {
    client: null,
    binding: null,
    undo: null,
    carets: null,
    editable: false,
    lockedUnsupported: false,
    failed: null,
    offlineTimer: null,
    offlineNotice: null,
    dirty: false,
    syncTimer: null,
    presenceTimer: null,
    lastPresence: 0,
    lastPresenceKey: null,
    snapshotTimer: null,
    editedSinceSnapshot: false,
    userDetails: new Map(),
    originalReadonly: false,
    mutationObserver: null,
    destroyed: false,
  };
  let options = null;
  const pendingSynced = [];

  const api = {
    getState() {
      const s = state.client
        ? state.client.getState()
        : { connected: false, synced: false, version: 0, sessionId: null, keyHint: null, clients: [], unacknowledged: 0 };
      return { ...s, editable: state.editable, error: state.failed ? { reason: state.failed.reason, message: state.failed.message } : null };
    },
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
      return state.client ? fragmentToHtml(state.client.fragment) : '';
    },
    /** The Y.Doc (read it; write through the editor). */
    getDoc() {
      return state.client ? state.client.doc : null;
    },
    /** Close the connection (the editor stays read-only). */
    disconnect() {
      if (state.client) state.client.close();
      setEditable(false);
    },
  };

  // -- read-only / progress -------------------------------------------------------------------

  function setEditable(on) {
    const want = on && !state.lockedUnsupported && !state.originalReadonly && state.client && state.client.role !== 'viewer';
    state.editable = !!want;
    try {
      editor.mode.set(want ? 'design' : 'readonly');
    } catch {
      /* mode API unavailable */
    }
  }

  function notify(text, type = 'warning', timeout) {
    try {
      return editor.notificationManager.open({ text, type, ...(timeout ? { timeout } : {}) });
    } catch {
      return null;
    }
  }

  function reportUnsupported(notes) {
    const locking = notes.filter((n) => !isBenignNote(n));
    if (!locking.length) return;
    state.lockedUnsupported = true;
    setEditable(false);
    const text = 'This document contains content that real-time collaboration does not support; the editor is read-only. ' + locking.slice(0, 5).join('; ');
    if (options.unsupportedNotification) notify(text, 'error');
    console.error('[rtc] unsupported content:', locking);
  }

  // -- local changes -----------------------------------------------------------------------------

  function syncNow() {
    clearTimeout(state.syncTimer);
    state.syncTimer = null;
    if (state.mutationObserver) {
      if (state.mutationObserver.takeRecords().length) state.dirty = true;
    }
    if (!state.dirty || !state.binding || !state.editable) {
      state.dirty = false;
      return;
    }
    state.dirty = false;
    state.binding.syncFromDom();
  }

  function scheduleSync() {
    state.dirty = true;
    if (state.syncTimer === null) state.syncTimer = setTimeout(syncNow, 0);
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
    let sel = null;
    try {
      sel = currentSelection();
    } catch {
      sel = null;
    }
    const payload = { selection: sel };
    const key = JSON.stringify(payload);
    if (!force && key === state.lastPresenceKey) return;
    state.lastPresenceKey = key;
    state.lastPresence = now;
    state.client.setPresence(payload).catch(() => {});
  }

  // -- remote clients -----------------------------------------------------------------------------

  async function userDetailsFor(userId) {
    if (state.userDetails.has(userId)) return state.userDetails.get(userId);
    const p = (async () => {
      if (!options.userDetailsProvider) return { fullName: userId };
      try {
        const d = await options.userDetailsProvider({ userId });
        return d && typeof d === 'object' ? d : { fullName: userId };
      } catch {
        return { fullName: userId };
      }
    })();
    state.userDetails.set(userId, p);
    return p;
  }

  function clientPayload(member, userDetails) {
    return {
      userId: member.user_id,
      userDetails,
      clientId: member.client_id,
      caretNumber: member.caret,
      clientInfo: member.client_info || {},
    };
  }

  async function onJoined(member) {
    const details = await userDetailsFor(member.user_id);
    if (state.carets) state.carets.set(member.client_id, { name: details.fullName || member.user_id, caret: member.caret });
    const payload = clientPayload(member, details);
    try {
      if (options.clientConnected) options.clientConnected(payload);
    } catch (err) {
      console.error('[rtc] rtc_client_connected failed', err);
    }
    editor.dispatch('RtcClientConnected', payload);
    sendPresence(true); // let the newcomer see our caret
  }

  async function onLeft(member) {
    if (state.carets) state.carets.remove(member.client_id);
    const details = await userDetailsFor(member.user_id);
    const payload = clientPayload(member, details);
    try {
      if (options.clientDisconnected) options.clientDisconnected(payload);
    } catch (err) {
      console.error('[rtc] rtc_client_disconnected failed', err);
    }
    editor.dispatch('RtcClientDisconnected', payload);
  }

  // -- binding / undo (per Y.Doc) -------------------------------------------------------------------

  function bind(fragment) {
    if (state.binding) state.binding.destroy();
    if (state.undo) state.undo.destroy();
    state.binding = new Binding(editor.getBody(), fragment, {
      origin: LOCAL,
      onUnsupported: reportUnsupported,
      getSelection: () => editor.getWin().getSelection(),
      onRemoteRender: () => {
        if (state.mutationObserver) state.mutationObserver.takeRecords();
        if (state.carets) state.carets.schedule();
      },
    });
    state.undo = new Y.UndoManager(fragment, { trackedOrigins: new Set([LOCAL]), captureTimeout: 500 });
    state.undo.on('stack-item-added', () => editor.dispatch('TypingUndo'));
    state.undo.on('stack-item-popped', () => editor.dispatch('TypingUndo'));
    // Presence positions arrive decoded already (see the 'presence' handler).
    if (state.carets) state.carets.resolve = (rel) => state.binding.relToDom(rel);
  }

  // -- snapshots (rtc_snapshot) ------------------------------------------------------------------------

  function scheduleSnapshotCallback() {
    if (!options.snapshot || !state.editedSinceSnapshot) return;
    clearTimeout(state.snapshotTimer);
    state.snapshotTimer = setTimeout(() => {
      if (!state.client || state.client.unacknowledged) return;
      state.editedSinceSnapshot = false;
      const fragment = state.client.fragment;
      try {
        options.snapshot({
          documentId: options.documentId,
          version: state.client.version,
          getContent: () => fragmentToHtml(fragment),
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
    return el.nodeName === 'TEXTAREA' || el.nodeName === 'INPUT' ? el.value : el.innerHTML;
  }

  function start() {
    options = readOptions(editor);
    if (typeof window !== 'undefined' && window.isSecureContext === false) {
      console.error(SECURE_CONTEXT_MESSAGE);
      notify(SECURE_CONTEXT_MESSAGE, 'error');
      state.failed = { reason: 'general', message: SECURE_CONTEXT_MESSAGE };
      pendingSynced.splice(0).forEach((w) => w.reject(new Error(SECURE_CONTEXT_MESSAGE)));
      try {
        editor.mode.set('readonly');
      } catch {
        /* ignore */
      }
      return;
    }
    const missing = ['documentId', 'tokenProvider', 'encryptionProvider'].filter((k) => !options[k]);
    if (missing.length) {
      const message = `RTC configuration error: ${missing.map((k) => ({ documentId: 'rtc_document_id', tokenProvider: 'rtc_token_provider', encryptionProvider: 'rtc_encryption_provider' })[k]).join(', ')} required`;
      console.error(message);
      notify(message, 'error');
      state.failed = { reason: 'general', message };
      pendingSynced.splice(0).forEach((w) => w.reject(new Error(message)));
      return;
    }
    let url;
    try {
      url = websocketUrl(options.serverUrl || (typeof location !== 'undefined' ? location.origin : ''));
    } catch (err) {
      console.error(err.message);
      notify(err.message, 'error');
      state.failed = { reason: 'general', message: err.message };
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
      apiKey: options.apiKey,
      documentId: options.documentId,
      tokenProvider: options.tokenProvider,
      encryptionProvider: options.encryptionProvider,
      clientInfo: options.clientInfo,
      beforeRemote: () => syncNow(),
      initialContent: async (fragment, doc) => {
        let html = startContent;
        if (options.initialContentProvider) {
          const r = await options.initialContentProvider({ documentId: options.documentId });
          html = r && typeof r.content === 'string' ? r.content : '';
        }
        const { blocks, notes } = htmlToModel(html, editor.getDoc());
        doc.transact(() => insertBlocks(fragment, 0, blocks), INITIAL);
        if (notes.length) setTimeout(() => reportUnsupported(notes), 0);
      },
    });
    state.client = client;
    pendingSynced.splice(0).forEach((w) => client.whenSynced().then(w.resolve, w.reject));
    bind(client.fragment);

    client.on('doc', ({ fragment }) => bind(fragment));
    client.on('synced', () => {
      if (state.binding) state.binding.patchDom();
      if (state.mutationObserver) state.mutationObserver.takeRecords();
      editor.setProgressState(false);
      setEditable(true);
      clearTimeout(state.offlineTimer);
      state.offlineTimer = null;
      if (state.offlineNotice) {
        try {
          state.offlineNotice.close();
        } catch {
          /* closed */
        }
        state.offlineNotice = null;
      }
      sendPresence(true);
      editor.dispatch('RtcSynced', { version: client.version });
    });
    client.on('remote', () => {
      if (state.carets) state.carets.schedule();
    });
    client.on('idle', () => scheduleSnapshotCallback());
    client.on('client-joined', (m) => onJoined(m));
    client.on('client-left', (m) => onLeft(m));
    client.on('presence', ({ clientId, state: p }) => {
      if (!state.carets || !p || typeof p !== 'object') return;
      const sel = p.selection;
      state.carets.set(clientId, sel && typeof sel.anchor === 'string' && typeof sel.head === 'string' ? { anchor: decodeRel(sel.anchor), head: decodeRel(sel.head) } : { anchor: null, head: null });
    });
    client.on('disconnected', (info) => {
      syncNow(); // keep what was typed in the last instant: it stays pending and is re-sent
      setEditable(false);
      if (info.fatal) {
        editor.setProgressState(false);
        state.failed = info;
        const text = `Real-time collaboration disconnected (${info.reason}): ${info.message}`;
        notify(text, 'error');
        console.error('[rtc]', text);
        if (options.serverDisconnected) {
          try {
            options.serverDisconnected({ reason: info.reason, message: info.message });
          } catch (err) {
            console.error('[rtc] rtc_server_disconnected failed', err);
          }
        }
        editor.dispatch('RtcServerDisconnected', { reason: info.reason, message: info.message });
        return;
      }
      editor.setProgressState(true, 500);
      if (state.offlineTimer === null) {
        state.offlineTimer = setTimeout(() => {
          state.offlineNotice = notify('The connection to the collaboration server was lost. Reconnecting… Changes cannot be made until it is restored.', 'warning');
        }, OFFLINE_NOTICE_MS);
      }
    });
    // any local update since the last rtc_snapshot call
    const markEdited = (_u, origin) => {
      if (origin !== REMOTE_ORIGIN && origin !== INITIAL) state.editedSinceSnapshot = true;
    };
    client.on('doc', ({ doc }) => doc.on('update', markEdited));
    client.doc.on('update', markEdited);

    // local change detection
    const win = editor.getWin();
    if (win && win.MutationObserver) {
      state.mutationObserver = new win.MutationObserver((records) => {
        if (state.binding && state.binding.rendering) return;
        if (records.some((r) => !(r.target && r.target.nodeType === 1 && r.target.hasAttribute && r.target.hasAttribute('data-rtc-overlay')))) scheduleSync();
      });
      state.mutationObserver.observe(body, { childList: true, subtree: true, characterData: true, attributes: true });
    }
    client.start();
  }

  // -- TinyMCE hooks --------------------------------------------------------------------------------

  // TinyMCE core switches features off for a plugin named "rtc" that it expects to be Tiny's
  // own (its format listeners, triple-click, initial load...). Hide the instance until the
  // editor core is set up, then expose it again as editor.plugins.rtc.
  Promise.resolve().then(() => {
    if (editor.plugins && editor.plugins.rtc === api) delete editor.plugins.rtc;
  });
  editor.on('PreInit', () => {
    editor.plugins.rtc = api;
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
    if (UNSUPPORTED_COMMANDS.has(cmd)) {
      e.preventDefault();
      notify('This formatting is not supported in real-time collaboration.', 'info', 4000);
    }
  });
  editor.on('PastePreProcess', (e) => {
    if (typeof e.content !== 'string') return;
    const { notes } = htmlToModel(e.content, editor.getDoc());
    if (notes.length) {
      e.content = normalizeHtml(e.content, editor.getDoc());
      if (options && options.unsupportedNotification && notes.some((n) => !isBenignNote(n))) {
        notify('Some pasted formatting is not supported in real-time collaboration and was removed.', 'info', 5000);
      }
    }
  });
  editor.on('input NodeChange SetContent ExecCommand keyup paste cut drop', () => {
    scheduleSync();
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
    if (state.mutationObserver) state.mutationObserver.disconnect();
    clearTimeout(state.offlineTimer);
    clearTimeout(state.snapshotTimer);
    clearTimeout(state.presenceTimer);
    clearTimeout(state.syncTimer);
  });

  return api;
}

/* global tinymce */
function register(tiny) {
  tiny.PluginManager.add('rtc', setupPlugin);
  // TinyMCE 8 defaults the "model" option to 'plugin' when a plugin named rtc is configured
  // (Tiny's retired RTC brought its own model). This plugin edits the normal DOM model.
  if (tiny.on) {
    tiny.on('SetupEditor', (e) => {
      const editor = e && e.editor;
      try {
        if (editor && editor.hasPlugin('rtc') && !editor.options.isSet('model')) editor.options.set('model', 'dom');
      } catch {
        /* older TinyMCE: nothing to do */
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
