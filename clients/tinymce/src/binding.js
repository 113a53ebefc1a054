// The binding between the editor's DOM and the Y.XmlFragment "content" — designed so that it
// cannot echo (docs/content-model.md §7):
//
// * One mutex. Applying a collaborator's change to the DOM and reading the user's change from
//   the DOM never interleave; the DOM mutations a render causes are taken from the
//   MutationObserver synchronously, inside the mutex, and dropped — they are never read back.
// * A baseline per block. Each top-level DOM group (a block element, or a run of inline nodes
//   straight in the body) is an entry {nodes, ys, base}: the Yjs types it shows and the model
//   last read from it. A sync reads only the groups the MutationObserver named and diffs them
//   against their baseline — never against the current Yjs content — so a DOM the user did not
//   change writes nothing, whatever TinyMCE or the browser did to it.
// * Minimal, caret-aware edits (content/edit.js): a character typed after an identical one is
//   inserted after the typist's own previous character.
// * In-place renders (morph.js): a collaborator's change patches the live nodes, so the caret,
//   an IME composition and pending formats stay; the caret is put back only if it moved.
// * A loop guard: syncs that keep writing changes nobody typed stop, the view is reloaded from
//   the shared document, and the incident is reported.

import * as Y from 'yjs';
import { domToModel } from './content/parse.js';
import { modelToHtml } from './content/html.js';
import { insertItems, readTopNode, sameShape, vanishedTypes } from './content/ydoc.js';
import { updateChildren } from './content/edit.js';
import { runsOf, runText, sameBlocks } from './content/model.js';
import { displayText } from './content/whitespace.js';
import { isBlockTag } from './content/schema.js';
import { domPointToY, domRuns, editorNodeKind, isPositionError, mapDomPoint, yPointToDom } from './positions.js';
import { morphNodes } from './morph.js';

/** @typedef {import('./editor-io.js').Io} Io */
/** @typedef {import('./editor-io.js').Reading} Reading */
/** @typedef {import('./content/model.js').Block} Block */
/** @typedef {import('./content/ydoc.js').YNode} YNode */
/** @typedef {import('./content/edit.js').EditContext} EditContext */
/** @typedef {import('./positions.js').DomPoint} DomPoint */
/**
 * A top-level DOM group (a block element, or a run of inline nodes straight in the body).
 * @typedef {{nodes: Node[]}} Group
 */
/**
 * A group as the binding knows it: its nodes, the top-level Yjs types it shows, and the
 * model last read from it (null: not read yet).
 * @typedef {{nodes: Node[], ys: YNode[], base: Block[] | null, aligned: boolean}} Entry
 */
/** @typedef {{anchor: Y.RelativePosition, focus: Y.RelativePosition}} SavedSelection */
/** @typedef {{reason: string, message: string, writes: number}} Incident the loop guard tripped */
/**
 * Counters for diagnostics and tests (editor.plugins.rtc.getStats()).
 * @typedef {object} Stats
 * @property {number} syncs
 * @property {number} writes
 * @property {number} renders
 * @property {number} incidents
 * @property {number} unaligned
 * @property {number} lateLocal
 * @property {number} syncMs
 * @property {number} renderMs
 * @property {number} maxSyncMs
 * @property {number} maxRenderMs
 * @property {number} [pruned] Yjs elements deleted because they read as nothing
 * @property {number} [rewrites] blocks rewritten whole (another client's shape)
 */

const ELEMENT = 1;
const TEXT = 3;
const SUSPICIOUS_WRITES = 3; // consecutive writes with no user input before the guard trips
const SUSPICIOUS_WINDOW_MS = 5000;
const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * The default I/O: our own parser on the editing DOM, DOMParser for rendering (tests).
 * @param {Document} doc
 * @returns {Io}
 */
export function plainIo(doc) {
  return {
    read(nodes) {
      return domToModel(nodes, { editor: true });
    },
    render(blocks) {
      const html = modelToHtml(blocks);
      const view = doc.defaultView;
      if (!view) throw new Error('rtc binding: the editor document has no window');
      const body = new view.DOMParser().parseFromString(`<!DOCTYPE html><body>${html}</body>`, 'text/html').body;
      // as TinyMCE does: an empty text block holds a bogus <br> so the caret can go in
      for (const el of body.querySelectorAll('p,h1,h2,h3,h4,h5,h6,li,td,th,pre,div,blockquote,dt,dd,figcaption,caption,summary')) {
        if (!el.firstChild) {
          const br = body.ownerDocument.createElement('br');
          br.setAttribute('data-mce-bogus', '1');
          el.appendChild(br);
        }
      }
      return Array.from(body.childNodes, (n) => doc.importNode(n, true));
    },
    afterRender() {},
  };
}

/** @param {Node} node */
function isIgnorable(node) {
  if (node.nodeType === ELEMENT) return editorNodeKind(/** @type {Element} */ (node)) === 'skip';
  if (node.nodeType === TEXT) return !(/** @type {Text} */ (node).data.replace(/[\ufeff\t\n\f\r ]/g, ''));
  return node.nodeType !== 8; // comments are content; other node types are not
}

/** @param {Node} node */
const isInlineTop = (node) => node.nodeType !== ELEMENT || (!isBlockTag(node.nodeName.toLowerCase()) && editorNodeKind(/** @type {Element} */ (node)) !== 'unwrap');

export class Binding {
  /**
   * @param {HTMLElement} body the editable root
   * @param {Y.XmlFragment} fragment
   * @param {object} [o]
   * @param {any} [o.origin] transaction origin of local changes
   * @param {Io} [o.io]
   * @param {(notes: string[]) => void} [o.onNotes] what a sync could not keep
   * @param {(info: Incident) => void} [o.onIncident] the loop guard tripped
   * @param {() => void} [o.onRemoteRender] after a collaborator's change was shown
   * @param {() => (Selection|null)} [o.getSelection]
   * @param {() => void} [o.onDirty] the DOM changed and a sync is due
   */
  constructor(body, fragment, o = {}) {
    this.body = body;
    this.doc = body.ownerDocument;
    this.fragment = fragment;
    if (!fragment.doc) throw new Error('the shared fragment must belong to a Y.Doc');
    /** @type {Y.Doc} */
    this.ydoc = fragment.doc;
    this.origin = o.origin ?? this;
    this.io = o.io || plainIo(this.doc);
    this.onNotes = o.onNotes || (() => {});
    this.onIncident = o.onIncident || (() => {});
    this.onRemoteRender = o.onRemoteRender || (() => {});
    this.getSelection = o.getSelection || (() => (this.doc.defaultView ? this.doc.defaultView.getSelection() : null));
    /** @type {Entry[]} */
    this.entries = [];
    /** @type {Map<Node, Entry>} */
    this.nodeEntry = new Map();
    this.busy = false; // the mutex
    this.active = false; // showing the document (after renderAll)
    this.paused = false;
    /** @type {Stats} */
    this.stats = { syncs: 0, writes: 0, renders: 0, incidents: 0, unaligned: 0, lateLocal: 0, syncMs: 0, renderMs: 0, maxSyncMs: 0, maxRenderMs: 0 };
    /** @type {Set<Node>} top-level nodes the MutationObserver named */
    this._dirty = new Set();
    this._structural = false;
    this._input = true;
    /** @type {number[]} times of writes nobody typed (the loop guard) */
    this._suspicious = [];
    /** @type {SavedSelection | null | undefined} the selection before a remote change */
    this._saved = undefined;
    this._localChanged = false;
    const View = this.doc.defaultView;
    this.observer = View && View.MutationObserver ? new View.MutationObserver((records) => this._collect(records)) : null;
    this.onDirty = o.onDirty || (() => {});
    /**
     * @param {Y.YEvent<any>[]} events
     * @param {Y.Transaction} tr
     */
    this._observe = (events, tr) => {
      if (tr.origin === this.origin || !this.active) return;
      this._render(events);
    };
    /** @param {Y.Transaction} tr */
    this._before = (tr) => {
      if (tr.origin === this.origin || this._saved !== undefined || this.busy) return;
      try {
        this._saved = this.saveSelection(true);
      } catch (err) {
        // Never fail the transaction over the caret: it is just not put back afterwards.
        console.warn('[rtc] could not save the selection before a shared-document change:', err);
        this._saved = null;
      }
    };
    /** @param {Y.Transaction} tr */
    this._afterTr = (tr) => {
      if (tr.origin === this.origin) this._localChanged = tr.changed.size > 0 || tr.deleteSet.clients.size > 0;
    };
    this._cleanup = () => {
      this._saved = undefined;
    };
    this.ydoc.on('beforeTransaction', this._before);
    this.ydoc.on('afterTransaction', this._afterTr);
    this.ydoc.on('afterTransactionCleanup', this._cleanup);
    fragment.observeDeep(this._observe);
  }

  destroy() {
    this.fragment.unobserveDeep(this._observe);
    this.ydoc.off('beforeTransaction', this._before);
    this.ydoc.off('afterTransaction', this._afterTr);
    this.ydoc.off('afterTransactionCleanup', this._cleanup);
    if (this.observer) this.observer.disconnect();
  }

  /** Start watching the DOM (after renderAll). */
  observe() {
    if (this.observer) this.observer.observe(this.body, { childList: true, subtree: true, characterData: true, attributes: true });
  }

  /** The user did something (key, paste, command…): the next write is theirs. */
  noteInput() {
    this._input = true;
  }

  // -- the DOM's top-level groups -------------------------------------------------------------

  _groups() {
    /** @type {{nodes: ChildNode[]}[]} */
    const groups = [];
    /** @type {{nodes: ChildNode[]} | null} */
    let inline = null;
    for (const node of Array.from(this.body.childNodes)) {
      if (isIgnorable(node)) continue;
      if (isInlineTop(node)) {
        if (!inline) {
          inline = { nodes: [] };
          groups.push(inline);
        }
        inline.nodes.push(node);
        continue;
      }
      inline = null;
      groups.push({ nodes: [node] });
    }
    return groups;
  }

  /**
   * The top-level node (a child of the body) that holds `node`, or null.
   * @param {Node} node
   * @returns {Node | null}
   */
  _topOf(node) {
    /** @type {Node | null} */
    let n = node;
    while (n && n.parentNode !== this.body) {
      if (n === this.body) return null;
      n = n.parentNode;
    }
    return n;
  }

  /** @param {MutationRecord[]} records */
  _collect(records) {
    if (this.busy) return; // our own render's mutations (also taken synchronously)
    let any = false;
    for (const r of records) {
      if (r.target === this.body) {
        if (r.type === 'childList') {
          for (const n of r.addedNodes) if (!isIgnorable(n)) any = this._structural = true;
          for (const n of r.removedNodes) if (n.nodeType !== ELEMENT || editorNodeKind(/** @type {Element} */ (n)) !== 'skip') any = this._structural = true;
        }
        continue;
      }
      const top = this._topOf(r.target);
      if (!top) continue;
      if (top.nodeType === ELEMENT && editorNodeKind(/** @type {Element} */ (top)) === 'skip') continue;
      if (r.type === 'attributes' && r.target.nodeType === ELEMENT && editorNodeKind(/** @type {Element} */ (r.target)) === 'skip') continue;
      this._dirty.add(top);
      any = true;
    }
    if (any) this.onDirty();
  }

  /** Are there DOM changes not yet written to the shared document? */
  get pending() {
    if (this.observer) this._collect(this.observer.takeRecords());
    return this._dirty.size > 0 || this._structural;
  }

  _index() {
    this.nodeEntry = new Map();
    for (const e of this.entries) for (const n of e.nodes) this.nodeEntry.set(n, e);
  }

  /**
   * The model of the whole DOM as it is now (read, not written).
   * @returns {Block[]}
   */
  readDom() {
    return this._groups().flatMap((g) => this.io.read(g.nodes).blocks);
  }

  // -- render: the shared document -> the DOM ------------------------------------------------

  /** @param {YNode} y */
  _renderTop(y) {
    const blocks = readTopNode(y);
    return { blocks, nodes: blocks.length ? this.io.render(blocks) : [] };
  }

  /** Replace the whole body with the fragment's content. */
  renderAll() {
    this.active = true;
    this._withMutex(() => {
      while (this.body.firstChild) this.body.removeChild(this.body.firstChild);
      const ys = this.fragment.toArray();
      const perY = ys.map((y) => readTopNode(y));
      const flat = perY.flat();
      // one render for the whole document when it maps block for node (the usual case)
      const all = flat.length ? this.io.render(flat) : [];
      const oneToOne = all.length === flat.length && all.every((n) => n.nodeType === ELEMENT);
      this.entries = [];
      let k = 0;
      ys.forEach((y, i) => {
        const nodes = oneToOne ? all.slice(k, k + perY[i].length) : perY[i].length ? this.io.render(perY[i]) : [];
        k += perY[i].length;
        for (const n of nodes) this.body.appendChild(n);
        this.entries.push({ nodes, ys: [y], base: null, aligned: false });
      });
      if (!this.entries.length) this._placeholder();
      this.io.afterRender();
      this._settle(this.entries, { all: true });
    });
  }

  _placeholder() {
    const nodes = this.io.render([{ tag: 'p', attrs: {}, children: [{ run: [] }] }]);
    for (const n of nodes) this.body.appendChild(n);
    this.entries.push({ nodes, ys: [], base: null, aligned: false });
  }

  /**
   * Read back what was rendered: the baselines of `entries`.
   * @param {Entry[]} entries
   * @param {{all?: boolean}} [o] all: every entry (renderAll)
   */
  _settle(entries, { all = false } = {}) {
    if (this.observer) this.observer.takeRecords();
    if (all) {
      this._dirty.clear();
      this._structural = false;
    }
    for (const e of entries) {
      for (const n of e.nodes) this._dirty.delete(n);
      e.nodes = e.nodes.filter((n) => n.parentNode === this.body);
      e.base = e.nodes.length ? this.io.read(e.nodes).blocks : [];
      /** @type {Block[]} */
      const expected = [];
      for (const y of e.ys) expected.push(...readTopNode(y));
      e.aligned = sameBlocks(e.base, expected);
      if (!e.aligned && e.ys.length) this.stats.unaligned++;
    }
    this._index();
  }

  /**
   * @template T
   * @param {() => T} fn
   * @returns {T}
   */
  _withMutex(fn) {
    if (this.busy) throw new Error('rtc binding: re-entrant DOM update');
    this.busy = true;
    try {
      return fn();
    } finally {
      if (this.observer) this.observer.takeRecords();
      this.busy = false;
    }
  }

  /** @param {Y.YEvent<any>[]} events */
  _render(events) {
    const started = now();
    try {
      this._renderChanges(events);
    } finally {
      const ms = now() - started;
      this.stats.renderMs += ms;
      if (ms > this.stats.maxRenderMs) this.stats.maxRenderMs = ms;
    }
  }

  /** @param {Y.YEvent<any>[]} events */
  _renderChanges(events) {
    /** @type {Set<Y.AbstractType<any>>} the top-level types that changed */
    const changed = new Set();
    for (const ev of events) {
      let t = ev.target;
      if (t === this.fragment) continue;
      while (t && t.parent && t.parent !== this.fragment) t = t.parent;
      if (t) changed.add(t);
    }
    if (this.pending) {
      // local edits not yet synced when a foreign change arrived: they are re-read below
      this.stats.lateLocal++;
      console.warn('[rtc] a shared-document change arrived while local edits were unsynced');
    }
    this._withMutex(() => {
      const ys = this.fragment.toArray();
      /** @type {Map<YNode, Entry>} */
      const byY = new Map();
      for (const e of this.entries) for (const y of e.ys) byY.set(y, e);
      /** @type {Entry[]} */
      const next = [];
      /** @type {Set<Entry>} */
      const kept = new Set();
      /** @type {Entry[]} */
      const rendered = [];
      for (let i = 0; i < ys.length; i++) {
        const y = ys[i];
        const e = byY.get(y);
        if (e && !kept.has(e) && e.ys.length === 1 && !changed.has(y)) {
          next.push(e);
          kept.add(e);
          continue;
        }
        if (e && !kept.has(e) && e.ys.length > 1 && e.ys.every((t, k) => ys[i + k] === t && !changed.has(t))) {
          next.push(e);
          kept.add(e);
          i += e.ys.length - 1;
          continue;
        }
        const { nodes } = this._renderTop(y);
        /** @type {Entry} */
        const entry = { nodes, ys: [y], base: null, aligned: false };
        if (e && !kept.has(e) && e.ys.length === 1 && e.nodes.length) {
          entry.nodes = morphNodes(this.body, e.nodes, nodes);
          kept.add(e);
        }
        next.push(entry);
        rendered.push(entry);
      }
      // remove what no longer has a place
      /** @type {Set<Node>} */
      const live = new Set();
      for (const e of next) for (const n of e.nodes) live.add(n);
      for (const e of this.entries) for (const n of e.nodes) if (!live.has(n) && n.parentNode === this.body) this.body.removeChild(n);
      this.entries = next;
      if (!this.entries.length) {
        this._placeholder();
        rendered.push(this.entries[0]);
      }
      this._place();
      this.io.afterRender();
      this._settle(rendered);
      this.stats.renders++;
      this._restore(this._saved);
    });
    this.onRemoteRender();
  }

  /** Put every entry's nodes in the body in entry order (TinyMCE's own nodes stay put). */
  _place() {
    /** @type {Node | null} */
    let cursor = null;
    /** @param {Node | null} node */
    const nextContent = (node) => {
      let n = node ? node.nextSibling : this.body.firstChild;
      while (n && isIgnorable(n) && !this.nodeEntry.has(n)) n = n.nextSibling;
      return n;
    };
    for (const e of this.entries) {
      for (const n of e.nodes) {
        const want = nextContent(cursor);
        if (want !== n) this.body.insertBefore(n, want);
        cursor = n;
      }
    }
  }

  // -- sync: the DOM -> the shared document ---------------------------------------------------

  /**
   * Write the user's changes (the groups the MutationObserver named) to the shared document.
   * Returns true when something was written.
   * @param {{full?: boolean}} [options] full: read every group, not only the changed ones
   * @returns {boolean}
   */
  sync(options = {}) {
    if (this.busy || this.paused || !this.active) return false;
    const started = now();
    try {
      return this._sync(options);
    } finally {
      const ms = now() - started;
      this.stats.syncMs += ms;
      if (ms > this.stats.maxSyncMs) this.stats.maxSyncMs = ms;
    }
  }

  /**
   * @param {{full?: boolean}} [o]
   * @returns {boolean}
   */
  _sync({ full = false } = {}) {
    if (this.observer) this._collect(this.observer.takeRecords());
    if (!full && !this._dirty.size && !this._structural) return false;
    this.stats.syncs++;
    const groups = this._groups();
    const old = this.entries;
    const dirty = this._dirty;
    /**
     * @param {Entry} e
     * @param {Group} g
     */
    const unchanged = (e, g) => e.nodes.length === g.nodes.length && e.nodes.every((n, i) => n === g.nodes[i] && !dirty.has(n));
    let a = 0;
    if (!full) while (a < old.length && a < groups.length && unchanged(old[a], groups[a])) a++;
    let s = 0;
    if (!full) while (s < old.length - a && s < groups.length - a && unchanged(old[old.length - 1 - s], groups[groups.length - 1 - s])) s++;
    const oldMid = old.slice(a, old.length - s);
    const newMid = groups.slice(a, groups.length - s);
    this._dirty = new Set();
    this._structural = false;
    const readings = newMid.map((g) => this.io.read(g.nodes));
    /** @type {string[]} */
    const notes = [];
    /** @type {Set<Node>} */
    const stripped = new Set(); // groups that showed something the document does not keep
    readings.forEach((r, gi) => {
      if (r.notes.length || r.altered) stripped.add(newMid[gi].nodes[0]);
      for (const n of r.notes) if (!notes.includes(n)) notes.push(n);
    });
    let yStart = 0;
    for (let k = 0; k < a; k++) yStart += old[k].ys.length;
    if (!this._consistent(old)) return this._resync(groups, readings, a, s, notes);
    const caret = this._caretContext(newMid, readings);
    const guard = this._guard(this._wouldWrite(oldMid, newMid, readings));
    /** @type {Entry[]} */
    const newEntries = [];
    let wrote;
    let tripped = false;
    const plan = () => {
      let pos = yStart;
      let oi = 0;
      const index = new Map(oldMid.map((e, k) => [e.nodes[0], k]));
      newMid.forEach((g, gi) => {
        const blocks = readings[gi].blocks;
        const k = index.get(g.nodes[0]) ?? -1;
        if (k >= oi) {
          for (; oi < k; oi++) this.fragment.delete(pos, oldMid[oi].ys.length);
          const e = oldMid[k];
          oi = k + 1;
          if (e.base && sameBlocks(blocks, e.base)) {
            // the DOM reads as it did: nothing the user changed here
            newEntries.push({ nodes: g.nodes, ys: e.ys, base: e.base, aligned: e.aligned });
            pos += e.ys.length;
            return;
          }
          const ys = this._write(pos, e.ys, blocks, caret);
          newEntries.push({ nodes: g.nodes, ys, base: blocks, aligned: true });
          pos += ys.length;
          return;
        }
        const ys = blocks.length ? insertItems(this.fragment, pos, blocks) : [];
        newEntries.push({ nodes: g.nodes, ys, base: blocks, aligned: true });
        pos += ys.length;
      });
      for (; oi < oldMid.length; oi++) this.fragment.delete(pos, oldMid[oi].ys.length);
    };
    this._localChanged = false;
    if (guard.blocked) tripped = true;
    else this.ydoc.transact(plan, this.origin);
    wrote = this._localChanged;
    if (tripped) return this._incident();
    this.entries = [...old.slice(0, a), ...newEntries, ...old.slice(old.length - s)];
    this._index();
    if (wrote) {
      this.stats.writes++;
      this._afterWrite();
    }
    if (stripped.size) this._refresh(newEntries.filter((e) => stripped.has(e.nodes[0])));
    if (notes.length) this.onNotes(notes);
    return wrote;
  }

  /**
   * Show `entries` as the shared document has them: what the user's DOM held that the
   * document does not keep (an event handler, an iframe from another host…) goes, so this
   * editor shows what every collaborator sees.
   * @param {Entry[]} entries
   */
  _refresh(entries) {
    const saved = this.saveSelection(true);
    this._withMutex(() => {
      for (const e of entries) {
        const blocks = e.ys.flatMap((y) => readTopNode(y));
        const fresh = blocks.length ? this.io.render(blocks) : [];
        if (e.nodes.length) e.nodes = morphNodes(this.body, e.nodes, fresh);
        else {
          for (const n of fresh) this.body.appendChild(n);
          e.nodes = fresh;
        }
      }
      this._index();
      this._place();
      this.io.afterRender();
      this._settle(entries);
      this._restore(saved);
    });
  }

  /**
   * Make the top-level Yjs types `ys` (at `pos` in the fragment) hold `blocks`. The edit is
   * computed against what Yjs holds now (rendered, so what the user saw), addressed by
   * index where the Yjs types have the model's shape, and a whole rewrite where they do not
   * (a document written in another shape by another client). What reads as nothing there (an
   * empty list concurrent edits left) is deleted first, so it costs no rewrite. Returns the
   * new types.
   * @param {number} pos
   * @param {YNode[]} ys
   * @param {Block[]} blocks
   * @param {EditContext | null} caret
   * @returns {YNode[]}
   */
  _write(pos, ys, blocks, caret) {
    const current = ys.flatMap((y) => readTopNode(y));
    let shaped = sameShape(ys, current);
    const gone = shaped ? null : vanishedTypes(ys, current);
    if (gone) {
      for (const t of gone) {
        if (t.fill) t.fill.insert(0, [new Y.XmlText()]);
        else t.parent.delete(t.parent.toArray().indexOf(t), 1);
      }
      ys = ys.filter((y) => !gone.includes(y));
      shaped = sameShape(ys, current);
      this.stats.pruned = (this.stats.pruned || 0) + gone.length;
    }
    if (shaped) return updateChildren(this.fragment, pos, current, blocks, caret);
    this.stats.rewrites = (this.stats.rewrites || 0) + 1;
    if (globalThis.__rtcDebug) console.error('[rtc-debug] rewrite', JSON.stringify(ys.map((y) => y.toJSON())).slice(0, 2000), JSON.stringify(current).slice(0, 2000));
    if (ys.length) this.fragment.delete(pos, ys.length);
    return blocks.length ? insertItems(this.fragment, pos, blocks) : [];
  }

  /**
   * Do the entries' Yjs types sit in the fragment in entry order?
   * @param {Entry[]} entries
   */
  _consistent(entries) {
    const ys = this.fragment.toArray();
    let i = 0;
    for (const e of entries) {
      for (const y of e.ys) {
        if (ys[i] !== y) return false;
        i++;
      }
    }
    return i === ys.length;
  }

  /**
   * The entries lost track of the fragment: diff the whole DOM against the whole document.
   * @param {Group[]} groups
   * @param {Reading[]} _readings
   * @param {number} _a
   * @param {number} _s
   * @param {string[]} notes
   * @returns {boolean}
   */
  _resync(groups, _readings, _a, _s, notes) {
    const readings = groups.map((g) => this.io.read(g.nodes));
    const blocks = readings.flatMap((r) => r.blocks);
    this._localChanged = false;
    /** @type {YNode[]} */
    let ys = [];
    this.ydoc.transact(() => {
      ys = this._write(0, this.fragment.toArray(), blocks, null);
    }, this.origin);
    let k = 0;
    this.entries = groups.map((g, gi) => {
      const n = readings[gi].blocks.length;
      const e = { nodes: g.nodes, ys: ys.slice(k, k + n), base: readings[gi].blocks, aligned: true };
      k += n;
      return e;
    });
    this._index();
    if (this._localChanged) {
      this.stats.writes++;
      this._afterWrite();
    }
    if (notes.length) this.onNotes(notes);
    return this._localChanged;
  }

  // -- the loop guard -------------------------------------------------------------------------

  /**
   * Would writing these readings change the shared document (as far as the baselines tell)?
   * @param {Entry[]} oldMid
   * @param {Group[]} newMid
   * @param {Reading[]} readings
   */
  _wouldWrite(oldMid, newMid, readings) {
    const index = new Map(oldMid.map((e, k) => [e.nodes[0], k]));
    let oi = 0;
    let write = false;
    newMid.forEach((g, gi) => {
      const k = index.get(g.nodes[0]) ?? -1;
      if (k >= oi) {
        if (oldMid.slice(oi, k).some((e) => e.ys.length)) write = true;
        const e = oldMid[k];
        if (!(e.base && sameBlocks(readings[gi].blocks, e.base))) write = true;
        oi = k + 1;
      } else if (readings[gi].blocks.length) write = true;
    });
    if (oldMid.slice(oi).some((e) => e.ys.length)) write = true;
    return write;
  }

  /** @param {boolean} write */
  _guard(write) {
    const now = Date.now();
    this._suspicious = this._suspicious.filter((t) => now - t < SUSPICIOUS_WINDOW_MS);
    return { blocked: write && !this._input && this._suspicious.length >= SUSPICIOUS_WRITES - 1 };
  }

  _afterWrite() {
    if (!this._input) this._suspicious.push(Date.now());
    else this._suspicious = [];
    this._input = false;
  }

  _incident() {
    this.stats.incidents++;
    // the window keeps its entries: a loop that goes on trips again at once
    /** @type {Incident} */
    const info = {
      reason: 'sync-loop',
      message: 'The editor kept producing changes nobody made; it was reloaded from the shared document.',
      writes: SUSPICIOUS_WRITES,
    };
    console.error('[rtc] ' + info.message);
    this.renderAll();
    this.onIncident(info);
    return false;
  }

  // -- positions ----------------------------------------------------------------------------

  /**
   * @param {Node | null} node
   * @returns {Entry | null}
   */
  _entryOfDom(node) {
    if (!node || !this.body.contains(node)) return null;
    let top = node === this.body ? null : this._topOf(node);
    if (!top) return null;
    return this.nodeEntry.get(top) || null;
  }

  /**
   * The caret's run and offset in the new readings (for caret-aware diffs), or null.
   * @param {Group[]} groups
   * @param {Reading[]} readings
   * @returns {EditContext | null}
   */
  _caretContext(groups, readings) {
    const sel = this.getSelection();
    if (!sel || !sel.rangeCount || !sel.isCollapsed || !sel.focusNode) return null;
    const top = this._topOf(sel.focusNode);
    if (!top) return null;
    const gi = groups.findIndex((g) => g.nodes.includes(top));
    if (gi < 0) return null;
    const runs = runsOf(readings[gi].blocks);
    const texts = runs.map((r) => displayText(runText(r)));
    const at = mapDomPoint(this.doc, domRuns(groups[gi].nodes), texts, sel.focusNode, sel.focusOffset);
    return at ? { caretRun: runs[at.index], caretOffset: at.offset } : null;
  }

  /**
   * DOM point -> {type: Y.XmlText, index}, or null outside the content.
   * @param {Node | null} node
   * @param {number} offset
   */
  domToY(node, offset) {
    if (!node) return null;
    if (node === this.body) {
      const child = this.body.childNodes[offset] || this.body.childNodes[offset - 1];
      if (!child) return null;
      const e = this._entryOfDom(child);
      if (!e) return null;
      return domPointToY(this.doc, e.nodes, e.ys, child, 0);
    }
    const e = this._entryOfDom(node);
    if (!e || !e.ys.length) return null;
    return domPointToY(this.doc, e.nodes, e.ys, node, offset);
  }

  /**
   * {type: Y.XmlText, index} -> DOM point {node, offset}, or null.
   * @param {Y.XmlText} type
   * @param {number} index
   * @returns {DomPoint | null}
   */
  yToDom(type, index) {
    /** @type {Y.AbstractType<any> | null} */
    let top = type;
    while (top && top.parent && top.parent !== this.fragment) top = top.parent;
    if (!top) return null;
    const want = top;
    const e = this.entries.find((x) => /** @type {Y.AbstractType<any>[]} */ (x.ys).includes(want));
    if (!e || !e.nodes.length) return null;
    return yPointToDom(e.nodes, e.ys, type, index);
  }

  /** @param {Y.RelativePosition} rel */
  relToDom(rel) {
    const abs = Y.createAbsolutePositionFromRelativePosition(rel, this.ydoc);
    if (!abs || !(abs.type instanceof Y.XmlText)) return null;
    return this.yToDom(abs.type, abs.index);
  }

  /**
   * The selection as Yjs relative positions. `sticky`: a collapsed caret sticks to the
   * character before it (the user's own last character), so a collaborator's insertion at the
   * same place goes after the caret.
   * @param {boolean} [sticky]
   * @returns {SavedSelection | null}
   */
  saveSelection(sticky = false) {
    const sel = this.getSelection();
    if (!sel || !sel.rangeCount || !sel.anchorNode || !this.body.contains(sel.anchorNode)) return null;
    const anchor = this.domToY(sel.anchorNode, sel.anchorOffset);
    const focus = this.domToY(sel.focusNode, sel.focusOffset);
    if (!anchor || !focus) return null;
    const assoc = sticky && sel.isCollapsed ? -1 : 0;
    return {
      anchor: Y.createRelativePositionFromTypeIndex(anchor.type, anchor.index, assoc),
      focus: Y.createRelativePositionFromTypeIndex(focus.type, focus.index, assoc),
    };
  }

  /**
   * Put the selection back where `saved` says, if it is not there already.
   * @param {SavedSelection | null | undefined} saved
   */
  _restore(saved) {
    if (!saved) return;
    const sel = this.getSelection();
    if (!sel) return;
    /** @param {Y.RelativePosition} rel */
    const want = (rel) => {
      const abs = Y.createAbsolutePositionFromRelativePosition(rel, this.ydoc);
      return abs && abs.type instanceof Y.XmlText ? { type: abs.type, index: abs.index } : null;
    };
    const wa = want(saved.anchor);
    const wf = want(saved.focus);
    if (!wa || !wf) return;
    if (sel.rangeCount && sel.anchorNode && this.body.contains(sel.anchorNode)) {
      const ca = this.domToY(sel.anchorNode, sel.anchorOffset);
      const cf = this.domToY(sel.focusNode, sel.focusOffset);
      if (ca && cf && ca.type === wa.type && ca.index === wa.index && cf.type === wf.type && cf.index === wf.index) return;
    }
    const a = this.yToDom(wa.type, wa.index);
    const f = this.yToDom(wf.type, wf.index);
    if (!a || !f) return;
    try {
      sel.setBaseAndExtent(a.node, a.offset, f.node, f.offset);
    } catch (err) {
      if (!isPositionError(err)) throw err; // not a valid caret position: the browser's choice stays
    }
  }

  /** @param {SavedSelection | null | undefined} saved */
  restoreSelection(saved) {
    this._restore(saved);
  }
}
