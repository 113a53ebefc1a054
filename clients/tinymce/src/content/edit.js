// Minimal edits to a Yjs document: make Yjs types that hold `base` hold `neu`, touching only
// what differs (characters, formats, attributes, children). The binding diffs what it read
// from the editor against what it last read (`base`) — never against the current Yjs content —
// so what a user did not change is never written.

import * as Y from 'yjs';
import { LEGACY } from './schema.js';
import { STYLE_PREFIX } from './sanitize.js';
import { isRun, runUnits, sameItem } from './model.js';
import { insertItems, markAttrs } from './ydoc.js';

/** @typedef {import('./model.js').Unit} Unit */
/** @typedef {import('./model.js').Run} Run */
/** @typedef {import('./model.js').Block} Block */
/** @typedef {import('./model.js').Item} Item */
/** @typedef {import('./ydoc.js').YNode} YNode */
/** @typedef {import('./ydoc.js').YParent} YParent */
/**
 * Where the caret is, for changedRange: the run of `neu` holding it, and its offset there.
 * @typedef {{caretRun: Run, caretOffset: number}} EditContext
 */

const LEGACY_BLOCK_STYLES = LEGACY.block_styles;
/** @param {string | null} c */
const isHigh = (c) => c !== null && c.charCodeAt(0) >= 0xd800 && c.charCodeAt(0) <= 0xdbff;
/** @param {string | null} c */
const isLow = (c) => c !== null && c.charCodeAt(0) >= 0xdc00 && c.charCodeAt(0) <= 0xdfff;
// A space and a non-breaking space are the same character to a diff: browsers swap one for the
// other around the caret as the user types ("a&nbsp; b" / "a &nbsp;b"), and rewriting them
// would move collaborators' text anchored to them. Inserted text keeps what the user typed.
/** @param {string} c */
const ws = (c) => (c === '\u00a0' ? ' ' : c);
/**
 * @param {Unit} a
 * @param {Unit} b
 */
const sameUnit = (a, b) => (a.c === null || b.c === null ? a.c === b.c && a.ek === b.ek : ws(a.c) === ws(b.c));

/**
 * @param {Unit[]} a
 * @param {number} aStart
 * @param {Unit[]} b
 * @param {number} bStart
 * @param {number} len
 */
function sameRange(a, aStart, b, bStart, len) {
  for (let i = 0; i < len; i++) if (!sameUnit(a[aStart + i], b[bStart + i])) return false;
  return true;
}

/**
 * Where the content of `base` and `neu` differs: {p, s} (common prefix and suffix lengths).
 * `caret` (an offset in `neu`, or null) decides between equally small diffs: a change that ends
 * at the caret is what the user typed there, so a character typed after an identical one is
 * inserted after the typist's own previous character, not before someone else's.
 * @param {Unit[]} base
 * @param {Unit[]} neu
 * @param {number | null} [caret]
 * @returns {{p: number, s: number}}
 */
export function changedRange(base, neu, caret = null) {
  const bl = base.length;
  const nl = neu.length;
  const max = Math.min(bl, nl);
  let p = 0;
  while (p < max && sameUnit(base[p], neu[p])) p++;
  let s = 0;
  while (s < max - p && sameUnit(base[bl - 1 - s], neu[nl - 1 - s])) s++;
  if (caret !== null && caret >= 0 && caret <= nl) {
    const grow = nl - bl;
    if (grow > 0) {
      const at = caret - grow; // the insertion would be [at, caret)
      if (at >= 0 && at < p && at <= bl && sameRange(base, at, neu, caret, bl - at)) {
        p = at;
        s = bl - at;
      }
    } else if (grow < 0) {
      const at = caret; // the deletion would be base[at, at - grow)
      if (at < p && at - grow <= bl && sameRange(base, at - grow, neu, at, nl - at)) {
        p = at;
        s = nl - at;
      }
    }
  }
  // never split a surrogate pair
  while (p > 0 && isHigh(base[p - 1].c) && p < bl && isLow(base[p].c)) p--;
  while (s > 0 && bl - s - 1 >= 0 && isLow(base[bl - s].c) && isHigh(base[bl - s - 1].c)) s--;
  return { p, s };
}

/**
 * Attribute keys Yjs holds on each unit of a text (legacy names included).
 * @param {Y.XmlText} ytext
 * @returns {string[][]}
 */
function yKeys(ytext) {
  /** @type {string[][]} */
  const keys = [];
  for (const d of ytext.toDelta()) {
    const names = Object.keys(d.attributes || {});
    const len = typeof d.insert === 'string' ? d.insert.length : 1;
    for (let i = 0; i < len; i++) keys.push(names);
  }
  return keys;
}

/**
 * Set the formats of units that keep their place but changed marks.
 * @param {Y.XmlText} ytext
 * @param {Unit[]} base
 * @param {Unit[]} neu
 * @param {number} bStart
 * @param {number} nStart
 * @param {number} len
 * @param {{keys?: string[][] | null}} keysCache yKeys(ytext), while positions hold
 */
function formatRange(ytext, base, neu, bStart, nStart, len, keysCache) {
  let i = 0;
  while (i < len) {
    const o = base[bStart + i];
    const n = neu[nStart + i];
    if (o.k === n.k) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < len && base[bStart + j].k === o.k && neu[nStart + j].k === n.k) j++;
    /** @type {Record<string, unknown>} null removes a format */
    const attrs = markAttrs(n.m);
    if (!keysCache.keys) keysCache.keys = yKeys(ytext);
    for (let u = bStart + i; u < bStart + j; u++) {
      for (const key of keysCache.keys[u] || []) if (!(key in attrs)) attrs[key] = null;
    }
    for (const key of Object.keys(o.m || {})) if (!(key in attrs)) attrs[key] = null;
    ytext.format(bStart + i, j - i, attrs);
    i = j;
  }
}

/**
 * Make `ytext` (holding run `base`) hold run `neu`; `caret` is an offset in `neu` or null.
 * @param {Y.XmlText} ytext
 * @param {Run} base
 * @param {Run} neu
 * @param {number | null} [caret]
 */
export function updateRun(ytext, base, neu, caret = null) {
  const old = runUnits(base);
  const next = runUnits(neu);
  const { p, s } = changedRange(old, next, caret);
  /** @type {{keys?: string[][] | null}} */
  const cache = {};
  // formats of the common suffix (before the middle changes shift it), then the middle, then
  // formats of the common prefix
  formatRange(ytext, old, next, old.length - s, next.length - s, s, cache);
  const del = old.length - p - s;
  if (del > 0) ytext.delete(p, del);
  let at = p;
  let i = p;
  const end = next.length - s;
  while (i < end) {
    const u = next[i];
    if (u.c === null) {
      ytext.insertEmbed(at, u.e, markAttrs(u.m));
      at++;
      i++;
      continue;
    }
    let str = '';
    let j = i;
    while (j < end && next[j].c !== null && next[j].k === u.k) str += next[j++].c;
    ytext.insert(at, str, markAttrs(u.m));
    at += str.length;
    i = j;
  }
  if (p > 0) {
    cache.keys = null; // the middle moved positions
    formatRange(ytext, old, next, 0, 0, p, cache);
  }
}

/**
 * Can Yjs type `y` hold `item` (an XmlText a run, an XmlElement of its tag a block)?
 * @param {YNode | undefined} y
 * @param {Item} item
 */
function compatible(y, item) {
  if (isRun(item)) return y instanceof Y.XmlText;
  return y instanceof Y.XmlElement && String(y.nodeName).toLowerCase() === item.tag;
}

/**
 * @param {Item} a
 * @param {Item} b
 */
const sameKind = (a, b) => (isRun(a) ? isRun(b) : !isRun(b) && a.tag === b.tag);

/**
 * Make element `yEl` (holding block `base`) hold block `neu`.
 * @param {Y.XmlElement} yEl
 * @param {Block} base
 * @param {Block} neu
 * @param {EditContext | null} ctx
 */
export function updateElement(yEl, base, neu, ctx) {
  /** @type {Record<string, unknown>} */
  const current = yEl.getAttributes();
  let changed = false;
  for (const key of new Set([...Object.keys(base.attrs), ...Object.keys(neu.attrs)])) {
    if (base.attrs[key] === neu.attrs[key]) continue;
    changed = true;
    const value = neu.attrs[key];
    if (value === undefined) yEl.removeAttribute(key);
    else yEl.setAttribute(key, value);
  }
  if (changed) {
    // attributes of the first model version (CSS properties without the prefix) give way
    for (const legacy of LEGACY_BLOCK_STYLES) {
      if (current[legacy] === undefined) continue;
      yEl.removeAttribute(legacy);
      const modern = neu.attrs[STYLE_PREFIX + legacy];
      if (modern !== undefined && current[STYLE_PREFIX + legacy] !== modern) yEl.setAttribute(STYLE_PREFIX + legacy, modern);
    }
  }
  updateChildren(yEl, 0, base.children, neu.children, ctx);
}

/**
 * Make `y` (holding `base`) hold `neu`: of the same kind (sameKind), and `y` compatible with it.
 * @param {YNode} y
 * @param {Item} base
 * @param {Item} neu
 * @param {EditContext | null} ctx
 */
function update(y, base, neu, ctx) {
  if (isRun(neu)) updateRun(/** @type {Y.XmlText} */ (y), /** @type {Run} */ (base), neu, ctx && ctx.caretRun === neu ? ctx.caretOffset : null);
  else updateElement(/** @type {Y.XmlElement} */ (y), /** @type {Block} */ (base), neu, ctx);
}

/**
 * Make the children [start, start + base.length) of `parent` (which hold the items `base`)
 * hold the items `neu`. Returns the Yjs types that now hold `neu`.
 * ctx: {caretRun, caretOffset} — the run of `neu` holding the caret, for changedRange.
 * @param {YParent} parent
 * @param {number} start
 * @param {Item[]} base
 * @param {Item[]} neu
 * @param {EditContext | null} [ctx]
 * @returns {YNode[]}
 */
export function updateChildren(parent, start, base, neu, ctx = null) {
  const ys = parent.toArray().slice(start, start + base.length);
  const bl = base.length;
  const nl = neu.length;
  const max = Math.min(bl, nl);
  let a = 0;
  while (a < max && sameItem(base[a], neu[a]) && compatible(ys[a], neu[a])) a++;
  let s = 0;
  while (s < max - a && sameItem(base[bl - 1 - s], neu[nl - 1 - s]) && compatible(ys[bl - 1 - s], neu[nl - 1 - s])) s++;
  const result = ys.slice(0, a);
  let pos = start + a;
  let i = a;
  let j = a;
  const bEnd = bl - s;
  const nEnd = nl - s;
  while (i < bEnd || j < nEnd) {
    if (i < bEnd && j < nEnd && sameKind(base[i], neu[j]) && compatible(ys[i], neu[j])) {
      update(ys[i], base[i], neu[j], ctx);
      result.push(ys[i]);
      pos++;
      i++;
      j++;
    } else if (
      i < bEnd &&
      (j >= nEnd || (i + 1 < bEnd && sameKind(base[i + 1], neu[j])) || !neu.slice(j, nEnd).some((x) => sameKind(base[i], x)))
    ) {
      parent.delete(pos, 1);
      i++;
    } else {
      result.push(...insertItems(parent, pos, [neu[j]]));
      pos++;
      j++;
    }
  }
  result.push(...ys.slice(bl - s));
  return result;
}
