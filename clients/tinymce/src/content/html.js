// The content model -> canonical HTML (docs/content-model.md §6): deterministic, the same
// string in Python (tandem.client.content.render) and here for the same model.

import { MEDIA_CHILDREN, VOID_BLOCKS, VOID_EMBEDS, compareMarks } from './schema.js';
import { STYLE_PREFIX, styleText } from './sanitize.js';
import { isRun, marksKey, sortedJson } from './model.js';
import { displayText } from './whitespace.js';

/** @typedef {import('./model.js').Attrs} Attrs */
/** @typedef {import('./model.js').Embed} Embed */
/** @typedef {import('./model.js').Run} Run */
/** @typedef {import('./model.js').Block} Block */

const VOID_TAGS = new Set([...VOID_EMBEDS, ...VOID_BLOCKS, ...MEDIA_CHILDREN, 'br']);

/** @param {string} t */
export function escapeText(t) {
  return t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\u00a0/g, '&nbsp;');
}

/** @param {string} t */
export function escapeAttr(t) {
  return t.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\u00a0/g, '&nbsp;');
}

/**
 * ` name="value"` pairs: HTML attributes by name, `style` assembled from `style:` keys.
 * @param {Attrs} attrs
 */
export function attrsHtml(attrs) {
  /** @type {[string, string][]} */
  const pairs = [];
  let hasStyle = false;
  for (const key of Object.keys(attrs)) {
    if (key.startsWith(STYLE_PREFIX)) hasStyle = true;
    else pairs.push([key, attrs[key]]);
  }
  if (hasStyle) pairs.push(['style', styleText(attrs)]);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return pairs.map(([k, v]) => ` ${k}="${escapeAttr(v)}"`).join('');
}

/**
 * HTML of an embed (an element as JSON, or a comment).
 * @param {Embed} embed
 * @returns {string}
 */
export function embedHtml(embed) {
  if (embed.comment !== undefined) return `<!--${embed.comment}-->`;
  const tag = embed.tag;
  const open = `<${tag}${attrsHtml(embed.attrs || {})}>`;
  if (VOID_TAGS.has(tag)) return open;
  const inner = (embed.children || []).map((c) => (typeof c === 'string' ? escapeText(c) : embedHtml(c))).join('');
  return `${open}${inner}</${tag}>`;
}

/**
 * Marks as [[tag, value, key]] in nesting order (outermost first).
 * @param {Record<string, any> | null | undefined} marks
 * @returns {[string, any, string][]}
 */
export function orderedMarks(marks) {
  const present = marks || {};
  return Object.keys(present)
    .sort(compareMarks)
    .map((tag) => /** @type {[string, any, string]} */ ([tag, present[tag], tag + '=' + sortedJson(present[tag])]));
}

/**
 * @param {string} tag
 * @param {true | Attrs} value
 */
function openMark(tag, value) {
  return value === true ? `<${tag}>` : `<${tag}${attrsHtml(value)}>`;
}

/**
 * HTML of a run's content (not wrapped).
 * @param {Run} r
 * @param {boolean} pre
 * @param {boolean} [first] the first child of a <pre>
 */
export function runHtml(r, pre, first = false) {
  const flat = r.run.map((s) => (s.embed !== undefined ? '\ufffc' : s.text)).join('');
  const shown = pre ? flat : displayText(flat);
  /** @type {string[]} */
  const out = [];
  /** @type {[string, any, string][]} */
  const stack = [];
  let pos = 0;
  for (const s of r.run) {
    const size = s.embed !== undefined ? 1 : s.text.length;
    if (!size) continue;
    const wanted = orderedMarks(s.marks);
    let keep = 0;
    while (keep < stack.length && keep < wanted.length && stack[keep][2] === wanted[keep][2]) keep++;
    for (const [tag] of stack.splice(keep).reverse()) out.push(`</${tag}>`);
    for (const w of wanted.slice(keep)) {
      out.push(openMark(w[0], w[1]));
      stack.push(w);
    }
    if (s.embed !== undefined) out.push(embedHtml(s.embed));
    else {
      const text = shown.slice(pos, pos + size);
      // a newline that opens a <pre> is dropped by HTML parsers (and by some serializers):
      // it is written as <br>, which reads back as the same "\n"
      if (pre && first && pos === 0 && text.startsWith('\n')) out.push('<br>' + escapeText(text.slice(1)));
      else if (pre) out.push(escapeText(text));
      else out.push(text.split('\n').map(escapeText).join('<br>'));
    }
    pos += size;
  }
  for (const [tag] of stack.reverse()) out.push(`</${tag}>`);
  return out.join('');
}

/**
 * HTML of a block.
 * @param {Block} b
 * @param {boolean} [pre]
 * @returns {string}
 */
export function blockHtml(b, pre = false) {
  const open = `<${b.tag}${attrsHtml(b.attrs)}>`;
  if (VOID_BLOCKS.has(b.tag)) return open;
  const innerPre = pre || b.tag === 'pre';
  const inner = b.children.map((c, i) => (isRun(c) ? runHtml(c, innerPre, b.tag === 'pre' && i === 0) : blockHtml(c, innerPre))).join('');
  return `${open}${inner}</${b.tag}>`;
}

/**
 * Canonical HTML of a document: top-level blocks joined by "\n".
 * @param {Block[]} blocks
 */
export function modelToHtml(blocks) {
  return blocks.map((b) => blockHtml(b)).join('\n');
}

export { marksKey };
