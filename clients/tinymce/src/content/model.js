// The intermediate content model shared by the parser, the renderer, the Yjs mapping and the
// binding (docs/content-model.md §2):
//   Block = { tag, attrs: {name: string}, children: (Block | Run)[] }
//   Run   = { run: Seg[] }
//   Seg   = { text: string, marks } | { embed: Embed, marks }
//   marks = { tag: true | {attr: string} }          Embed = { tag, attrs, children? } | { comment }
// Everything here is plain data: equality is structural (keys sorted where order is free).

import { SCHEMA, compareMarks, isVoidBlock } from './schema.js';

/** @typedef {Record<string, string>} Attrs an element's attributes (`style:PROP` for styles) */
/** @typedef {Record<string, true | Attrs>} Marks mark tag -> true, or the mark's attributes */
/**
 * An inline element that is one unit of a run (an image, a media element…), or a comment.
 * @typedef {{tag: string, attrs: Attrs, children?: (string | Embed)[], comment?: undefined}
 *   | {comment: string, tag?: undefined, attrs?: undefined, children?: undefined}} Embed
 */
/**
 * @typedef {{text: string, marks: Marks, embed?: undefined}
 *   | {embed: Embed, marks: Marks, text?: undefined}} Seg
 */
/** @typedef {{run: Seg[]}} Run inline content */
/** @typedef {{tag: string, attrs: Attrs, children: Item[]}} Block */
/** @typedef {Block | Run} Item */
/**
 * One unit of a run (runUnits): a character c, or an embed e (c null); k is marksKey(m).
 * @typedef {{c: string, e?: undefined, ek?: undefined, k: string, m: Marks}
 *   | {c: null, e: Embed, ek: string, k: string, m: Marks}} Unit
 */

/**
 * @param {string} tag
 * @param {Attrs} [attrs]
 * @param {Item[]} [children]
 * @returns {Block}
 */
export const block = (tag, attrs = {}, children = []) => ({ tag, attrs, children });
/**
 * @param {Seg[]} [segs]
 * @returns {Run}
 */
export const run = (segs = []) => ({ run: segs });
/**
 * @param {Item} item
 * @returns {item is Run}
 */
export const isRun = (item) => item && Array.isArray(/** @type {Run} */ (item).run);

/**
 * JSON with object keys sorted.
 * @param {unknown} value
 * @returns {string}
 */
function sortedJson(value) {
  if (Array.isArray(value)) return '[' + value.map(sortedJson).join(',') + ']';
  if (value && typeof value === 'object') {
    const obj = /** @type {Record<string, unknown>} */ (value);
    return '{' + Object.keys(obj).sort().map((k) => JSON.stringify(k) + ':' + sortedJson(obj[k])).join(',') + '}';
  }
  return JSON.stringify(value);
}
export { sortedJson };

/**
 * Canonical key of a marks object (equal marks, equal keys).
 * @param {Marks | null | undefined} marks
 */
export function marksKey(marks) {
  if (!marks) return '';
  const names = Object.keys(marks).sort(compareMarks);
  return names.map((n) => n + '=' + sortedJson(marks[n])).join(';');
}

/** @param {Embed} embed */
export const embedKey = (embed) => sortedJson(embed);

/**
 * Number of units (UTF-16 code units; an embed is one) of a run.
 * @param {Run} r
 */
export function runLength(r) {
  let n = 0;
  for (const s of r.run) n += s.embed !== undefined ? 1 : s.text.length;
  return n;
}

/**
 * The run as units: [{c: char | null, e: embed | undefined, k: marksKey, m: marks}].
 * @param {Run} r
 * @returns {Unit[]}
 */
export function runUnits(r) {
  /** @type {Unit[]} */
  const units = [];
  for (const s of r.run) {
    const k = marksKey(s.marks);
    if (s.embed !== undefined) units.push({ c: null, e: s.embed, ek: embedKey(s.embed), k, m: s.marks });
    else for (let i = 0; i < s.text.length; i++) units.push({ c: s.text[i], k, m: s.marks });
  }
  return units;
}

/**
 * Flat text of a run: characters, embeds as U+FFFC.
 * @param {Run} r
 */
export function runText(r) {
  let out = '';
  for (const s of r.run) out += s.embed !== undefined ? '\ufffc' : s.text;
  return out;
}

/**
 * Segments from units, merging neighbours with equal marks.
 * @param {Unit[]} units
 * @returns {Seg[]}
 */
export function unitsToSegs(units) {
  /** @type {Seg[]} */
  const segs = [];
  for (const u of units) {
    const last = segs[segs.length - 1];
    if (u.e !== undefined && u.c === null) segs.push({ embed: u.e, marks: u.m || {} });
    else if (last && last.text !== undefined && marksKey(last.marks) === u.k) last.text += u.c;
    else segs.push({ text: u.c, marks: u.m || {} });
  }
  return segs;
}

/**
 * A canonical string for a model item (equal items, equal signatures).
 * @param {Item} item
 * @returns {string}
 */
export function signature(item) {
  if (isRun(item)) {
    return 'r' + item.run.map((s) => (s.embed !== undefined ? 'E' + embedKey(s.embed) : 'T' + JSON.stringify(s.text)) + '@' + marksKey(s.marks)).join('');
  }
  return 'b' + item.tag + sortedJson(item.attrs) + '(' + item.children.map(signature).join(',') + ')';
}

/**
 * @param {Item} a
 * @param {Item} b
 */
export const sameItem = (a, b) => signature(a) === signature(b);
/**
 * @param {Item[]} a
 * @param {Item[]} b
 */
export const sameBlocks = (a, b) => a.length === b.length && a.every((x, i) => sameItem(x, b[i]));

/**
 * Plain JSON of a model (for vectors and debugging): runs keep their segments.
 * @param {Item[]} blocks
 * @returns {Item[]}
 */
export const toJSON = (blocks) => JSON.parse(JSON.stringify(blocks));

/**
 * Every run of a list of items, depth first (document order).
 * @param {Item[]} items
 * @param {Run[]} [out]
 * @returns {Run[]}
 */
export function runsOf(items, out = []) {
  for (const item of items) {
    if (isRun(item)) out.push(item);
    else runsOf(item.children, out);
  }
  return out;
}

// TinyMCE's parser removes a list, a table, a tbody or a blockquote that holds no content, and
// pads the blocks of PADDED (so they always hold some): the model keeps what TinyMCE keeps.
const REMOVED_WHEN_EMPTY = new Set(SCHEMA.removed_when_empty);
const PADDED = new Set(SCHEMA.padded_blocks);

/**
 * Is an item content to TinyMCE's parser (text, an embed, a padded or void block, an id)?
 * @param {Item} item
 * @returns {boolean}
 */
export function holdsContent(item) {
  if (isRun(item)) return item.run.length > 0;
  if (PADDED.has(item.tag) || isVoidBlock(item.tag)) return true;
  if (item.children.some(holdsContent)) return true;
  return item.attrs.id !== undefined && !item.children.some((c) => !isRun(c)); // <ul id="x"></ul>
}

/** A block TinyMCE's parser would remove (an empty list, table, tbody or blockquote): nothing. */
/** @param {Block} b */
export const vanishes = (b) => REMOVED_WHEN_EMPTY.has(b.tag) && !holdsContent(b);
