// The one whitespace rule (docs/content-model.md §4), shared by the parser, the renderer and
// the binding, and by the Python twin (tandem.client.content.whitespace).
//
// Model text is what the user sees. Outside <pre>, HTML collapses ASCII whitespace, so a space
// that would collapse — first or last of a run, after a space or a line break, before a line
// break — is rendered as U+00A0; reading turns a U+00A0 in such a place back into a space, and
// so it does with a U+00A0 next to another space or U+00A0 (browsers type "a&nbsp; b" for two
// spaces: they are spaces). A U+00A0 between two other characters ("10&nbsp;km") stays.
// Both are one character for one character, so positions never shift, and reading what was
// rendered gives the model back.

export const NBSP = '\u00a0';
export const OBJECT = '\ufffc'; // stands for an embed in flat text

/**
 * Would a space at `i` collapse, given the (model) character before it and the one after?
 * @param {string | undefined} prev
 * @param {string | undefined} next
 * @param {number} i
 * @param {number} n the text's length
 */
export function collapsible(prev, next, i, n) {
  return i === 0 || i === n - 1 || prev === ' ' || prev === '\n' || next === '\n';
}

/**
 * Model text -> displayed text (spaces that HTML would collapse become U+00A0).
 * @param {string} flat
 */
export function displayText(flat) {
  const n = flat.length;
  let out = '';
  for (let i = 0; i < n; i++) {
    const ch = flat[i];
    out += ch === ' ' && collapsible(flat[i - 1], flat[i + 1], i, n) ? NBSP : ch;
  }
  return out;
}

/** @param {string | undefined} c */
const isSpace = (c) => c === ' ' || c === NBSP;

/**
 * Displayed text -> model text: a U+00A0 where a space would collapse, or next to another
 * space, is a space.
 * @param {string} flat
 */
export function modelText(flat) {
  const n = flat.length;
  let out = '';
  for (let i = 0; i < n; i++) {
    const ch = flat[i];
    const space = ch === NBSP && (collapsible(out[i - 1], flat[i + 1], i, n) || isSpace(out[i - 1]) || isSpace(flat[i + 1]));
    out += space ? ' ' : ch;
  }
  return out;
}

const ASCII_WS = /[\t\n\f\r ]+/g;

/**
 * HTML source text outside <pre>: every run of ASCII whitespace is one space.
 * @param {string} text
 */
export const collapseSource = (text) => text.replace(ASCII_WS, ' ');
