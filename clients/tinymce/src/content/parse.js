// HTML (a DOM tree) -> the content model (docs/content-model.md §3). Never fails: what the
// model cannot keep, or must not keep, is dropped and described in `notes`. The Python twin is
// tandem.client.content.parse; tests/vectors/content.json holds cases both must agree on.

import {
  DROP_WITH_CONTENT,
  MAX_DEPTH,
  MEDIA_CHILDREN,
  MEDIA_EMBEDS,
  NONEDITABLE_CLASSES,
  SCHEMA,
  STRUCTURAL,
  STRUCTURAL_CHILDREN,
  VOID_BLOCKS,
  VOID_EMBEDS,
  contained,
  isBlockTag,
  isMarkTag,
  isStructural,
  isVoidBlock,
  nests,
  table,
} from './schema.js';
import { cleanAttributes, iframeAllowed } from './sanitize.js';
import { block, isRun, marksKey, run, vanishes } from './model.js';
import { collapseSource, modelText } from './whitespace.js';

/** @typedef {import('./model.js').Attrs} Attrs */
/** @typedef {import('./model.js').Marks} Marks */
/** @typedef {import('./model.js').Embed} Embed */
/** @typedef {import('./model.js').Seg} Seg */
/** @typedef {import('./model.js').Run} Run */
/** @typedef {import('./model.js').Block} Block */
/** @typedef {import('./model.js').Item} Item */
/** @typedef {{blocks: Block[], notes: string[], altered: boolean}} ParseResult */
/** @typedef {{c: string, e?: undefined, m: Marks} | {c: null, e: Embed, m: Marks}} RawUnit */

const ELEMENT = 1;
const TEXT = 3;
const CDATA = 4;
const COMMENT = 8;
const ZWNBSP = /\ufeff/g;
// eslint-disable-next-line no-control-regex
const TEXT_CONTROLS = /[\u0000-\u0008\u000b\u000e-\u001f\u007f]/g;
const COMMENT_OK = /^[^<>]*$/;
// a comment is kept if it cannot end early and is not a processing instruction browsers
// used to turn into one (<?xml …?>)
/** @param {string} data */
export const commentOk = (data) => COMMENT_OK.test(data) && !data.includes('--') && !data.startsWith('?') && data.length <= 1000;
const BARE_MARKS = new Set(['span', 'font', 'a']); // no mark without attributes
// a list item or a definition out of its list gets one (as TinyMCE does); other table and
// list parts out of place are dropped by HTML parsers, their content kept
export const LIST_WRAPPERS = table({ li: 'ul', dt: 'dl', dd: 'dl' });

/**
 * Put block `b` in `items`, wrapping a stray list item in a list (shared with neighbours).
 * @param {Item[]} items
 * @param {Block} b a li, dt or dd
 * @param {WeakSet<Block>} wrappers the lists made here
 */
export function pushWrapped(items, b, wrappers) {
  const wrap = /** @type {string} */ (LIST_WRAPPERS[b.tag]);
  const last = items[items.length - 1];
  if (last && !isRun(last) && wrappers.has(last) && last.tag === wrap) last.children.push(b);
  else {
    const w = block(wrap, {}, [b]);
    wrappers.add(w);
    items.push(w);
  }
}

/** @param {Node} el */
const tagOf = (el) => el.nodeName.toLowerCase();
const SHADOWED = new Set(['data-mce-style', 'data-mce-href', 'data-mce-src']);
const MCE_ITEM_CLASS = /(?:^|\s)mce-item-\w+(?!\S)/g;
/**
 * @param {Element} el
 * @returns {[string, string][]}
 */
const attrsOf = (el) => Array.from(el.attributes || [], (a) => [a.name, a.value]);

/**
 * Merge a mark into marks: nested elements of one tag combine (inner values win, classes add up).
 * @param {Marks} marks
 * @param {string} tag
 * @param {true | Attrs} value
 * @returns {Marks}
 */
export function addMark(marks, tag, value) {
  const out = { ...marks };
  const prev = out[tag];
  if (prev === undefined || prev === true) out[tag] = value;
  else if (value === true) out[tag] = prev;
  else {
    const merged = { ...prev, ...value };
    if (prev.class && value.class && prev.class !== value.class) {
      merged.class = [...new Set([...prev.class.split(' '), ...value.class.split(' ')])].join(' ');
    }
    out[tag] = merged;
  }
  return out;
}

/**
 * @param {Element} el
 * @param {string[]} classes
 */
function hasClass(el, classes) {
  const cls = (el.getAttribute && el.getAttribute('class')) || '';
  return classes.some((c) => cls.split(/\s+/).includes(c));
}

export class Parser {
  /**
   * @param {object} [o]
   * @param {boolean} [o.editor] also understand TinyMCE's editing DOM (bogus nodes, carets)
   */
  constructor({ editor = false } = {}) {
    /** @type {string[]} */
    this.notes = [];
    this.editor = editor;
    // something was kept differently from how the DOM had it (an iframe got its sandbox)
    this.altered = false;
  }

  /** @param {string} text */
  note(text) {
    if (!this.notes.includes(text)) this.notes.push(text);
  }

  /**
   * @param {string} tag
   * @param {Element} el
   * @returns {Attrs}
   */
  attrs(tag, el) {
    let raw = attrsOf(el);
    if (this.editor) {
      // TinyMCE keeps what it serializes in data-mce-style/href/src (the style as written,
      // the URL as converted); the live attribute may differ (rgb() colours)
      /** @type {Map<string, string>} */
      const shadow = new Map(raw.filter(([n]) => SHADOWED.has(n.toLowerCase())).map(([n, v]) => [n.toLowerCase().slice(9), v]));
      if (shadow.size) raw = raw.map(([n, v]) => [n, shadow.get(n.toLowerCase()) ?? v]);
      // TinyMCE's own classes (mce-item-table on a table without border…), as its serializer
      raw = raw.map(([n, v]) => /** @type {[string, string]} */ (n.toLowerCase() === 'class' ? [n, v.replace(MCE_ITEM_CLASS, '')] : [n, v])).filter(([n, v]) => n.toLowerCase() !== 'class' || v.trim());
    }
    const { attrs, dropped } = cleanAttributes(tag, raw);
    if (tag === 'iframe' && el.getAttribute('sandbox') !== attrs.sandbox) this.altered = true;
    for (const name of dropped) {
      if (name.startsWith('on')) this.note(`removed event handler '${name}' on <${tag}>`);
      else if (name.startsWith('style ')) this.note(`removed style '${name.slice(6)}' on <${tag}>`);
      else this.note(`removed attribute '${name}' on <${tag}>`);
    }
    return attrs;
  }

  /**
   * TinyMCE internals: 'skip' (not content), 'unwrap' (only its children count) or null.
   * @param {Element} el
   * @returns {'skip' | 'unwrap' | null}
   */
  internal(el) {
    if (!this.editor) return null;
    const bogus = el.getAttribute('data-mce-bogus');
    if (bogus === 'all' || el.getAttribute('data-mce-type') === 'bookmark' || el.hasAttribute('data-rtc-overlay')) return 'skip';
    if (bogus !== null) return tagOf(el) === 'br' ? 'skip' : 'unwrap';
    if (el.getAttribute('data-mce-caret') !== null || el.id === '_mce_caret') return 'unwrap';
    return null;
  }

  /**
   * Blocks of the document's top-level nodes (inline content is wrapped in <p>).
   * @param {Iterable<Node>} nodes
   * @returns {Block[]}
   */
  document(nodes) {
    const items = this.flow(nodes, {}, false, null);
    /** @type {Block[]} */
    const blocks = [];
    for (const item of items) {
      if (isRun(item)) {
        if (item.run.length) blocks.push(block('p', {}, finishFlow(dropTrailingBreak([item], false), false)));
      } else blocks.push(item);
    }
    return blocks;
  }

  /**
   * Children of a flow context (inside block `parentTag`): runs (cleaned) and blocks.
   * @param {Iterable<Node>} nodes
   * @param {Marks} marks
   * @param {boolean} pre
   * @param {string | null} parentTag
   * @returns {Item[]}
   */
  flow(nodes, marks, pre, parentTag) {
    /** @type {Item[]} */
    const items = [];
    /** @type {WeakSet<Block>} */
    const wrappers = new WeakSet();
    /** @type {Seg[]} */
    let raw = [];
    const flush = () => {
      if (raw.length) {
        const r = cleanRun(raw, pre);
        if (r.run.length) items.push(r);
        raw = [];
      }
    };
    /**
     * @param {Iterable<Node>} list
     * @param {Marks} m
     */
    const walk = (list, m) => {
      for (const child of list) {
        const type = child.nodeType;
        if (type === TEXT || type === CDATA) {
          let text = /** @type {CharacterData} */ (child).data.replace(ZWNBSP, '').replace(TEXT_CONTROLS, '');
          if (!pre) text = text.replace(/[\t\n\f\r]/g, ' ');
          if (text) raw.push({ text, marks: m });
          continue;
        }
        if (type === COMMENT) {
          const data = /** @type {Comment} */ (child).data;
          if (commentOk(data)) raw.push({ embed: { comment: data }, marks: m });
          continue;
        }
        if (type !== ELEMENT) continue;
        const node = /** @type {Element} */ (child);
        const tag = tagOf(node);
        const kind = this.internal(node);
        if (kind === 'skip') continue;
        if (kind === 'unwrap') {
          walk(node.childNodes, m);
          continue;
        }
        if (DROP_WITH_CONTENT.has(tag)) {
          this.note(`removed <${tag}>`);
          continue;
        }
        if (tag === 'br') {
          raw.push({ text: '\n', marks: m });
          continue;
        }
        if (isBlockTag(tag)) {
          const stray = !contained(parentTag, tag);
          if (stray && !LIST_WRAPPERS[tag]) {
            // a table part out of place: HTML parsers keep only its content
            walk(node.childNodes, m);
            continue;
          }
          flush();
          for (const b of hoist(this.block(node, tag, m, pre))) {
            if (vanishes(b)) continue; // an empty list, table or quote: TinyMCE drops it too
            if (stray && b.tag === tag) pushWrapped(items, b, wrappers);
            else items.push(b);
          }
          continue;
        }
        const embed = this.embedOf(node, tag);
        if (embed !== undefined) {
          if (embed) raw.push({ embed, marks: withoutOwnMark(m, embed) });
          continue;
        }
        if (isMarkTag(tag)) {
          const attrs = this.attrs(tag, node);
          if (BARE_MARKS.has(tag) && !Object.keys(attrs).length) walk(node.childNodes, m);
          else walk(node.childNodes, addMark(m, tag, Object.keys(attrs).length ? attrs : true));
          continue;
        }
        this.note(`unwrapped <${tag}>`);
        walk(node.childNodes, m);
      }
    };
    walk(nodes, marks);
    flush();
    return items;
  }

  /**
   * An inline element that is one unit of content: undefined when it is not an embed, null
   * when it is one that must be dropped, else the embed.
   * @param {Element} el
   * @param {string} tag
   * @returns {Embed | null | undefined}
   */
  embedOf(el, tag) {
    if (VOID_EMBEDS.has(tag) || MEDIA_EMBEDS.has(tag)) return this.element(el, tag, 0);
    if (!isMarkTag(tag)) return undefined; // elements outside the schema are never embeds
    const empty = !hasContent(el);
    if (!empty && (el.getAttribute('contenteditable') || '').toLowerCase() !== 'false' && !hasClass(el, NONEDITABLE_CLASSES)) return undefined;
    if (empty && !el.attributes.length) return null; // <strong></strong>: nothing
    return this.element(el, tag, 0);
  }

  /**
   * An element as embed JSON {tag, attrs, children?}; null when it must be dropped.
   * @param {Element} el
   * @param {string} tag
   * @param {number} depth
   * @returns {Embed | null}
   */
  element(el, tag, depth) {
    const attrs = this.attrs(tag, el);
    if (tag === 'img' && !attrs.src) {
      this.note('removed <img> without a usable src');
      return null;
    }
    if (tag === 'iframe' && !iframeAllowed(attrs)) {
      this.note('removed <iframe> whose src is not an allowed embed host');
      return null;
    }
    if (VOID_EMBEDS.has(tag)) return { tag, attrs };
    /** @type {(string | Embed)[]} */
    const children = [];
    if (tag !== 'iframe') {
      for (const node of el.childNodes) {
        if (node.nodeType === TEXT || node.nodeType === CDATA) {
          const text = collapseSource(/** @type {CharacterData} */ (node).data.replace(ZWNBSP, '').replace(TEXT_CONTROLS, ''));
          if (text && !(text === ' ' && MEDIA_EMBEDS.has(tag))) appendText(children, text);
          continue;
        }
        if (node.nodeType !== ELEMENT) continue;
        const child = /** @type {Element} */ (node);
        const ctag = tagOf(child);
        const kind = this.internal(child);
        if (kind === 'skip') continue;
        if (DROP_WITH_CONTENT.has(ctag)) {
          this.note(`removed <${ctag}>`);
          continue;
        }
        if (MEDIA_EMBEDS.has(tag) && !MEDIA_CHILDREN.has(ctag)) continue; // fallback content
        if (ctag === 'br') {
          children.push({ tag: 'br', attrs: {} });
          continue;
        }
        // blocks do not go inside an inline embed (a parser would move them out): text only
        const known = MEDIA_CHILDREN.has(ctag) || isMarkTag(ctag) || VOID_EMBEDS.has(ctag) || MEDIA_EMBEDS.has(ctag);
        if (kind === 'unwrap' || !known || depth >= SCHEMA.embed_max_depth) {
          const text = collapseSource((child.textContent ?? '').replace(ZWNBSP, ''));
          if (text) appendText(children, text);
          continue;
        }
        const sub = this.element(child, ctag, depth + 1);
        if (sub) children.push(sub);
      }
    }
    // an empty inline element without attributes means nothing (an id="top" refused, say)
    if (!children.length && isMarkTag(tag) && !Object.keys(attrs).length) return null;
    /** @type {Embed} */
    const out = { tag, attrs };
    if (children.length) out.children = children;
    return out;
  }

  /**
   * A block element (flow, structural or void) with its content.
   * @param {Element} el
   * @param {string} tag
   * @param {Marks} marks
   * @param {boolean} pre
   * @returns {Block}
   */
  block(el, tag, marks, pre) {
    const attrs = this.attrs(tag, el);
    if (isVoidBlock(tag)) return block(tag, attrs, []);
    if (isStructural(tag)) return block(tag, attrs, this.structural(tag, Array.from(el.childNodes), marks, pre));
    const innerPre = pre || tag === 'pre';
    return block(tag, attrs, finishFlow(dropTrailingBreak(this.flow(el.childNodes, marks, innerPre, tag), innerPre), innerPre));
  }

  /**
   * Children of a structural element: allowed children, the rest wrapped in the default child.
   * @param {string} tag
   * @param {Node[]} nodes
   * @param {Marks} marks
   * @param {boolean} pre
   * @returns {Block[]}
   */
  structural(tag, nodes, marks, pre) {
    const allowed = STRUCTURAL_CHILDREN[tag];
    /** @type {Block[]} */
    const out = [];
    /** @type {Node[]} */
    let stray = [];
    const wrap = () => {
      const meaningful = stray.some((n) => n.nodeType === ELEMENT || (n.nodeType === TEXT && /** @type {Text} */ (n).data.replace(ZWNBSP, '').trim()));
      if (meaningful) {
        const def = STRUCTURAL[tag];
        if (tag === 'colgroup') this.note('removed content inside <colgroup>');
        else if (isStructural(def)) out.push(block(def, {}, this.structural(def, stray, marks, pre)));
        else out.push(block(def, {}, finishFlow(dropTrailingBreak(this.flow(stray, marks, pre, def), pre), pre)));
      }
      stray = [];
    };
    for (const node of nodes) {
      if (node.nodeType === ELEMENT) {
        const el = /** @type {Element} */ (node);
        const ctag = tagOf(el);
        const kind = this.internal(el);
        if (kind === 'skip') continue;
        if (allowed.has(ctag)) {
          wrap();
          const b = this.block(el, ctag, marks, pre);
          if (!vanishes(b)) out.push(b);
          continue;
        }
        if (DROP_WITH_CONTENT.has(ctag)) {
          this.note(`removed <${ctag}>`);
          continue;
        }
      } else if (node.nodeType === COMMENT) continue;
      stray.push(node);
    }
    wrap();
    return out;
  }
}

/**
 * @param {(string | Embed)[]} children
 * @param {string} text
 */
function appendText(children, text) {
  const last = children[children.length - 1];
  if (typeof last === 'string') children[children.length - 1] = last + text;
  else children.push(text);
}

/**
 * Does an element hold anything (text, a comment, an element) — so that it can be a mark?
 * @param {Element} el
 */
function hasContent(el) {
  for (const c of el.childNodes) {
    if ((c.nodeType === TEXT || c.nodeType === CDATA) && /** @type {CharacterData} */ (c).data.replace(ZWNBSP, '') !== '') return true;
    if (c.nodeType === COMMENT) return true;
    if (c.nodeType === ELEMENT && !DROP_WITH_CONTENT.has(tagOf(c))) return true;
  }
  return false;
}

/**
 * A flow block's children: an empty block holds one empty run; TinyMCE's padding (a lone
 * &nbsp;, unformatted, outside <pre>) is empty.
 * @param {Item[]} items
 * @param {boolean} [pre]
 * @returns {Item[]}
 */
export function finishFlow(items, pre = false) {
  if (!items.length) return [run([])];
  const only = items[0];
  if (!pre && items.length === 1 && isRun(only) && only.run.length === 1) {
    const s = only.run[0];
    if (s.text === ' ' && !Object.keys(s.marks || {}).length) return [run([])];
  }
  return items;
}

/**
 * A line break that ends a block shows nothing (browsers draw no empty line after it), and
 * TinyMCE's serializer drops it: so does the model — one unformatted "\n" at the very end,
 * unless another one comes before it ("a<br><br>" is a line and an empty line).
 * @param {Item[]} items
 * @param {boolean} pre
 * @returns {Item[]}
 */
export function dropTrailingBreak(items, pre) {
  if (pre || !items.length) return items;
  const last = items[items.length - 1];
  if (!isRun(last) || !last.run.length) return items;
  const seg = last.run[last.run.length - 1];
  if (seg.text === undefined || !seg.text.endsWith('\n') || Object.keys(seg.marks || {}).length) return items;
  const text = seg.text;
  let before = text.length >= 2 ? text[text.length - 2] : null;
  if (before === null && last.run.length >= 2) {
    const prev = last.run[last.run.length - 2];
    before = prev.text !== undefined ? prev.text[prev.text.length - 1] : '\ufffc';
  }
  if (before === '\n') return items;
  const segs = last.run.slice(0, -1);
  if (text.length > 1) segs.push({ text: text.slice(0, -1), marks: seg.marks });
  const out = items.slice(0, -1);
  if (segs.length) out.push(run(segs));
  return out;
}

/**
 * An embed does not carry a mark of its own tag (<a id> inside a link would split it).
 * @param {Marks} marks
 * @param {Embed} embed
 * @returns {Marks}
 */
export function withoutOwnMark(marks, embed) {
  if (!embed.tag || !marks || marks[embed.tag] === undefined) return marks;
  const out = { ...marks };
  delete out[embed.tag];
  return out;
}

/**
 * A block that HTML would not let hold some of its block children (a block in a <p>, a
 * heading in a heading) gives them up: they follow it, and its runs around them stay in
 * pieces of the same block.
 * @param {Block} b
 * @returns {Block[]}
 */
export function hoist(b) {
  if (!b.children.some((c) => !isRun(c) && !nests(b.tag, c.tag))) return [b];
  /** @type {Block[]} */
  const out = [];
  /** @type {Item[]} */
  let piece = [];
  const close = () => {
    const kept = piece.filter((c) => !isRun(c) || c.run.length);
    if (kept.length) out.push(block(b.tag, { ...b.attrs }, kept));
    piece = [];
  };
  for (const c of b.children) {
    if (!isRun(c) && !nests(b.tag, c.tag)) {
      close();
      for (const h of hoist(c)) out.push(h);
    } else piece.push(c);
  }
  close();
  return out.length ? out : [block(b.tag, { ...b.attrs }, [run([])])];
}

/**
 * Past MAX_DEPTH levels, an element's content is kept flat: text, void elements, comments.
 * @param {Node} root
 */
function flattenDeep(root) {
  /**
   * @param {Node} el
   * @param {number} depth
   */
  const visit = (el, depth) => {
    for (const child of Array.from(el.childNodes)) {
      if (child.nodeType !== ELEMENT) continue;
      if (depth + 1 >= MAX_DEPTH) flatten(child);
      else visit(child, depth + 1);
    }
  };
  /** @param {Node} el */
  const flatten = (el) => {
    /** @type {Node[]} */
    const out = [];
    const stack = Array.from(el.childNodes).reverse();
    for (let n = stack.pop(); n; n = stack.pop()) {
      if (n.nodeType !== ELEMENT) {
        if (n.nodeType === TEXT || n.nodeType === COMMENT || n.nodeType === CDATA) out.push(n);
        continue;
      }
      const tag = tagOf(n);
      if (VOID_EMBEDS.has(tag) || VOID_BLOCKS.has(tag) || tag === 'br' || DROP_WITH_CONTENT.has(tag)) {
        while (n.firstChild) n.removeChild(n.firstChild);
        out.push(n);
      } else stack.push(...Array.from(n.childNodes).reverse());
    }
    while (el.firstChild) el.removeChild(el.firstChild);
    for (const n of out) el.appendChild(n);
  };
  visit(root, 0);
}

/**
 * Raw segments -> a clean run: outside <pre>, the whitespace rule of whitespace.js (spaces that
 * would collapse are dropped, U+00A0 where a space would collapse reads as a space); equal
 * neighbours merge.
 * @param {Seg[]} raw
 * @param {boolean} pre
 * @returns {Run}
 */
export function cleanRun(raw, pre) {
  /** @type {RawUnit[]} */
  let units = [];
  for (const s of raw) {
    if (s.embed !== undefined) units.push({ c: null, e: s.embed, m: s.marks });
    else for (const ch of s.text) for (let i = 0; i < ch.length; i++) units.push({ c: ch[i], m: s.marks });
  }
  if (!pre) {
    /** @type {RawUnit[]} */
    const kept = [];
    for (let i = 0; i < units.length; i++) {
      const u = units[i];
      if (u.c === ' ') {
        const prev = kept.length ? kept[kept.length - 1].c : null;
        if (!kept.length || prev === ' ' || prev === '\n') continue;
      } else if (u.c === '\n') {
        while (kept.length && kept[kept.length - 1].c === ' ') kept.pop();
      }
      kept.push(u);
    }
    while (kept.length && kept[kept.length - 1].c === ' ') kept.pop();
    const flat = kept.map((u) => (u.c === null ? '\ufffc' : u.c)).join('');
    const read = modelText(flat);
    units = kept.map((u, i) => (u.c === null ? u : { ...u, c: read[i] }));
  }
  /** @type {Seg[]} */
  const segs = [];
  for (const u of units) {
    const last = segs[segs.length - 1];
    const k = marksKey(u.m);
    if (u.c === null) segs.push({ embed: u.e, marks: u.m });
    else if (last && last.text !== undefined && marksKey(last.marks) === k) last.text += u.c;
    else segs.push({ text: u.c, marks: u.m });
  }
  return run(segs);
}

/**
 * Parse HTML with the given document's DOMParser (or a template element).
 * @param {unknown} html
 * @param {Document} doc
 * @returns {HTMLElement | DocumentFragment}
 */
export function parseHtmlDom(html, doc) {
  const text = String(html ?? '').replace(/\r\n?/g, '\n').replace(/\0/g, '');
  const win = doc.defaultView;
  if (win && win.DOMParser) {
    return new win.DOMParser().parseFromString(`<!DOCTYPE html><html><body>${text}</body></html>`, 'text/html').body;
  }
  const tpl = doc.createElement('template');
  tpl.innerHTML = text;
  return tpl.content;
}

/**
 * HTML -> {blocks, notes}.
 * @param {unknown} html
 * @param {Document} doc
 * @returns {ParseResult}
 */
export function htmlToModel(html, doc) {
  const root = parseHtmlDom(html, doc);
  flattenDeep(root);
  const parser = new Parser();
  const blocks = parser.document(Array.from(root.childNodes));
  return { blocks, notes: parser.notes, altered: parser.altered };
}

/**
 * DOM nodes -> {blocks, notes} (editor: also skip TinyMCE's internal nodes).
 * @param {Iterable<Node> | ArrayLike<Node>} nodes
 * @param {{editor?: boolean}} [o]
 * @returns {ParseResult}
 */
export function domToModel(nodes, { editor = false } = {}) {
  const parser = new Parser({ editor });
  const blocks = parser.document(Array.from(nodes));
  return { blocks, notes: parser.notes, altered: parser.altered };
}
