// Patch a live DOM subtree into the shape of a freshly rendered one, keeping every node that
// can stay: the caret, an IME composition, TinyMCE's pending-format caret container and the
// browser's spellcheck survive a collaborator's edit in the same block. Text nodes change by
// insertData/deleteData, so a caret at the point of a remote insertion stays before it (after
// the local user's own last character).

import { editorNodeKind } from './positions.js';

const ELEMENT = 1;
const TEXT = 3;
// Attributes the editor keeps on live nodes for its UI; a render never removes them.
const KEEP_ATTRS = new Set(['data-mce-selected', 'data-mce-accordion-open']);

/**
 * Nodes of TinyMCE's own (an empty caret container, bogus helpers) stay where they are. A
 * caret container the user has typed into holds content: it is compared like content (else
 * the text in it would be there twice once the render adds it).
 * @param {Node} node
 */
function isInternal(node) {
  if (node.nodeType === TEXT) return /^\ufeff+$/.test(/** @type {Text} */ (node).data);
  if (node.nodeType !== ELEMENT || node.nodeName === 'BR') return false;
  const el = /** @type {Element} */ (node);
  const kind = editorNodeKind(el);
  if (kind === 'skip') return true;
  if (kind !== 'unwrap') return false;
  return (el.textContent ?? '').replace(/\ufeff/g, '') === '' && !el.querySelector('img,iframe,video,audio,br:not([data-mce-bogus])');
}

/** @param {Node} n */
const key = (n) => (n.nodeType === ELEMENT ? 'E' + n.nodeName : n.nodeType === TEXT ? 'T' : 'N' + n.nodeType);

/**
 * @param {Text} live
 * @param {Text} fresh
 */
function patchText(live, fresh) {
  const a = live.data;
  const b = fresh.data;
  if (a === b || a.replace(/\ufeff/g, '') === b) return;
  const max = Math.min(a.length, b.length);
  let p = 0;
  while (p < max && a[p] === b[p]) p++;
  let s = 0;
  while (s < max - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  const del = a.length - p - s;
  if (del > 0) live.deleteData(p, del);
  const ins = b.slice(p, b.length - s);
  if (ins) live.insertData(p, ins);
}

/**
 * @param {Element} live
 * @param {Element} fresh
 */
function patchAttributes(live, fresh) {
  for (const a of Array.from(fresh.attributes)) {
    if (live.getAttribute(a.name) !== a.value) live.setAttribute(a.name, a.value);
  }
  for (const a of Array.from(live.attributes)) {
    if (!fresh.hasAttribute(a.name) && !KEEP_ATTRS.has(a.name)) live.removeAttribute(a.name);
  }
}

/**
 * Make `live` (an element in the editor) look like `fresh` (same tag).
 * @param {Element} live
 * @param {Element} fresh
 */
export function morphElement(live, fresh) {
  patchAttributes(live, fresh);
  morphChildren(live, fresh);
}

/**
 * @param {Element} live
 * @param {Element} fresh
 */
function morphChildren(live, fresh) {
  const doc = live.ownerDocument;
  const liveKids = Array.from(live.childNodes).filter((n) => !isInternal(n));
  const freshKids = Array.from(fresh.childNodes);
  const max = Math.min(liveKids.length, freshKids.length);
  let a = 0;
  while (a < max && key(liveKids[a]) === key(freshKids[a])) a++;
  let s = 0;
  while (s < max - a && key(liveKids[liveKids.length - 1 - s]) === key(freshKids[freshKids.length - 1 - s])) s++;
  /** @type {[ChildNode, ChildNode][]} */
  const pairs = [];
  for (let i = 0; i < a; i++) pairs.push([liveKids[i], freshKids[i]]);
  for (let i = 0; i < s; i++) pairs.push([liveKids[liveKids.length - 1 - i], freshKids[freshKids.length - 1 - i]]);
  // the middle: pair equal kinds in order, remove the rest, insert what is new
  const liveMid = liveKids.slice(a, liveKids.length - s);
  const freshMid = freshKids.slice(a, freshKids.length - s);
  let li = 0;
  /** @type {Map<Node, Node | null>} */
  const placed = new Map(); // fresh node -> live node that stands for it
  for (const [l, f] of pairs) placed.set(f, l);
  for (const f of freshMid) {
    let found = -1;
    for (let k = li; k < liveMid.length; k++) {
      if (key(liveMid[k]) === key(f)) {
        found = k;
        break;
      }
    }
    if (found >= 0) {
      for (let k = li; k < found; k++) liveMid[k].remove();
      placed.set(f, liveMid[found]);
      li = found + 1;
    } else placed.set(f, null);
  }
  for (let k = li; k < liveMid.length; k++) liveMid[k].remove();
  // now walk fresh children in order, morphing kept nodes and inserting new ones
  /** @type {Node | null} */
  let cursor = null; // the live node after which the next one goes
  for (const f of freshKids) {
    let l = placed.get(f);
    if (l) {
      // a pair has one key: the same node type (and tag)
      if (l.nodeType === TEXT) patchText(/** @type {Text} */ (l), /** @type {Text} */ (f));
      else if (l.nodeType === ELEMENT) morphElement(/** @type {Element} */ (l), /** @type {Element} */ (f));
      else {
        const lc = /** @type {CharacterData} */ (l);
        const fc = /** @type {CharacterData} */ (f);
        if (lc.data !== fc.data) lc.data = fc.data;
      }
    } else {
      l = doc.importNode(f, true);
      const ref = cursor ? nextContentSibling(cursor) : firstContentChild(live);
      live.insertBefore(l, ref);
    }
    cursor = l;
  }
}

/** @param {Node} parent */
function firstContentChild(parent) {
  let n = parent.firstChild;
  while (n && isInternal(n)) n = n.nextSibling;
  return n;
}

/** @param {Node} node */
function nextContentSibling(node) {
  let n = node.nextSibling;
  while (n && isInternal(n)) n = n.nextSibling;
  return n;
}

/**
 * Replace `liveNodes` (consecutive children of `parent`) with the shape of `freshNodes`:
 * a single element of the same tag is morphed in place; anything else is replaced.
 * Returns the live nodes that now stand for `freshNodes`.
 * @param {Element} parent
 * @param {Node[]} liveNodes
 * @param {Node[]} freshNodes
 * @returns {Node[]}
 */
export function morphNodes(parent, liveNodes, freshNodes) {
  const doc = parent.ownerDocument;
  if (liveNodes.length === 1 && freshNodes.length === 1 && liveNodes[0].nodeType === ELEMENT && liveNodes[0].nodeName === freshNodes[0].nodeName) {
    morphElement(/** @type {Element} */ (liveNodes[0]), /** @type {Element} */ (freshNodes[0]));
    return [liveNodes[0]];
  }
  const ref = liveNodes.length ? liveNodes[liveNodes.length - 1].nextSibling : null;
  const out = freshNodes.map((f) => (f.ownerDocument === doc ? f : doc.importNode(f, true)));
  for (const n of out) parent.insertBefore(n, ref);
  for (const n of liveNodes) if (n.parentNode === parent) parent.removeChild(n);
  return out;
}
