// Structural binding: the editor's DOM (TinyMCE body) <-> the Y.XmlFragment "content".
//
// Local changes: the DOM is converted to the content model and compared with the fragment,
// block by block; only differing blocks are touched, and inside an XmlText only the changed
// characters (insert/delete) and formats are written, in one transaction with `origin`.
// Remote changes (any transaction whose origin is not `origin`): the changed top-level blocks
// are re-rendered in place; other blocks keep their DOM nodes. The caret/selection is carried
// across through Yjs relative positions.

import * as Y from 'yjs';
import {
  Converter,
  MODEL_TAGS,
  DROP_WITH_CONTENT,
  elementAttrs,
  insertAttrs,
  insertBlocks,
  marksKey,
  renderDom,
  cleanMarks,
} from './content-model.js';

const BLOCKISH = new Set([
  ...MODEL_TAGS,
  ...'div section article aside header footer main nav address center details summary dl dt dd form fieldset legend hgroup search menu'.split(' '),
]);

// -- signatures ---------------------------------------------------------------------------------

function embedKey(c) {
  if (c && typeof c === 'object' && c.img && typeof c.img === 'object') {
    const img = {};
    for (const k of ['src', 'alt', 'width', 'height']) if (typeof c.img[k] === 'string') img[k] = c.img[k];
    return '\u0001' + JSON.stringify({ img });
  }
  return '\u0001' + JSON.stringify(c);
}

/** Units of a Y.XmlText: [{c: char|embed, k: marksKey, m}], spaces shown as the DOM shows them. */
export function yUnits(text) {
  const units = [];
  for (const d of text.toDelta()) {
    const m = d.attributes || null;
    const k = marksKey(m);
    if (typeof d.insert === 'string') {
      for (let i = 0; i < d.insert.length; i++) units.push({ c: d.insert[i], k, m });
    } else units.push({ c: d.insert, k, m, e: embedKey(d.insert) });
  }
  return displaySpaces(units);
}

// A plain space that HTML would collapse is displayed (and read back) as U+00A0; compare the
// displayed form so that such Yjs content (written by another client) is not "corrected".
function displaySpaces(units) {
  const n = units.length;
  const ch = (i) => (i < 0 || i >= n ? null : typeof units[i].c === 'string' ? units[i].c : '\ufffc');
  for (let i = 0; i < n; i++) {
    if (units[i].c !== ' ') continue;
    const prev = ch(i - 1);
    const next = ch(i + 1);
    if (i === 0 || i === n - 1 || prev === ' ' || prev === '\n' || prev === '\u00a0' || next === '\n') {
      units[i] = { ...units[i], c: '\u00a0', shown: true };
    }
  }
  return units;
}

function segUnits(segs) {
  const units = [];
  for (const s of segs) {
    const k = marksKey(s.m);
    if (typeof s.c === 'string') for (let i = 0; i < s.c.length; i++) units.push({ c: s.c[i], k, m: s.m });
    else units.push({ c: s.c, k, m: s.m, e: embedKey(s.c) });
  }
  return units;
}

function unitsSig(units) {
  let sig = '';
  let lastK = null;
  for (const u of units) {
    if (u.k !== lastK) {
      sig += '\u0002' + u.k + '\u0003';
      lastK = u.k;
    }
    sig += u.e !== undefined ? u.e + '\u0001' : u.c;
  }
  return 't' + sig;
}

function ySig(node, cache) {
  let sig = cache && cache.get(node);
  if (sig !== undefined) return sig;
  if (node instanceof Y.XmlText) sig = unitsSig(yUnits(node));
  else if (node instanceof Y.XmlElement) {
    const tag = (node.nodeName || '').toLowerCase();
    const { attrs, styles } = elementAttrs(node, tag);
    sig = `<${tag} ${JSON.stringify(attrs)}${JSON.stringify(styles)}>` + node.toArray().map((c) => ySig(c, cache)).join('|') + '</>';
  } else sig = '?';
  if (cache) cache.set(node, sig);
  return sig;
}

function modelAttrs(block) {
  const tag = block.tag;
  // The same filtering/ordering as elementAttrs over a plain attribute object.
  const fake = { getAttribute: (n) => (n in block.attrs ? block.attrs[n] : undefined) };
  return elementAttrs(fake, tag);
}

function mSig(item) {
  if (item._sig !== undefined) return item._sig;
  let sig;
  if (item.run) sig = unitsSig(segUnits(item.segs));
  else {
    const { attrs, styles } = modelAttrs(item);
    sig = `<${item.tag} ${JSON.stringify(attrs)}${JSON.stringify(styles)}>` + item.children.map(mSig).join('|') + '</>';
  }
  Object.defineProperty(item, '_sig', { value: sig, enumerable: false, writable: true });
  return sig;
}

// -- minimal diffs --------------------------------------------------------------------------------

const sameContent = (a, b) => (a.e !== undefined || b.e !== undefined ? a.e === b.e : a.c === b.c);
const isHigh = (c) => typeof c === 'string' && c.charCodeAt(0) >= 0xd800 && c.charCodeAt(0) <= 0xdbff;
const isLow = (c) => typeof c === 'string' && c.charCodeAt(0) >= 0xdc00 && c.charCodeAt(0) <= 0xdfff;

/** Make `text` (Y.XmlText) hold `segs`, with the fewest insert/delete/format operations. */
export function diffText(text, segs) {
  const old = yUnits(text);
  const neu = segUnits(segs);
  let p = 0;
  const max = Math.min(old.length, neu.length);
  while (p < max && sameContent(old[p], neu[p])) p++;
  let s = 0;
  while (s < max - p && sameContent(old[old.length - 1 - s], neu[neu.length - 1 - s])) s++;
  // never split a surrogate pair
  while (p > 0 && isHigh(old[p - 1].c) && p < old.length && isLow(old[p].c)) p--;
  while (s > 0 && isLow(old[old.length - s].c) && old.length - s - 1 >= 0 && isHigh(old[old.length - s - 1].c)) s--;
  const delCount = old.length - p - s;
  const insUnits = neu.slice(p, neu.length - s);
  // 1. formats in the common suffix (old coordinates, from the end so indices stay valid)
  formatRange(text, old, neu, old.length - s, neu.length - s, s);
  // 2. the changed middle
  if (delCount > 0) text.delete(p, delCount);
  let at = p;
  let i = 0;
  while (i < insUnits.length) {
    const u = insUnits[i];
    if (u.e !== undefined) {
      text.insertEmbed(at, u.c, insertAttrs(u.m));
      at++;
      i++;
      continue;
    }
    let str = '';
    let j = i;
    while (j < insUnits.length && insUnits[j].e === undefined && insUnits[j].k === u.k) str += insUnits[j++].c;
    text.insert(at, str, insertAttrs(u.m));
    at += str.length;
    i = j;
  }
  // 3. formats in the common prefix
  formatRange(text, old, neu, 0, 0, p);
}

function formatRange(text, old, neu, oStart, nStart, len) {
  let i = 0;
  while (i < len) {
    const o = old[oStart + i];
    const n = neu[nStart + i];
    if (o.k === n.k) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < len && old[oStart + j].k !== neu[nStart + j].k && neu[nStart + j].k === n.k) j++;
    const attrs = insertAttrs(n.m);
    // only what changes: marks the old text has that the new lacks (null) and new marks
    const oldMarks = cleanMarks(o.m);
    for (const key of Object.keys(attrs)) if (attrs[key] === null && !(key in oldMarks)) delete attrs[key];
    text.format(oStart + i, j - i, attrs);
    i = j;
  }
}

function compatible(y, m) {
  if (m.run) return y instanceof Y.XmlText;
  return y instanceof Y.XmlElement && (y.nodeName || '').toLowerCase() === m.tag;
}

function updateNode(y, m, cache) {
  if (m.run) {
    diffText(y, m.segs);
    return;
  }
  // attributes: set what differs, remove whitelisted ones the model no longer has
  const current = y.getAttributes();
  for (const [k, v] of Object.entries(m.attrs)) if (current[k] !== v) y.setAttribute(k, v);
  const { attrs, styles } = elementAttrs(y, m.tag);
  for (const [k] of [...attrs, ...styles]) if (!(k in m.attrs)) y.removeAttribute(k);
  if (m.tag !== 'hr') diffChildren(y, m.children, cache);
}

/** Make the children of `parent` (fragment or element) match the model items. */
export function diffChildren(parent, items, cache) {
  const old = parent.toArray();
  let a = 0;
  const max = Math.min(old.length, items.length);
  while (a < max && ySig(old[a], cache) === mSig(items[a])) a++;
  let s = 0;
  while (s < max - a && ySig(old[old.length - 1 - s], cache) === mSig(items[items.length - 1 - s])) s++;
  const o = old.slice(a, old.length - s);
  const n = items.slice(a, items.length - s);
  let pos = a;
  let i = 0;
  let j = 0;
  while (i < o.length || j < n.length) {
    if (i < o.length && j < n.length && compatible(o[i], n[j])) {
      updateNode(o[i], n[j], cache);
      pos++;
      i++;
      j++;
    } else if (i < o.length && (j >= n.length || (i + 1 < o.length && compatible(o[i + 1], n[j])) || !n.slice(j).some((x) => compatible(o[i], x)))) {
      parent.delete(pos, 1);
      i++;
    } else {
      insertBlocks(parent, pos, [n[j]]);
      pos++;
      j++;
    }
  }
}

// -- DOM scanning -----------------------------------------------------------------------------------

function isInlineTopNode(node) {
  if (node.nodeType === 3) return true;
  if (node.nodeType !== 1) return false;
  const tag = node.nodeName.toLowerCase();
  if (DROP_WITH_CONTENT.has(tag)) return false;
  if (node.getAttribute('data-mce-bogus') === 'all' || node.getAttribute('data-mce-type') === 'bookmark') return false;
  if (node.getAttribute('data-rtc-overlay') !== null) return false;
  return !BLOCKISH.has(tag);
}

/**
 * The body's children in groups (a block-level node alone; consecutive inline nodes together),
 * each with the model blocks it yields.
 */
export function scanBody(body, { track = false } = {}) {
  const groups = [];
  const notes = [];
  let inline = [];
  const convert = (nodes) => {
    const conv = new Converter({ track });
    const blocks = conv.document(nodes);
    for (const n of conv.notes) if (!notes.includes(n)) notes.push(n);
    groups.push({ nodes, blocks });
  };
  for (const child of Array.from(body.childNodes)) {
    if (isInlineTopNode(child)) {
      inline.push(child);
      continue;
    }
    if (inline.length) {
      convert(inline);
      inline = [];
    }
    convert([child]);
  }
  if (inline.length) convert(inline);
  return { groups, notes };
}

// -- positions ---------------------------------------------------------------------------------------

function pointBefore(doc, aNode, aOff, bNode, bOff) {
  // is (aNode, aOff) strictly before (bNode, bOff)?
  const r = doc.createRange();
  r.setStart(bNode, bOff);
  r.collapse(true);
  return r.comparePoint(aNode, aOff) < 0;
}

function runsOf(block, out = []) {
  for (const c of block.children) {
    if (c.run) out.push({ run: c, block });
    else runsOf(c, out);
  }
  return out;
}

function unitPoints(segs) {
  const pts = [];
  for (const s of segs) for (const p of s.pos || []) pts.push(p);
  return pts;
}

function pathTo(root, target, path = []) {
  // model path (indices) from `root` (array of items) to the run `target`
  for (let i = 0; i < root.length; i++) {
    const item = root[i];
    if (item === target) return [...path, i];
    if (!item.run) {
      const found = pathTo(item.children, target, [...path, i]);
      if (found) return found;
    }
  }
  return null;
}

export class Binding {
  /**
   * @param {HTMLElement} body the editable root
   * @param {Y.XmlFragment} fragment
   * @param {object} [options]
   * @param {any} [options.origin] transaction origin of local changes
   * @param {(notes: string[]) => void} [options.onUnsupported]
   * @param {() => void} [options.onRemoteRender] after the DOM was patched
   */
  constructor(body, fragment, { origin, onUnsupported, onRemoteRender, getSelection } = {}) {
    this.body = body;
    this.doc = body.ownerDocument;
    this.fragment = fragment;
    this.ydoc = fragment.doc;
    this.origin = origin ?? this;
    this.onUnsupported = onUnsupported || (() => {});
    this.onRemoteRender = onRemoteRender || (() => {});
    this.getSelection = getSelection || (() => (this.doc.defaultView ? this.doc.defaultView.getSelection() : null));
    this.rendering = false;
    this.stats = { localSyncs: 0, remotePatches: 0 };
    this._observer = (events, tr) => {
      if (tr.origin === this.origin) return;
      this.patchDom();
    };
    // Positions are computed against the DOM and the Y state *before* a foreign transaction.
    this._before = (tr) => {
      if (tr.origin === this.origin || this._saved !== undefined) return;
      try {
        this._saved = this.saveSelection();
      } catch {
        this._saved = null;
      }
    };
    this._after = () => {
      this._saved = undefined;
    };
    this.ydoc.on('beforeTransaction', this._before);
    this.ydoc.on('afterTransactionCleanup', this._after);
    fragment.observeDeep(this._observer);
  }

  destroy() {
    this.fragment.unobserveDeep(this._observer);
    this.ydoc.off('beforeTransaction', this._before);
    this.ydoc.off('afterTransactionCleanup', this._after);
  }

  /** Replace the whole body with the fragment's content. */
  renderAll() {
    this.rendering = true;
    try {
      while (this.body.firstChild) this.body.removeChild(this.body.firstChild);
      for (const node of this.fragment.toArray()) for (const d of renderDom(node, this.doc)) this.body.appendChild(d);
      if (!this.body.firstChild) this.body.appendChild(this._emptyParagraph());
    } finally {
      this.rendering = false;
    }
  }

  _emptyParagraph() {
    const p = this.doc.createElement('p');
    const br = this.doc.createElement('br');
    br.setAttribute('data-mce-bogus', '1');
    p.appendChild(br);
    return p;
  }

  /** DOM -> Yjs, minimal. Returns the notes about unsupported content (also reported). */
  syncFromDom() {
    const { groups, notes } = scanBody(this.body);
    const blocks = groups.flatMap((g) => g.blocks);
    const cache = new Map();
    this.ydoc.transact(() => diffChildren(this.fragment, blocks, cache), this.origin);
    this.stats.localSyncs++;
    if (notes.length) this.onUnsupported(notes);
    return notes;
  }

  /** Yjs -> DOM: re-render only the top-level blocks that differ. */
  patchDom() {
    const selection = this._saved !== undefined ? this._saved : this.saveSelection();
    const domSelection = this.getSelection();
    const selAnchor = domSelection ? domSelection.anchorNode : null;
    const selFocus = domSelection ? domSelection.focusNode : null;
    const { groups } = scanBody(this.body);
    const flat = []; // {g, sig}
    groups.forEach((g, gi) => g.blocks.forEach((b) => flat.push({ gi, sig: mSig(b) })));
    const ys = this.fragment.toArray();
    const cache = new Map();
    let a = 0;
    const max = Math.min(ys.length, flat.length);
    while (a < max && ySig(ys[a], cache) === flat[a].sig) a++;
    let s = 0;
    while (s < max - a && ySig(ys[ys.length - 1 - s], cache) === flat[flat.length - 1 - s].sig) s++;
    if (a === ys.length && a === flat.length) return; // nothing to do
    // widen to whole DOM groups
    let fa = a;
    let fb = flat.length - s; // flat[fa, fb) is replaced
    while (fa > 0 && fa < flat.length && flat[fa - 1].gi === flat[fa].gi) fa--;
    while (fb < flat.length && fb > 0 && flat[fb].gi === flat[fb - 1].gi) fb++;
    const ya = fa;
    const yb = ys.length - (flat.length - fb);
    const firstGroup = fa < fb ? flat[fa].gi : null;
    const lastGroup = fa < fb ? flat[fb - 1].gi : null;
    let before = null; // insert rendered nodes before this DOM node
    if (fb < flat.length) before = groups[flat[fb].gi].nodes[0];
    this.rendering = true;
    try {
      if (firstGroup !== null) {
        for (let gi = firstGroup; gi <= lastGroup; gi++) {
          for (const node of groups[gi].nodes) if (node.parentNode === this.body) this.body.removeChild(node);
        }
      }
      const anchor = before && before.parentNode === this.body ? before : null;
      for (let k = ya; k < yb; k++) {
        for (const d of renderDom(ys[k], this.doc)) this.body.insertBefore(d, anchor);
      }
      if (!this.fragment.length && !this.body.firstChild) this.body.appendChild(this._emptyParagraph());
    } finally {
      this.rendering = false;
    }
    this.stats.remotePatches++;
    // Restore the selection only if its nodes were re-rendered: touching an intact
    // selection would move the caret out of TinyMCE's pending-format caret container.
    const intact = selAnchor && selFocus && this.body.contains(selAnchor) && this.body.contains(selFocus);
    if (selection && !intact) this.restoreSelection(selection);
    this.onRemoteRender();
  }

  // -- positions --------------------------------------------------------------------------------

  /** DOM point in the body -> {type: Y.XmlText, index} (null outside the content). */
  domToY(node, offset) {
    if (!node || !this.body.contains(node)) return null;
    let top = node === this.body ? null : node;
    while (top && top.parentNode !== this.body) top = top.parentNode;
    const { groups } = scanBody(this.body, { track: false });
    let flatStart = 0;
    let group = null;
    if (top === null) {
      // a point directly in the body: before child `offset`
      const child = this.body.childNodes[offset] || this.body.childNodes[offset - 1];
      if (!child) return null;
      top = child;
    }
    for (const g of groups) {
      if (g.nodes.includes(top)) {
        group = g;
        break;
      }
      flatStart += g.blocks.length;
    }
    if (!group || !group.blocks.length) return null;
    const conv = new Converter({ track: true });
    const blocks = conv.document(group.nodes);
    // candidate runs: those of the innermost model block containing the point
    const all = [];
    blocks.forEach((b, bi) => runsOf(b).forEach((r) => all.push({ ...r, bi })));
    if (!all.length) return null;
    let best = null;
    let depth = -1;
    for (const r of all) {
      const el = r.block.node;
      if (el && (el === node || el.contains(node))) {
        let d = 0;
        for (let n = el; n && n !== this.body; n = n.parentNode) d++;
        if (d > depth) {
          depth = d;
          best = [r];
        } else if (d === depth) best.push(r);
      }
    }
    const candidates = best || all;
    // pick the last candidate run whose first unit is before the point (or the first one)
    let chosen = candidates[0];
    for (const r of candidates) {
      const pts = unitPoints(r.run.segs);
      if (pts.length && pointBefore(this.doc, pts[0][0], pts[0][1], node, offset)) chosen = r;
    }
    const pts = unitPoints(chosen.run.segs);
    let index = 0;
    while (index < pts.length && pointBefore(this.doc, pts[index][0], pts[index][1], node, offset)) index++;
    // a point right after a text unit in the same text node counts as after it
    const path = pathTo(blocks, chosen.run);
    if (!path) return null;
    let y = this.fragment.get(flatStart + path[0]);
    for (let k = 1; k < path.length && y; k++) y = y instanceof Y.XmlElement ? y.get(path[k]) : null;
    if (!(y instanceof Y.XmlText)) return null;
    return { type: y, index: Math.min(index, y.length) };
  }

  /** {type: Y.XmlText, index} -> a DOM point {node, offset}, or null. */
  yToDom(type, index) {
    const path = [];
    let n = type;
    while (n && n !== this.fragment) {
      const parent = n.parent;
      if (!parent) return null;
      const kids = parent.toArray();
      const i = kids.indexOf(n);
      if (i < 0) return null;
      path.unshift(i);
      n = parent;
    }
    if (n !== this.fragment) return null;
    const { groups } = scanBody(this.body);
    let flatStart = 0;
    let group = null;
    for (const g of groups) {
      if (path[0] < flatStart + g.blocks.length) {
        group = g;
        break;
      }
      flatStart += g.blocks.length;
    }
    if (!group) return null;
    const conv = new Converter({ track: true });
    const blocks = conv.document(group.nodes);
    let item = blocks[path[0] - flatStart];
    for (let k = 1; k < path.length && item; k++) item = item.run ? null : item.children[path[k]];
    if (!item || !item.run) return null;
    const pts = unitPoints(item.segs);
    const host = findBlockNode(blocks[path[0] - flatStart], item) || group.nodes[0];
    if (!pts.length) return { node: host, offset: 0 };
    if (index < pts.length) {
      const [node, off] = pts[index];
      return { node, offset: off };
    }
    const [node, off] = pts[pts.length - 1];
    return { node, offset: off + 1 };
  }

  saveSelection() {
    const sel = this.getSelection();
    if (!sel || !sel.rangeCount || !sel.anchorNode || !this.body.contains(sel.anchorNode)) return null;
    const anchor = this.domToY(sel.anchorNode, sel.anchorOffset);
    const focus = this.domToY(sel.focusNode, sel.focusOffset);
    if (!anchor || !focus) return null;
    return {
      anchor: Y.createRelativePositionFromTypeIndex(anchor.type, anchor.index),
      focus: Y.createRelativePositionFromTypeIndex(focus.type, focus.index),
    };
  }

  relToDom(rel) {
    const abs = Y.createAbsolutePositionFromRelativePosition(rel, this.ydoc);
    if (!abs || !(abs.type instanceof Y.XmlText)) return null;
    return this.yToDom(abs.type, abs.index);
  }

  restoreSelection(saved) {
    const sel = this.getSelection();
    if (!sel) return;
    const a = this.relToDom(saved.anchor);
    const f = this.relToDom(saved.focus);
    if (!a || !f) return;
    try {
      if (sel.setBaseAndExtent) sel.setBaseAndExtent(a.node, a.offset, f.node, f.offset);
      else {
        const r = this.doc.createRange();
        r.setStart(a.node, a.offset);
        r.setEnd(f.node, f.offset);
        sel.removeAllRanges();
        sel.addRange(r);
      }
    } catch {
      /* the DOM moved under us; leave the selection where the browser put it */
    }
  }
}

function findBlockNode(block, runItem) {
  // the DOM element of the innermost block holding runItem
  if (block.run) return null;
  for (const c of block.children) {
    if (c === runItem) return block.node || null;
    if (!c.run) {
      const found = findBlockNode(c, runItem);
      if (found) return found;
    }
  }
  return null;
}
