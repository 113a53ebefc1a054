// Positions between the editor's DOM and the Yjs document.
//
// A top-level block's DOM is cut into runs the way the content model cuts it (text between
// block boundaries; an empty block is one empty run); each unit of a run (a character, a line
// break, an embed) remembers the DOM point before it. The model's runs are the block's
// Y.XmlText nodes in document order. Runs pair by order, units by offset; where the two
// disagree (content TinyMCE shows differently from how it serializes it), the common prefix
// and suffix still map exactly and the rest is clamped — a caret lands near, never far.

import * as Y from 'yjs';
import { MEDIA_EMBEDS, NONEDITABLE_CLASSES, VOID_EMBEDS, isBlockTag, isMarkTag } from './content/schema.js';

/** @typedef {import('./content/ydoc.js').YNode} YNode */

const TEXT = 3;
const ELEMENT = 1;
const COMMENT = 8;
const SPACE_LIKE = /[\t\n\f\r ]/;

/**
 * A unit of a DOM run: its character (U+FFFC an embed, \n a <br>) and the DOM point before it.
 * @typedef {{c: string, node: Node, offset: number}} DomUnit
 */
/**
 * @typedef {object} DomRun
 * @property {DomUnit[]} units
 * @property {Node | null} host the block holding it
 * @property {boolean} pre
 * @property {[Node, number]} end the DOM point after its last unit (in an empty block: inside it)
 */
/** @typedef {{node: Node, offset: number}} DomPoint */

/** @param {Node} n */
const tagOf = (n) => n.nodeName.toLowerCase();

/** @param {Node} node */
function indexIn(node) {
  let i = 0;
  for (let n = node.previousSibling; n; n = n.previousSibling) i++;
  return i;
}

/**
 * TinyMCE's own nodes: 'skip', 'unwrap' or null (content).
 * @param {Element} el
 * @returns {'skip' | 'unwrap' | null}
 */
export function editorNodeKind(el) {
  const bogus = el.getAttribute('data-mce-bogus');
  if (bogus === 'all' || el.getAttribute('data-mce-type') === 'bookmark' || el.hasAttribute('data-rtc-overlay')) return 'skip';
  const cls = el.getAttribute('class') || '';
  if (/\b(mce-offscreen-selection|mce-visual-caret|mce-resizehandle|mce-drag-container)\b/.test(cls)) return 'skip';
  if (bogus !== null) return tagOf(el) === 'br' ? 'skip' : 'unwrap';
  if (el.getAttribute('data-mce-caret') !== null || el.id === '_mce_caret') return 'unwrap';
  return null;
}

/** @param {Element} el */
function hasText(el) {
  for (let c = el.firstChild; c; c = c.nextSibling) {
    if (c.nodeType === TEXT && /** @type {Text} */ (c).data.replace(/\ufeff/g, '') !== '') return true;
    if (c.nodeType === COMMENT) return true;
    if (c.nodeType === ELEMENT && editorNodeKind(/** @type {Element} */ (c)) !== 'skip') return true;
  }
  return false;
}

/**
 * Is this inline element one unit (an embed) in the model?
 * @param {Element} el
 */
export function isAtomic(el) {
  const tag = tagOf(el);
  if (VOID_EMBEDS.has(tag) || MEDIA_EMBEDS.has(tag)) return true;
  if (el.hasAttribute('data-mce-object')) return true;
  if ((el.getAttribute('contenteditable') || '').toLowerCase() === 'false') return true;
  const cls = (el.getAttribute('class') || '').split(/\s+/);
  if (NONEDITABLE_CLASSES.some((c) => cls.includes(c))) return true;
  return isMarkTag(tag) && !hasText(el);
}

/**
 * The runs of DOM nodes (one top-level group): [{units: [{c, node, offset}], host, end}].
 * `c` is the unit's character ('\n' for <br>, U+FFFC for an embed); (node, offset) the DOM
 * point before it; `end` the point after the last unit (or inside the empty block).
 * @param {Iterable<Node>} nodes
 * @returns {DomRun[]}
 */
export function domRuns(nodes) {
  /** @type {DomRun[]} */
  const runs = [];
  /** @type {DomRun | null} */
  let current = null;
  const close = () => {
    if (current && current.units.length) runs.push(current);
    current = null;
  };
  /**
   * @param {string} c
   * @param {Node} node
   * @param {number} offset
   * @param {[Node, number]} after
   * @param {Node | null} host
   * @param {boolean} pre
   */
  const unit = (c, node, offset, after, host, pre) => {
    if (!current) current = { units: [], host, pre, end: after };
    current.units.push({ c, node, offset });
    current.end = after;
  };
  /**
   * @param {Node} node
   * @param {Node | null} host
   * @param {boolean} pre
   */
  const visit = (node, host, pre) => {
    if (node.nodeType === TEXT) {
      const child = /** @type {Text} */ (node);
      const data = child.data;
      for (let i = 0; i < data.length; i++) {
        const ch = data[i];
        if (ch === '\ufeff') continue;
        unit(pre || !SPACE_LIKE.test(ch) ? ch : ' ', child, i, [child, i + 1], host, pre);
      }
      return;
    }
    // the DOM point of a comment, a <br> or an embed is in its parent (the binding's nodes are
    // in the body: a detached one has no DOM point, and is no unit)
    const parent = node.parentNode;
    if (node.nodeType === COMMENT) {
      if (!parent) return;
      const i = indexIn(node);
      unit('\ufffc', parent, i, [parent, i + 1], host, pre);
      return;
    }
    if (node.nodeType !== ELEMENT) return;
    const child = /** @type {Element} */ (node);
    const kind = editorNodeKind(child);
    if (kind === 'skip') return;
    if (kind === 'unwrap') {
      for (const c of Array.from(child.childNodes)) visit(c, host, pre);
      return;
    }
    const tag = tagOf(child);
    if (tag === 'br') {
      if (!parent) return;
      const i = indexIn(child);
      unit('\n', parent, i, [parent, i + 1], host, pre);
      return;
    }
    if (isBlockTag(tag)) {
      close();
      const before = runs.length;
      const innerPre = pre || tag === 'pre';
      for (const c of Array.from(child.childNodes)) visit(c, child, innerPre);
      close();
      // an empty block is one empty run, with the caret inside it
      if (runs.length === before && !hasBlockChild(child)) runs.push({ units: [], host: child, pre: innerPre, end: [child, 0] });
      return;
    }
    if (isAtomic(child)) {
      if (!parent) return;
      const i = indexIn(child);
      unit('\ufffc', parent, i, [parent, i + 1], host, pre);
      return;
    }
    for (const c of Array.from(child.childNodes)) visit(c, host, pre);
  };
  for (const node of nodes) visit(node, node.parentNode, false);
  close();
  return trimRuns(runs);
}

/** @param {Element} el */
function hasBlockChild(el) {
  for (let c = el.firstChild; c; c = c.nextSibling) if (c.nodeType === ELEMENT && isBlockTag(tagOf(c))) return true;
  return false;
}

/**
 * The whitespace rule on DOM units: spaces HTML collapses are not units.
 * @param {DomRun[]} runs
 */
function trimRuns(runs) {
  for (const r of runs) {
    if (r.pre) continue;
    /** @type {DomUnit[]} */
    const kept = [];
    for (const u of r.units) {
      if (u.c === ' ') {
        const prev = kept.length ? kept[kept.length - 1].c : null;
        if (!kept.length || prev === ' ' || prev === '\n') continue;
      } else if (u.c === '\n') {
        while (kept.length && kept[kept.length - 1].c === ' ') kept.pop();
      }
      kept.push(u);
    }
    while (kept.length && kept[kept.length - 1].c === ' ') kept.pop();
    r.units = kept;
  }
  return runs;
}

/**
 * The Y.XmlText nodes of Yjs types, in document order.
 * @param {YNode[]} types
 * @param {Y.XmlText[]} [out]
 * @returns {Y.XmlText[]}
 */
export function yRuns(types, out = []) {
  for (const t of types) {
    if (t instanceof Y.XmlText) out.push(t);
    else if (t instanceof Y.XmlElement) yRuns(t.toArray(), out);
  }
  return out;
}

/** @param {Y.XmlText} ytext */
function yText(ytext) {
  let s = '';
  for (const d of ytext.toDelta()) s += typeof d.insert === 'string' ? d.insert : '\ufffc';
  return s;
}

/** @param {string} c */
const norm = (c) => (c === '\u00a0' ? ' ' : c);

/**
 * Offset mapping between two strings via their common prefix and suffix.
 * @param {string} from
 * @param {string} to
 * @param {number} offset in `from`
 */
function mapOffset(from, to, offset) {
  const max = Math.min(from.length, to.length);
  let p = 0;
  while (p < max && norm(from[p]) === norm(to[p])) p++;
  let s = 0;
  while (s < max - p && norm(from[from.length - 1 - s]) === norm(to[to.length - 1 - s])) s++;
  if (offset <= p) return offset;
  if (offset >= from.length - s) return Math.max(0, to.length - (from.length - offset));
  return Math.min(offset, to.length - s);
}

/**
 * @param {string} a
 * @param {string} b
 */
function sameText(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (norm(a[i]) !== norm(b[i])) return false;
  return true;
}

/**
 * How alike two runs' texts are: their common prefix and suffix (two empty runs: 1).
 * @param {string} a
 * @param {string} b
 */
function likeness(a, b) {
  if (!a.length && !b.length) return 1;
  const max = Math.min(a.length, b.length);
  let p = 0;
  while (p < max && norm(a[p]) === norm(b[p])) p++;
  let s = 0;
  while (s < max - p && norm(a[a.length - 1 - s]) === norm(b[b.length - 1 - s])) s++;
  return p + s;
}

/**
 * The run of `to` that run `index` of `from` pairs with, when the two sides have different
 * run counts (an empty block without a Y.XmlText, a block one side has not rendered yet):
 * runs equal from the start and from the end pair by position, a run in between with the
 * most alike run in between (the nearest on a tie). A position never crosses into another
 * run through the empty runs around it (a caret at the end of a table cell must not land
 * in the next cell).
 * @param {string[]} from
 * @param {string[]} to
 * @param {number} index
 */
function pairRun(from, to, index) {
  const max = Math.min(from.length, to.length);
  let p = 0;
  while (p < max && sameText(from[p], to[p])) p++;
  if (index < p) return index;
  let s = 0;
  while (s < max - p && sameText(from[from.length - 1 - s], to[to.length - 1 - s])) s++;
  if (index >= from.length - s) return index + to.length - from.length;
  // no run of `to` in between: the nearest one (a side may hold more runs than the other)
  let best = Math.min(p, to.length - 1);
  let score = -1;
  for (let k = p; k < to.length - s; k++) {
    const sc = likeness(from[index], to[k]);
    if (sc > score || (sc === score && Math.abs(k - index) < Math.abs(best - index))) {
      best = k;
      score = sc;
    }
  }
  return best;
}

/**
 * Whether `err` is the DOMException a DOM range raises for a point that is not a valid
 * position (an offset past the end, a doctype, a node of another document): the caller has
 * no answer for that point. Anything else is a bug and is not caught.
 * @param {unknown} err
 * @returns {boolean}
 */
export function isPositionError(err) {
  const name = err !== null && typeof err === 'object' && 'name' in err ? err.name : undefined;
  return name === 'IndexSizeError' || name === 'InvalidNodeTypeError' || name === 'WrongDocumentError';
}

/**
 * Is DOM point a strictly before point b?
 * @param {Document} doc
 * @param {Node} aNode
 * @param {number} aOff
 * @param {Node} bNode
 * @param {number} bOff
 */
function before(doc, aNode, aOff, bNode, bOff) {
  if (aNode === bNode) return aOff < bOff;
  const r = doc.createRange();
  r.setStart(bNode, bOff);
  r.collapse(true);
  try {
    return r.comparePoint(aNode, aOff) < 0;
  } catch (err) {
    if (!isPositionError(err)) throw err;
    return false;
  }
}

/**
 * A DOM point -> {run, offset} among DOM runs (the last run starting before it).
 * @param {Document} doc
 * @param {DomRun[]} runs
 * @param {Node} node
 * @param {number} offset
 * @returns {{run: number, offset: number} | null}
 */
function locate(doc, runs, node, offset) {
  if (!runs.length) return null;
  // a point inside a text node maps directly to the first unit at or after it
  if (node.nodeType === TEXT) {
    let after = null;
    for (let r = 0; r < runs.length; r++) {
      const units = runs[r].units;
      for (let i = 0; i < units.length; i++) {
        if (units[i].node !== node) continue;
        if (units[i].offset >= offset) return { run: r, offset: i };
        after = { run: r, offset: i + 1 };
      }
    }
    if (after) return after;
  }
  let best = null;
  for (let r = 0; r < runs.length; r++) {
    const run = runs[r];
    /** @type {[Node, number] | null} */
    const start = run.units.length ? [run.units[0].node, run.units[0].offset] : run.end;
    if (!start) continue;
    if (best !== null && before(doc, node, offset, start[0], start[1])) break;
    best = r;
  }
  if (best === null) return { run: 0, offset: 0 };
  const units = runs[best].units;
  let i = 0;
  while (i < units.length && before(doc, units[i].node, units[i].offset, node, offset)) i++;
  return { run: best, offset: i };
}

/**
 * Text of a run of DOM units.
 * @param {DomRun} run
 */
const unitsText = (run) => run.units.map((u) => u.c).join('');

/**
 * A DOM point among `runs` (from domRuns) -> {index, offset} in `texts` (the model's runs as
 * flat strings, in document order), or null.
 * @param {Document} doc
 * @param {DomRun[]} runs
 * @param {string[]} texts
 * @param {Node} node
 * @param {number} offset
 * @returns {{index: number, offset: number} | null}
 */
export function mapDomPoint(doc, runs, texts, node, offset) {
  if (!texts.length) return null;
  const at = locate(doc, runs, node, offset);
  if (!at) return { index: 0, offset: 0 };
  const dTexts = runs.map(unitsText);
  const index = runs.length === texts.length ? at.run : pairRun(dTexts, texts, at.run);
  return { index, offset: mapOffset(dTexts[at.run], texts[index], at.offset) };
}

/**
 * {index, offset} in `texts` -> a DOM point {node, offset} among `runs`, or null.
 * @param {DomRun[]} runs
 * @param {string[]} texts
 * @param {number} index
 * @param {number} offset
 * @returns {DomPoint | null}
 */
export function mapToDom(runs, texts, index, offset) {
  if (!runs.length || index < 0 || index >= texts.length) return null;
  const dTexts = runs.map(unitsText);
  const k = runs.length === texts.length ? index : pairRun(texts, dTexts, index);
  const run = runs[k];
  const at = Math.min(mapOffset(texts[index], dTexts[k], offset), run.units.length);
  if (at < run.units.length) {
    const u = run.units[at];
    return { node: u.node, offset: u.offset };
  }
  const [node, off] = run.end;
  return { node, offset: off };
}

/**
 * DOM point inside a group's nodes -> {type: Y.XmlText, index} or null.
 * @param {Document} doc
 * @param {Iterable<Node>} nodes
 * @param {YNode[]} types
 * @param {Node} node
 * @param {number} offset
 * @returns {{type: Y.XmlText, index: number} | null}
 */
export function domPointToY(doc, nodes, types, node, offset) {
  const texts = yRuns(types);
  const at = mapDomPoint(doc, domRuns(nodes), texts.map(yText), node, offset);
  return at ? { type: texts[at.index], index: Math.min(at.offset, texts[at.index].length) } : null;
}

/**
 * {type: Y.XmlText, index} -> a DOM point {node, offset} in a group's nodes, or null.
 * @param {Iterable<Node>} nodes
 * @param {YNode[]} types
 * @param {Y.XmlText} type
 * @param {number} index
 */
export function yPointToDom(nodes, types, type, index) {
  const texts = yRuns(types);
  const r = texts.indexOf(type);
  if (r < 0) return null;
  return mapToDom(domRuns(nodes), texts.map(yText), r, index);
}
