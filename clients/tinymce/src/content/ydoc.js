// The content model <-> the Yjs XmlFragment "content" (docs/content-model.md §1).
//   Block -> Y.XmlElement(tag) whose attributes are the model's (HTML names, `style:PROP`)
//   Run   -> Y.XmlText: characters, "\n" for <br>, embeds, marks as formatting attributes
// Reading is defensive: a Yjs document comes from collaborators, any of whom may write any
// structure. readFragment() returns a clean model whatever the document holds; text keeps its
// length (one character for one character) so positions stay valid.

import * as Y from 'yjs';
import {
  DROP_WITH_CONTENT,
  LEGACY,
  MAX_DEPTH,
  MEDIA_CHILDREN,
  MEDIA_EMBEDS,
  SCHEMA,
  STRUCTURAL,
  STRUCTURAL_CHILDREN,
  VOID_EMBEDS,
  contained,
  isBlockTag,
  isMarkTag,
  isStructural,
  isVoidBlock,
} from './schema.js';
import { STYLE_PREFIX, checkAttrs, iframeAllowed } from './sanitize.js';
import { block, isRun, marksKey, run, vanishes } from './model.js';
import { LIST_WRAPPERS, commentOk, finishFlow, hoist, pushWrapped, withoutOwnMark } from './parse.js';

// eslint-disable-next-line no-control-regex
const BAD_TEXT = /[\u0000-\u0008\u000b\u000e-\u001f\u007f\ufeff]/g;
/** @typedef {import('./model.js').Attrs} Attrs */
/** @typedef {import('./model.js').Marks} Marks */
/** @typedef {import('./model.js').Embed} Embed */
/** @typedef {import('./model.js').Seg} Seg */
/** @typedef {import('./model.js').Run} Run */
/** @typedef {import('./model.js').Block} Block */
/** @typedef {import('./model.js').Item} Item */
/** @typedef {Y.XmlElement | Y.XmlText | Y.XmlHook} YNode a child of a Y.XmlFragment or Y.XmlElement */
/** @typedef {Y.XmlFragment | Y.XmlElement} YParent */

const LEGACY_BLOCK_STYLES = new Set(LEGACY.block_styles);
const BARE_MARKS = new Set(['span', 'font', 'a']); // no mark without attributes

// -- writing ------------------------------------------------------------------------------------

/**
 * Formatting attributes for inserting a segment: exactly its marks.
 * @param {Marks | null | undefined} marks
 * @returns {Marks}
 */
export const markAttrs = (marks) => ({ ...(marks || {}) });

/**
 * Write segments into a Y.XmlText at `at`.
 * @param {Y.XmlText} text
 * @param {Seg[]} segs
 * @param {number} [at]
 * @returns {number} the index after them
 */
export function writeRun(text, segs, at = 0) {
  let index = at;
  for (const s of segs) {
    if (s.embed !== undefined) {
      text.insertEmbed(index, s.embed, markAttrs(s.marks));
      index += 1;
    } else if (s.text) {
      text.insert(index, s.text, markAttrs(s.marks));
      index += s.text.length;
    }
  }
  return index;
}

/**
 * @param {Item} item
 * @param {[Y.XmlText, Seg[]][]} pending texts to fill once inserted
 * @returns {Y.XmlText | Y.XmlElement}
 */
function makeType(item, pending) {
  if (isRun(item)) {
    const t = new Y.XmlText();
    pending.push([t, item.run]);
    return t;
  }
  const el = new Y.XmlElement(item.tag);
  for (const key of Object.keys(item.attrs).sort()) el.setAttribute(key, item.attrs[key]);
  const kids = item.children.map((c) => makeType(c, pending));
  if (kids.length) el.insert(0, kids);
  return el;
}

/**
 * Insert model items (blocks or runs) into a Yjs parent at `index` (inside a transaction).
 * @param {YParent} parent
 * @param {number} index
 * @param {Item[]} items
 * @returns {(Y.XmlText | Y.XmlElement)[]}
 */
export function insertItems(parent, index, items) {
  /** @type {[Y.XmlText, Seg[]][]} */
  const pending = [];
  const types = items.map((item) => makeType(item, pending));
  parent.insert(index, types);
  // Formatting attributes need an integrated type: fill the texts after insertion.
  for (const [t, segs] of pending) writeRun(t, segs);
  return types;
}

// -- reading ------------------------------------------------------------------------------------

/**
 * A legacy formatting attribute as [mark tag, value], or null.
 * @param {string} name
 * @param {unknown} value
 * @returns {[string, unknown] | null}
 */
function legacyMark(name, value) {
  if (name === LEGACY.link_mark) {
    const v = typeof value === 'string' ? { href: value } : value;
    return ['a', v];
  }
  const def = LEGACY.marks[name];
  if (!def) return null;
  return [def[0], def[1] === null ? true : def[1]];
}

/**
 * Clean marks from Yjs formatting attributes (legacy names mapped, unknown ignored).
 * @param {Record<string, unknown> | null | undefined} attributes
 * @returns {Marks}
 */
export function readMarks(attributes) {
  /** @type {Marks} */
  const marks = {};
  if (!attributes) return marks;
  // names of the first model version first, so that a current name on the same text wins
  // (key order in Yjs depends on who wrote what, and differs between implementations)
  const names = Object.keys(attributes).sort((a, b) => Number(isMarkTag(a)) - Number(isMarkTag(b)) || (a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    let tag = name;
    let value = attributes[name];
    if (value === null || value === undefined || value === false) continue;
    if (!isMarkTag(tag)) {
      const legacy = legacyMark(name, value);
      if (!legacy) continue;
      [tag, value] = legacy;
    }
    if (value === true) {
      if (!BARE_MARKS.has(tag)) marks[tag] = marks[tag] === undefined ? true : marks[tag];
      continue;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) continue;
    const clean = checkAttrs(tag, value);
    if (!Object.keys(clean).length) {
      if (!BARE_MARKS.has(tag) && marks[tag] === undefined) marks[tag] = true;
      continue;
    }
    const prev = marks[tag];
    marks[tag] = prev && prev !== true ? { ...prev, ...clean } : clean;
  }
  return marks;
}

/**
 * A clean embed from a Yjs embed value, or null.
 * @param {unknown} input
 * @param {number} [depth]
 * @returns {Embed | null}
 */
export function readEmbed(input, depth = 0) {
  if (!input || typeof input !== 'object' || Array.isArray(input)) return null;
  const value = /** @type {Record<string, any>} */ (input); // untrusted: every field is checked
  if (typeof value.comment === 'string') return commentOk(value.comment) ? { comment: value.comment } : null;
  if (value.img && typeof value.img === 'object' && value.tag === undefined) return readEmbed({ tag: LEGACY.image_embed, attrs: value.img }, depth);
  const tag = typeof value.tag === 'string' ? value.tag.toLowerCase() : '';
  const allowed = VOID_EMBEDS.has(tag) || MEDIA_EMBEDS.has(tag) || isMarkTag(tag) || (depth > 0 && (MEDIA_CHILDREN.has(tag) || tag === 'br'));
  if (!allowed || DROP_WITH_CONTENT.has(tag) || depth > SCHEMA.embed_max_depth) return null;
  const attrs = checkAttrs(tag, value.attrs);
  if (tag === 'img' && !attrs.src) return null;
  if (tag === 'iframe' && !iframeAllowed(attrs)) return null;
  /** @type {Embed} */
  const out = { tag, attrs };
  if (VOID_EMBEDS.has(tag) || tag === 'br' || tag === 'iframe' || MEDIA_CHILDREN.has(tag)) return out;
  /** @type {(string | Embed)[]} */
  const children = [];
  if (Array.isArray(value.children)) {
    for (const c of value.children) {
      if (typeof c === 'string') {
        const text = c.replace(BAD_TEXT, '');
        if (!text) continue;
        const last = children[children.length - 1];
        if (typeof last === 'string') children[children.length - 1] = last + text;
        else children.push(text);
      } else {
        if (MEDIA_EMBEDS.has(tag) && !(c && typeof c.tag === 'string' && MEDIA_CHILDREN.has(c.tag.toLowerCase()))) continue;
        const sub = readEmbed(c, depth + 1);
        if (sub && sub.comment === undefined) children.push(sub);
      }
    }
  }
  if (!children.length && isMarkTag(tag) && !Object.keys(attrs).length) return null;
  if (children.length) out.children = children;
  return out;
}

/**
 * The segments of a Y.XmlText (text one character for one character).
 * @param {Y.XmlText} ytext
 * @param {boolean} pre
 * @returns {Run}
 */
export function readText(ytext, pre) {
  /** @type {Seg[]} */
  const segs = [];
  for (const d of ytext.toDelta()) {
    const marks = readMarks(d.attributes);
    if (typeof d.insert === 'string') {
      let text = d.insert.replace(BAD_TEXT, '\ufffd');
      if (!pre) text = text.replace(/[\t\r\f]/g, ' ');
      if (!text) continue;
      const last = segs[segs.length - 1];
      if (last && last.text !== undefined && marksKey(last.marks) === marksKey(marks)) last.text += text;
      else segs.push({ text, marks });
    } else {
      // An embed we cannot show still takes its place (one unit), as a replacement character.
      const embed = d.insert instanceof Y.AbstractType ? null : readEmbed(d.insert);
      if (embed) segs.push({ embed, marks: withoutOwnMark(marks, embed) });
      else {
        const last = segs[segs.length - 1];
        if (last && last.text !== undefined && marksKey(last.marks) === marksKey(marks)) last.text += '\ufffd';
        else segs.push({ text: '\ufffd', marks });
      }
    }
  }
  return run(segs);
}

/**
 * @param {Y.XmlElement} el
 * @param {string} tag
 * @returns {Attrs}
 */
function blockAttrs(el, tag) {
  /** @type {Record<string, unknown>} */
  const raw = el.getAttributes();
  /** @type {Record<string, string>} */
  const obj = {};
  for (const [k, v] of Object.entries(raw)) {
    let key = k;
    let value = v;
    if (typeof value === 'number' && Number.isFinite(value)) value = String(Math.trunc(value));
    if (typeof value !== 'string') continue;
    if (LEGACY_BLOCK_STYLES.has(k)) key = STYLE_PREFIX + k;
    else if (k === 'width' && tag === 'table' && LEGACY.table_width_style && raw[STYLE_PREFIX + 'width'] === undefined && /[a-z%]$/i.test(value)) key = STYLE_PREFIX + 'width';
    if (key !== k && raw[key] !== undefined) continue; // the new name wins over the legacy one
    obj[key] = value;
  }
  return checkAttrs(tag, obj);
}

/**
 * Children of a Yjs parent as model items, in a flow context.
 * @param {YParent} parent
 * @param {boolean} pre
 * @param {string | null} parentTag
 * @param {number} depth
 * @returns {Item[]}
 */
function readFlowChildren(parent, pre, parentTag, depth) {
  /** @type {Item[]} */
  const items = [];
  /** @type {WeakSet<Block>} */
  const wrappers = new WeakSet();
  for (const child of parent.toArray()) {
    if (child instanceof Y.XmlText) {
      const r = readText(child, pre);
      items.push(r);
    } else if (child instanceof Y.XmlElement) {
      const tag = String(child.nodeName || '').toLowerCase();
      const stray = LIST_WRAPPERS[tag] && !contained(parentTag, tag) && depth + 1 <= MAX_DEPTH;
      for (const b of readElement(child, pre, parentTag, depth + 1)) {
        if (stray && !isRun(b) && b.tag === tag) pushWrapped(items, b, wrappers);
        else items.push(b);
      }
    }
  }
  return items;
}

/**
 * The texts under `el` in document order, without recursion (past MAX_DEPTH).
 * @param {Y.XmlElement} el
 * @param {boolean} pre
 * @returns {Run[]}
 */
function readFlat(el, pre) {
  /** @type {Run[]} */
  const items = [];
  /** @type {YNode[]} */
  const stack = [el];
  for (let node = stack.pop(); node; node = stack.pop()) {
    if (node instanceof Y.XmlText) items.push(readText(node, pre));
    else if (node instanceof Y.XmlElement && !DROP_WITH_CONTENT.has(String(node.nodeName || '').toLowerCase())) {
      stack.push(...node.toArray().reverse());
    }
  }
  return items.filter((x) => !isRun(x) || x.run.length);
}

/**
 * A Yjs element as model blocks (usually one; unknown wrappers, and table parts outside a
 * table, give their children — as an HTML parser would).
 * @param {Y.XmlElement} el
 * @param {boolean} [pre]
 * @param {string | null} [parentTag]
 * @param {number} [depth]
 * @returns {Item[]} blocks, or also runs when `el` is not a block here
 */
export function readElement(el, pre = false, parentTag = null, depth = 1) {
  const tag = String(el.nodeName || '').toLowerCase();
  if (DROP_WITH_CONTENT.has(tag)) return [];
  if (depth > MAX_DEPTH) return readFlat(el, pre);
  if (!isBlockTag(tag) || (!contained(parentTag, tag) && !LIST_WRAPPERS[tag])) {
    // Not a block here: keep what it holds (as the parser unwraps unknown elements).
    return readFlowChildren(el, pre, parentTag, depth).filter((x) => !isRun(x) || x.run.length);
  }
  const attrs = blockAttrs(el, tag);
  if (isVoidBlock(tag)) return [block(tag, attrs, [])];
  if (isStructural(tag)) {
    const allowed = STRUCTURAL_CHILDREN[tag];
    /** @type {Block[]} */
    const kids = [];
    /** @type {Item[]} */
    let stray = [];
    const wrap = () => {
      const meaningful = stray.filter((x) => !isRun(x) || x.run.length);
      if (meaningful.length && tag !== 'colgroup') {
        const def = STRUCTURAL[tag];
        kids.push(isStructural(def) ? block(def, {}, wrapStructural(def, meaningful)) : block(def, {}, finishFlow(mergeRuns(meaningful), pre)));
      }
      stray = [];
    };
    for (const item of readFlowChildren(el, pre, tag, depth)) {
      if (!isRun(item) && allowed.has(item.tag)) {
        wrap();
        kids.push(item);
      } else stray.push(item);
    }
    wrap();
    const b = block(tag, attrs, kids);
    return vanishes(b) ? [] : [b]; // an empty list or table (left by concurrent edits): nothing
  }
  const innerPre = pre || tag === 'pre';
  return hoist(block(tag, attrs, finishFlow(mergeRuns(readFlowChildren(el, innerPre, tag, depth)), innerPre))).filter((b) => !vanishes(b));
}

/**
 * @param {string} tag a structural block
 * @param {Item[]} items
 * @returns {Block[]}
 */
function wrapStructural(tag, items) {
  const allowed = STRUCTURAL_CHILDREN[tag];
  /** @type {Block[]} */
  const out = [];
  /** @type {Item[]} */
  let stray = [];
  const wrap = () => {
    if (stray.length) {
      const def = STRUCTURAL[tag];
      out.push(isStructural(def) ? block(def, {}, wrapStructural(def, stray)) : block(def, {}, finishFlow(mergeRuns(stray), false)));
    }
    stray = [];
  };
  for (const item of items) {
    if (!isRun(item) && allowed.has(item.tag)) {
      wrap();
      out.push(item);
    } else stray.push(item);
  }
  wrap();
  return out;
}

/**
 * Adjacent runs merge; empty runs next to blocks go.
 * @param {Item[]} items
 * @returns {Item[]}
 */
function mergeRuns(items) {
  /** @type {Item[]} */
  const out = [];
  for (const item of items) {
    const last = out[out.length - 1];
    if (isRun(item) && last && isRun(last)) {
      const segs = [...last.run];
      for (const s of item.run) {
        const l = segs[segs.length - 1];
        if (s.text !== undefined && l && l.text !== undefined && marksKey(l.marks) === marksKey(s.marks)) segs[segs.length - 1] = { text: l.text + s.text, marks: l.marks };
        else segs.push(s);
      }
      out[out.length - 1] = run(segs);
    } else out.push(item);
  }
  if (out.length > 1) return out.filter((x) => !isRun(x) || x.run.length);
  return out;
}

/**
 * One top-level Yjs node as model blocks (a bare top-level text is a paragraph).
 * @param {YNode} node
 * @returns {Block[]}
 */
export function readTopNode(node) {
  if (node instanceof Y.XmlText) {
    const r = readText(node, false);
    return [block('p', {}, finishFlow(r.run.length ? [r] : [], false))];
  }
  if (node instanceof Y.XmlElement) {
    const tag = String(node.nodeName || '').toLowerCase();
    const items = readElement(node, false);
    /** @type {Block[]} */
    const out = [];
    /** @type {WeakSet<Block>} */
    const wrappers = new WeakSet();
    for (const item of items) {
      if (isRun(item)) {
        if (item.run.length) out.push(block('p', {}, finishFlow([item], false)));
      } else if (LIST_WRAPPERS[item.tag] && item.tag === tag) pushWrapped(out, item, wrappers);
      else out.push(item);
    }
    return out;
  }
  return [];
}

/**
 * The whole fragment as clean model blocks.
 * @param {Y.XmlFragment} fragment
 * @returns {Block[]}
 */
export function readFragment(fragment) {
  /** @type {Block[]} */
  const out = [];
  for (const node of fragment.toArray()) for (const b of readTopNode(node)) out.push(b);
  return out;
}

/**
 * Replace the fragment's content with blocks (one transaction).
 * @param {Y.XmlFragment} fragment
 * @param {Item[]} blocks
 * @param {unknown} [origin]
 */
export function writeFragment(fragment, blocks, origin = null) {
  const apply = () => {
    if (fragment.length) fragment.delete(0, fragment.length);
    insertItems(fragment, 0, blocks);
  };
  if (fragment.doc) fragment.doc.transact(apply, origin);
  else apply();
}

/**
 * Do the Yjs types map one for one onto the model items (an XmlText for each run, an
 * XmlElement of the same tag for each block, all the way down)? Then an edit can address
 * Yjs children by the model's indexes. A document another client wrote in another shape
 * (merged runs, unwrapped or misplaced elements) does not, and is rewritten whole.
 * @param {YNode[]} types
 * @param {Item[]} items
 * @returns {boolean}
 */
export function sameShape(types, items) {
  if (types.length !== items.length) return false;
  for (let i = 0; i < types.length; i++) {
    const t = types[i];
    const item = items[i];
    if (isRun(item)) {
      if (!(t instanceof Y.XmlText)) return false;
      continue;
    }
    if (!(t instanceof Y.XmlElement) || String(t.nodeName || '').toLowerCase() !== item.tag) return false;
    if (!sameShape(t.toArray(), item.children)) return false;
  }
  return true;
}

/**
 * The Yjs elements among `types` (and below them) that read as nothing — an empty list that
 * concurrent edits left, an element no client keeps — provided that without them the types
 * have the shape of `items` (see sameShape); else null. Deleting them changes no model, and
 * lets an edit address the rest by index instead of rewriting the block. An entry
 * `{fill: element}` is a flow block left with no child (its model holds one empty run): it
 * needs an empty Y.XmlText.
 * @param {any[]} types
 * @param {any[]} items
 * @param {boolean} [pre]
 * @param {string | null} [parentTag]
 * @param {number} [depth]
 * @param {any[]} [out]
 * @param {Y.XmlElement | null} [parent]
 * @returns {any[] | null}
 */
export function vanishedTypes(types, items, pre = false, parentTag = null, depth = 1, out = [], parent = null) {
  let j = 0;
  for (const t of types) {
    if (t instanceof Y.XmlElement && !readElement(t, pre, /** @type {any} */ (parentTag), depth).length) {
      out.push(t);
      continue;
    }
    const item = items[j++];
    if (item === undefined) return null;
    if (isRun(item)) {
      if (!(t instanceof Y.XmlText)) return null;
      continue;
    }
    if (!(t instanceof Y.XmlElement) || String(t.nodeName || '').toLowerCase() !== item.tag) return null;
    if (!vanishedTypes(t.toArray(), item.children, pre || item.tag === 'pre', item.tag, depth + 1, out, t)) return null;
  }
  if (j === 0 && parent && items.length === 1 && isRun(items[0]) && !items[0].run.length) {
    out.push({ fill: parent }); // <td><ul></ul></td> reads as an empty cell
    return out;
  }
  return j === items.length ? out : null;
}
