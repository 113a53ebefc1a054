// The rich-text content model (docs/content-model.md): DOM/HTML <-> the Yjs XmlFragment
// "content". The JavaScript twin of src/tandem/client/richtext.py: the same vocabulary, the
// same structure repairs, the same canonical HTML. Works on any DOM (the TinyMCE iframe, a
// DOMParser document, jsdom in tests): it only uses nodeType/nodeName/attributes/childNodes.
//
// Intermediate model (between the DOM and the Y types):
//   Block = { tag, attrs: {name: string}, children: (Block | Run)[], node? }
//   Run   = { run: true, segs: Seg[] }            Seg = { c: string | embed, m: marks, pos? }
// `pos` (only with { track: true }) lists, per UTF-16 unit of c, the DOM point it came from.

import * as Y from 'yjs';

export const ROOT_NAME = 'content';
export const MARKS = ['link', 'bold', 'italic', 'underline', 'strikethrough', 'subscript', 'superscript', 'code'];

const MARK_OPEN = {
  bold: ['strong'],
  italic: ['em'],
  underline: ['span', 'text-decoration: underline;'],
  strikethrough: ['s'],
  subscript: ['sub'],
  superscript: ['sup'],
  code: ['code'],
};
const TAG_MARKS = {
  strong: 'bold', b: 'bold', em: 'italic', i: 'italic', u: 'underline', ins: 'underline',
  s: 'strikethrough', strike: 'strikethrough', del: 'strikethrough', code: 'code',
  sub: 'subscript', sup: 'superscript',
};

const set = (s) => new Set(s.split(' '));
export const TEXT_BLOCKS = set('p h1 h2 h3 h4 h5 h6 pre caption figcaption');
export const CONTAINERS = set('blockquote li td th figure');
export const LISTS = set('ul ol');
export const TABLE_SECTIONS = set('thead tbody tfoot');
export const MODEL_TAGS = new Set([...TEXT_BLOCKS, ...CONTAINERS, ...LISTS, ...TABLE_SECTIONS, 'table', 'tr', 'hr']);

const BLOCK_UNWRAP = set(
  'div section article aside header footer main nav address center details summary dl dt dd ' +
    'form fieldset legend hgroup search menu html body',
);
const SILENT_UNWRAP = set('html body span #root');
const STRAY_TABLE_PARTS = set('tr td th thead tbody tfoot');
export const DROP_WITH_CONTENT = set(
  'script style template iframe object embed video audio canvas svg math noscript head title meta ' +
    'link base select textarea button input option source track param map area frame frameset ' +
    'noframes applet picture dialog xmp plaintext keygen datalist output progress meter',
);
const SILENT_DROP = set('head title meta link base');

// -- attribute whitelist ---------------------------------------------------------------------

const LENGTH = /^(0|\d{1,5}(\.\d{1,3})?(px|em|rem|pt|%))$/;
const INT = /^-?\d{1,9}$/;
const TOKEN = /^[A-Za-z0-9_\- ]{1,100}$/;
const ALIGN = set('left center right justify');
const LIST_STYLES = set(
  'disc circle square decimal decimal-leading-zero lower-alpha upper-alpha lower-latin ' +
    'upper-latin lower-roman upper-roman lower-greek none',
);
// Python's str.strip() / .isdigit() on the ASCII inputs that matter here.
const strip = (v) => v.replace(/^[\s\u00a0]+|[\s\u00a0]+$/g, '');
const isDigits = (v) => /^\d+$/.test(v);

const vAlign = (v) => { v = strip(v).toLowerCase(); return ALIGN.has(v) ? v : null; };
const vLength = (v) => { v = strip(v).toLowerCase(); return LENGTH.test(v) ? v : null; };
const vListStyle = (v) => { v = strip(v).toLowerCase(); return LIST_STYLES.has(v) ? v : null; };
const vCollapse = (v) => { v = strip(v).toLowerCase(); return v === 'collapse' || v === 'separate' ? v : null; };
const vSpan = (v) => {
  v = strip(v);
  if (!isDigits(v)) return null;
  const n = parseInt(v, 10);
  return n >= 1 && n <= 1000 ? String(n) : null;
};
const vInt = (v) => { v = strip(v); return INT.test(v) ? String(parseInt(v, 10)) : null; };
const vBorder = (v) => { v = strip(v); return isDigits(v) && v.length <= 3 ? String(parseInt(v, 10)) : null; };
const vDimension = (v) => { v = strip(v); return isDigits(v) && v.length <= 6 ? String(parseInt(v, 10)) : null; };
const vText = (v) => v;
const vTarget = (v) => { v = strip(v); return TOKEN.test(v) ? v : null; };

const UNSAFE_SCHEMES = set('javascript vbscript file');
const SCHEME = /^([a-z][a-z0-9+.\-]*):/;
// eslint-disable-next-line no-control-regex
const URL_NOISE = /[\x00-\x20\x7f]+/g;

const vHref = (v) => {
  v = strip(v);
  const m = SCHEME.exec(v.replace(URL_NOISE, '').toLowerCase());
  if (m && (UNSAFE_SCHEMES.has(m[1]) || m[1] === 'data')) return null;
  return v;
};
const vSrc = (v) => {
  v = strip(v);
  if (!v) return null;
  const squashed = v.replace(URL_NOISE, '').toLowerCase();
  const m = SCHEME.exec(squashed);
  if (m && UNSAFE_SCHEMES.has(m[1])) return null;
  if (m && m[1] === 'data' && !squashed.startsWith('data:image/')) return null;
  return v;
};

const BLOCK_STYLE = { 'text-align': vAlign, 'padding-left': vLength };
const CELL_STYLE = { 'text-align': vAlign };
export const ELEMENT_ATTRS = {
  ol: { start: vInt },
  td: { colspan: vSpan, rowspan: vSpan },
  th: { colspan: vSpan, rowspan: vSpan },
  table: { border: vBorder },
};
export const ELEMENT_STYLES = {
  p: BLOCK_STYLE, h1: BLOCK_STYLE, h2: BLOCK_STYLE, h3: BLOCK_STYLE, h4: BLOCK_STYLE,
  h5: BLOCK_STYLE, h6: BLOCK_STYLE, pre: BLOCK_STYLE,
  blockquote: { 'padding-left': vLength },
  li: { 'text-align': vAlign },
  td: CELL_STYLE,
  th: CELL_STYLE,
  ul: { 'list-style-type': vListStyle, 'padding-left': vLength },
  ol: { 'list-style-type': vListStyle, 'padding-left': vLength },
  table: { width: vLength, 'border-collapse': vCollapse },
};
export const LINK_ATTRS = { href: vHref, title: vText, target: vTarget, rel: vTarget };
export const IMG_ATTRS = { src: vSrc, alt: vText, width: vDimension, height: vDimension };
const SILENT_ATTR = /^(data-mce-.*|data-mce|contenteditable|spellcheck|dir|lang|id)$/;

// -- the editor's own nodes ------------------------------------------------------------------

/** TinyMCE internals that are not content: bogus nodes, bookmarks, caret containers, overlays. */
function editorNodeKind(el) {
  const bogus = el.getAttribute('data-mce-bogus');
  if (bogus === 'all') return 'skip';
  if (el.getAttribute('data-mce-type') === 'bookmark') return 'skip';
  if (el.getAttribute('data-rtc-overlay') !== null) return 'skip';
  const cls = el.getAttribute('class') || '';
  if (/\bmce-offscreen-selection\b|\bmce-visual-caret\b|\bmce-resizehandle\b/.test(cls)) return 'skip';
  if (bogus !== null) return el.nodeName.toLowerCase() === 'br' ? 'skip' : 'unwrap';
  if (el.getAttribute('data-mce-caret') !== null) return 'unwrap';
  return null;
}

const ZWNBSP = /\uFEFF/g;

// --------------------------------------------------------------------------------------------
// DOM -> model
// --------------------------------------------------------------------------------------------

const COLLAPSIBLE = /[ \t\n\f\r]+/g;

function marksEqual(a, b) {
  return marksKey(a) === marksKey(b);
}

/** A canonical string for a marks object (only valid marks, canonical order). */
export function marksKey(m) {
  if (!m) return '';
  let key = '';
  for (const name of MARKS) {
    const v = m[name];
    if (name === 'link') {
      const link = cleanLink(v);
      if (link) key += 'link' + JSON.stringify(link) + ';';
    } else if (v === true) key += name + ';';
  }
  return key;
}

/** The valid marks of an attribute object, canonical (for writing into Yjs). */
export function cleanMarks(m) {
  const out = {};
  if (!m) return out;
  for (const name of MARKS) {
    const v = m[name];
    if (name === 'link') {
      const link = cleanLink(v);
      if (link) out.link = link;
    } else if (v === true) out[name] = true;
  }
  return out;
}

function cleanLink(v) {
  if (typeof v === 'string') v = { href: v };
  const link = cleanDict(v, LINK_ATTRS);
  return 'href' in link ? link : null;
}

function cleanDict(value, spec) {
  const out = {};
  if (!value || typeof value !== 'object') return out;
  for (const key of Object.keys(spec)) {
    const raw = value[key];
    if (typeof raw === 'string') {
      const clean = spec[key](raw);
      if (clean !== null) out[key] = clean;
    }
  }
  return out;
}

class Flow {
  constructor() {
    this.items = [];
    this.current = [];
  }
  add(seg) {
    this.current.push(seg);
  }
  boundary() {
    if (this.current.length) {
      this.items.push(this.current);
      this.current = [];
    }
  }
  addBlock(block) {
    this.boundary();
    this.items.push(block);
  }
  finish() {
    this.boundary();
    return this.items;
  }
}

/** Whitespace rules and merging of equal neighbours (richtext._clean_run); may return []. */
function cleanRun(raw, pre, track) {
  const out = []; // {c, m, k, pos}
  const push = (c, m, pos) => {
    const last = out[out.length - 1];
    if (typeof c === 'string' && last && typeof last.c === 'string' && last.k === marksKey(m)) {
      last.c += c;
      if (track) last.pos.push(...pos);
    } else {
      out.push({ c, m, k: marksKey(m), pos: track ? [...pos] : undefined });
    }
  };
  const dropTrailingSpace = () => {
    for (let i = out.length - 1; i >= 0; i--) {
      const item = out[i];
      if (typeof item.c !== 'string') return;
      if (item.c === '') continue;
      if (item.c.endsWith(' ')) {
        item.c = item.c.slice(0, -1);
        if (track) item.pos.pop();
      }
      return;
    }
  };
  if (pre) {
    for (const s of raw) if (s.c !== '') push(s.c, s.m, s.pos || []);
  } else {
    let prevSpace = true;
    for (const s of raw) {
      if (typeof s.c !== 'string') {
        push(s.c, s.m, s.pos || []);
        prevSpace = false;
        continue;
      }
      let chars = '';
      const pos = [];
      for (let i = 0; i < s.c.length; i++) {
        const ch = s.c[i];
        if (ch === ' ') {
          if (prevSpace) continue;
          prevSpace = true;
        } else if (ch === '\n') {
          if (chars.endsWith(' ')) {
            chars = chars.slice(0, -1);
            if (track) pos.pop();
          } else if (!chars) dropTrailingSpace();
          prevSpace = true;
        } else prevSpace = false;
        chars += ch;
        if (track) pos.push(s.pos[i]);
      }
      if (chars) push(chars, s.m, pos);
    }
    dropTrailingSpace();
  }
  const segs = [];
  for (const item of out) {
    if (item.c === '') continue;
    const seg = { c: item.c, m: item.m };
    if (track) seg.pos = item.pos;
    segs.push(seg);
  }
  return segs;
}

function parseStyle(style) {
  const result = [];
  for (const decl of (style || '').split(';')) {
    const i = decl.indexOf(':');
    if (i < 0) continue;
    const prop = strip(decl.slice(0, i)).toLowerCase();
    const value = strip(decl.slice(i + 1));
    if (prop) result.push([prop, value]);
  }
  return result;
}

function attrsOf(el) {
  const out = [];
  for (const a of Array.from(el.attributes)) out.push([a.name.toLowerCase(), a.value]);
  return out;
}

function elementChildren(node) {
  // <template> keeps its children in .content; treat it as empty (it is dropped anyway).
  return Array.from(node.childNodes);
}

/** Converts a DOM subtree into the intermediate model, collecting notes (richtext._Converter). */
export class Converter {
  constructor({ track = false, editor = true } = {}) {
    this.notes = [];
    this.track = track;
    this.editor = editor; // skip TinyMCE's internal nodes
  }

  note(text) {
    if (!this.notes.includes(text)) this.notes.push(text);
  }

  dropAttr(name, tag) {
    if (!SILENT_ATTR.test(name)) this.note(`dropped attribute '${name}' on <${tag}>`);
  }

  blockAttrs(el, tag) {
    const allowed = ELEMENT_ATTRS[tag] || {};
    const styles = ELEMENT_STYLES[tag] || {};
    const result = {};
    const nodeTag = el.nodeName.toLowerCase();
    for (const [name, value] of attrsOf(el)) {
      if (name === 'style') {
        for (const [prop, pv] of parseStyle(value)) {
          const check = styles[prop];
          const clean = check ? check(pv) : null;
          if (clean === null) this.note(`dropped style '${prop}: ${pv}' on <${nodeTag}>`);
          else result[prop] = clean;
        }
      } else if (Object.prototype.hasOwnProperty.call(allowed, name)) {
        const clean = allowed[name](value);
        if (clean === null) this.note(`dropped invalid ${name}="${value}" on <${nodeTag}>`);
        else result[name] = clean;
      } else this.dropAttr(name, nodeTag);
    }
    return result;
  }

  /** The element's attributes that `allowed` knows and accepts, in its order; notes the rest. */
  checkedAttrs(el, tag, allowed) {
    const value = {};
    for (const [name, raw] of attrsOf(el)) {
      const check = allowed[name];
      if (!check) {
        this.dropAttr(name, tag);
        continue;
      }
      const clean = check(raw);
      if (clean === null) this.note(`dropped unsafe or invalid ${name}="${raw}" on <${tag}>`);
      else value[name] = clean;
    }
    const out = {};
    for (const key of Object.keys(allowed)) if (key in value) out[key] = value[key];
    return out;
  }

  linkValue(el) {
    const value = this.checkedAttrs(el, 'a', LINK_ATTRS);
    return 'href' in value ? value : null;
  }

  imageValue(el) {
    const value = this.checkedAttrs(el, 'img', IMG_ATTRS);
    if (!('src' in value)) {
      this.note('dropped <img> without a usable src');
      return null;
    }
    return { img: value };
  }

  spanMarks(el, marks) {
    marks = { ...marks };
    const tag = el.nodeName.toLowerCase();
    for (const [name, value] of attrsOf(el)) {
      if (name !== 'style') {
        this.dropAttr(name, tag);
        continue;
      }
      for (const [prop, pv] of parseStyle(value)) {
        const words = pv.toLowerCase().split(/\s+/).filter(Boolean);
        if ((prop === 'text-decoration' || prop === 'text-decoration-line') && words.length) {
          const known = { underline: 'underline', 'line-through': 'strikethrough' };
          for (const w of words) {
            if (known[w]) marks[known[w]] = true;
            else if (w !== 'none') this.note(`dropped style '${prop}: ${pv}' on <${tag}>`);
          }
        } else if (prop === 'font-weight' && words.length && ['bold', 'bolder', '600', '700', '800', '900'].includes(words[0])) {
          marks.bold = true;
        } else if (prop === 'font-style' && words.length && (words[0] === 'italic' || words[0] === 'oblique')) {
          marks.italic = true;
        } else if (prop === 'vertical-align' && words.length && (words[0] === 'sub' || words[0] === 'super')) {
          marks[words[0] === 'sub' ? 'subscript' : 'superscript'] = true;
        } else this.note(`dropped style '${prop}: ${pv}' on <${tag}>`);
      }
    }
    return marks;
  }

  checkNoAttrs(el) {
    const tag = el.nodeName.toLowerCase();
    for (const [name] of attrsOf(el)) this.dropAttr(name, tag);
  }

  seg(c, m, pos) {
    const s = { c, m };
    if (this.track) s.pos = pos;
    return s;
  }

  walk(children, marks, flow, pre) {
    for (const child of children) {
      if (child.nodeType === 3 || child.nodeType === 4) {
        // text (CDATA nodes only exist in XML documents; treat them as text there)
        if (child.nodeType === 4) continue;
        let data = child.data;
        let pos;
        if (this.editor && data.includes('\uFEFF')) {
          if (this.track) {
            pos = [];
            let clean = '';
            for (let i = 0; i < data.length; i++) {
              if (data[i] !== '\uFEFF') {
                clean += data[i];
                pos.push([child, i]);
              }
            }
            data = clean;
          } else data = data.replace(ZWNBSP, '');
        } else if (this.track) {
          pos = [];
          for (let i = 0; i < data.length; i++) pos.push([child, i]);
        }
        if (data === '') continue;
        // Collapse whitespace runs to one space (positions: keep the first of each run).
        let text = data;
        if (!pre) {
          if (this.track) {
            let out = '';
            const p2 = [];
            let inWs = false;
            for (let i = 0; i < data.length; i++) {
              const ch = data[i];
              if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\f' || ch === '\r') {
                if (inWs) continue;
                inWs = true;
                out += ' ';
              } else {
                inWs = false;
                out += ch;
              }
              p2.push(pos[i]);
            }
            text = out;
            pos = p2;
          } else text = data.replace(COLLAPSIBLE, ' ');
        } else if (data.includes('\r')) {
          text = data.replace(/\r\n?/g, '\n');
          if (this.track && text.length !== data.length) pos = pos.slice(0, text.length);
        }
        flow.add(this.seg(text, marks, pos));
        continue;
      }
      if (child.nodeType !== 1) continue; // comments, processing instructions
      const tag = child.nodeName.toLowerCase();
      if (this.editor) {
        const kind = editorNodeKind(child);
        if (kind === 'skip') continue;
        if (kind === 'unwrap') {
          this.walk(elementChildren(child), marks, flow, pre);
          continue;
        }
      }
      const parentPos = () => [child.parentNode, indexOf(child)];
      if (DROP_WITH_CONTENT.has(tag)) {
        if (!SILENT_DROP.has(tag)) this.note(`dropped <${tag}> element and its content`);
        continue;
      }
      if (tag === 'br') {
        flow.add(this.seg('\n', marks, this.track ? [parentPos()] : undefined));
      } else if (tag === 'img') {
        const embed = this.imageValue(child);
        if (embed) flow.add(this.seg(embed, marks, this.track ? [parentPos()] : undefined));
      } else if (TAG_MARKS[tag]) {
        this.checkNoAttrs(child);
        this.walk(elementChildren(child), { ...marks, [TAG_MARKS[tag]]: true }, flow, pre);
      } else if (tag === 'a') {
        const link = this.linkValue(child);
        this.walk(elementChildren(child), link ? { ...marks, link } : marks, flow, pre);
      } else if (tag === 'span') {
        this.walk(elementChildren(child), this.spanMarks(child, marks), flow, pre);
      } else if (MODEL_TAGS.has(tag) && !STRAY_TABLE_PARTS.has(tag)) {
        for (const block of this.block(child, marks)) flow.addBlock(block);
      } else if (STRAY_TABLE_PARTS.has(tag)) {
        this.note(`unwrapped <${tag}> outside a table (content kept)`);
        flow.boundary();
        this.walk(elementChildren(child), marks, flow, pre);
        flow.boundary();
      } else if (BLOCK_UNWRAP.has(tag)) {
        if (!SILENT_UNWRAP.has(tag)) this.note(`unwrapped <${tag}> (content kept)`);
        flow.boundary();
        this.walk(elementChildren(child), marks, flow, pre);
        flow.boundary();
      } else if (tag === 'wbr') {
        continue;
      } else {
        this.note(`unwrapped unsupported element <${tag}> (content kept)`);
        this.walk(elementChildren(child), marks, flow, pre);
      }
    }
  }

  block(el, marks) {
    const tag = el.nodeName.toLowerCase();
    if (tag === 'li') return [mk('ul', {}, [this.container(el, marks)])];
    if (CONTAINERS.has(tag)) return [this.container(el, marks)];
    if (TEXT_BLOCKS.has(tag)) return this.textBlock(el, marks);
    if (LISTS.has(tag)) return [this.listBlock(el, marks)];
    if (tag === 'table') return [this.table(el, marks)];
    if (tag === 'hr') {
      this.checkNoAttrs(el);
      return [mk('hr', {}, [], el)];
    }
    throw new Error(`unexpected block ${tag}`);
  }

  textBlock(el, marks) {
    const tag = el.nodeName.toLowerCase();
    const attrs = this.blockAttrs(el, tag);
    const pre = tag === 'pre';
    const children = elementChildren(el);
    // A DOM parser already dropped the newline right after <pre>; the DOM keeps the rest.
    const flow = new Flow();
    this.walk(children, marks, flow, pre);
    const result = [];
    let lifted = false;
    for (const item of flow.finish()) {
      if (!Array.isArray(item)) {
        lifted = true;
        result.push(item);
      } else {
        const segs = cleanRun(item, pre, this.track);
        if (segs.length) result.push(mk(tag, { ...attrs }, [run(segs)], el));
      }
    }
    if (!result.length && !lifted) result.push(mk(tag, attrs, [run([])], el));
    return result;
  }

  container(el, marks) {
    const tag = el.nodeName.toLowerCase();
    return this.containerOf(tag, this.blockAttrs(el, tag), elementChildren(el), marks, el);
  }

  listBlock(el, marks) {
    const tag = el.nodeName.toLowerCase();
    const attrs = this.blockAttrs(el, tag);
    const items = []; // {el?, children: Node[]}
    for (const child of elementChildren(el)) {
      if (child.nodeType === 1 && this.editor && editorNodeKind(child) === 'skip') continue;
      if (child.nodeType === 1 && child.nodeName.toLowerCase() === 'li') items.push({ el: child, extra: [] });
      else if (child.nodeType === 3 && !child.data.replace(COLLAPSIBLE, '').replace(ZWNBSP, '')) continue;
      else if (child.nodeType !== 1 && child.nodeType !== 3) continue;
      else if (items.length) items[items.length - 1].extra.push(child);
      else items.push({ el: null, extra: [child] });
    }
    const lis = items.map((item) => {
      if (!item.el) return this.containerOf('li', {}, item.extra, marks);
      if (!item.extra.length) return this.container(item.el, marks);
      const attrs2 = this.blockAttrs(item.el, 'li');
      return this.containerOf('li', attrs2, [...elementChildren(item.el), ...item.extra], marks, item.el);
    });
    return mk(tag, attrs, lis, el);
  }

  containerOf(tag, attrs, nodes, marks, el) {
    const flow = new Flow();
    this.walk(nodes, marks, flow, false);
    const children = [];
    for (const item of flow.finish()) {
      if (!Array.isArray(item)) children.push(item);
      else {
        const segs = cleanRun(item, false, this.track);
        if (segs.length) children.push(run(segs));
      }
    }
    const isRun = children.map((c) => !!c.run).concat([false]);
    for (let i = 0; i < children.length; i++) {
      const afterRun = i > 0 && isRun[i - 1];
      if (isRun[i] && (afterRun || isRun[i + 1])) children[i] = mk('p', {}, [children[i]]);
    }
    return mk(tag, attrs, children.length ? children : [run([])], el);
  }

  table(el, marks) {
    const attrs = this.blockAttrs(el, 'table');
    const children = [];
    let loose = [];
    const flushRows = () => {
      if (loose.length) {
        children.push(this.sectionOf('tbody', loose, marks));
        loose = [];
      }
    };
    for (const child of elementChildren(el)) {
      if (child.nodeType === 3) {
        if (child.data.replace(COLLAPSIBLE, '').replace(ZWNBSP, '')) this.note('dropped text inside <table> outside a cell');
        continue;
      }
      if (child.nodeType !== 1) continue;
      if (this.editor && editorNodeKind(child) === 'skip') continue;
      const tag = child.nodeName.toLowerCase();
      if (TABLE_SECTIONS.has(tag)) {
        flushRows();
        this.checkNoAttrs(child);
        children.push(this.sectionOf(tag, elementChildren(child), marks, child));
      } else if (tag === 'tr' || tag === 'td' || tag === 'th') {
        loose.push(child);
      } else if (tag === 'caption') {
        flushRows();
        const parts = this.textBlock(child, marks);
        const captions = parts.filter((p) => p.tag === 'caption');
        if (parts.length !== captions.slice(0, 1).length) this.note('dropped content of <caption> beyond its first line of text');
        children.push(...captions.slice(0, 1));
      } else if (tag === 'colgroup' || tag === 'col') {
        this.note(`dropped <${tag}> (column widths)`);
      } else {
        this.note(`dropped <${tag}> inside <table> outside a cell`);
      }
    }
    flushRows();
    return mk('table', attrs, children, el);
  }

  sectionOf(tag, nodes, marks, el) {
    const rows = [];
    let loose = [];
    const flushCells = () => {
      if (loose.length) {
        rows.push(this.rowOf(loose, marks));
        loose = [];
      }
    };
    for (const child of nodes) {
      const name = child.nodeType === 1 ? child.nodeName.toLowerCase() : null;
      if (child.nodeType === 1 && this.editor && editorNodeKind(child) === 'skip') continue;
      if (name === 'tr') {
        flushCells();
        this.checkNoAttrs(child);
        rows.push(this.rowOf(elementChildren(child), marks, child));
      } else if (name === 'td' || name === 'th') loose.push(child);
      else if (child.nodeType === 3 && !child.data.replace(COLLAPSIBLE, '').replace(ZWNBSP, '')) continue;
      else if (child.nodeType !== 1 && child.nodeType !== 3) continue;
      else this.note(`dropped content inside <${tag}> outside a cell`);
    }
    flushCells();
    return mk(tag, {}, rows, el);
  }

  rowOf(nodes, marks, el) {
    const cells = [];
    for (const child of nodes) {
      const name = child.nodeType === 1 ? child.nodeName.toLowerCase() : null;
      if (child.nodeType === 1 && this.editor && editorNodeKind(child) === 'skip') continue;
      if (name === 'td' || name === 'th') cells.push(this.container(child, marks));
      else if (child.nodeType === 3 && !child.data.replace(COLLAPSIBLE, '').replace(ZWNBSP, '')) continue;
      else if (child.nodeType !== 1 && child.nodeType !== 3) continue;
      else this.note('dropped content inside <tr> outside a cell');
    }
    return mk('tr', {}, cells, el);
  }

  /** Blocks of a list of top-level DOM nodes (the editor body's children). */
  document(nodes) {
    const flow = new Flow();
    this.walk(nodes, {}, flow, false);
    const blocks = [];
    for (const item of flow.finish()) {
      if (!Array.isArray(item)) blocks.push(item);
      else {
        const segs = cleanRun(item, false, this.track);
        if (segs.length) blocks.push(mk('p', {}, [run(segs)]));
      }
    }
    return blocks;
  }
}

function indexOf(node) {
  let i = 0;
  for (let n = node.previousSibling; n; n = n.previousSibling) i++;
  return i;
}

function mk(tag, attrs, children, node) {
  const b = { tag, attrs, children };
  if (node) b.node = node;
  return b;
}
function run(segs) {
  return { run: true, segs };
}

/** DOM nodes -> model blocks and notes. */
export function domToModel(nodes, options = {}) {
  const conv = new Converter(options);
  const blocks = conv.document(Array.from(nodes));
  return { blocks, notes: conv.notes };
}

/** Parse an HTML string with the given document's DOMParser (or a template element). */
export function parseHtml(html, doc) {
  html = String(html ?? '').replace(/\r\n?/g, '\n').replace(/\0/g, '');
  const win = doc.defaultView;
  if (win && win.DOMParser) {
    const parsed = new win.DOMParser().parseFromString(`<!DOCTYPE html><html><body>${html}</body></html>`, 'text/html');
    return parsed.body;
  }
  const tpl = doc.createElement('template');
  tpl.innerHTML = html;
  return tpl.content;
}

export function htmlToModel(html, doc) {
  const root = parseHtml(html, doc);
  const conv = new Converter({ editor: false });
  // Head content that the parser moved out of body is gone already (silently dropped in Python too).
  const blocks = conv.document(Array.from(root.childNodes));
  return { blocks, notes: conv.notes };
}

// --------------------------------------------------------------------------------------------
// model -> Yjs
// --------------------------------------------------------------------------------------------

/** Attributes for inserting a segment: its marks, and null for every other known mark. */
export function insertAttrs(m) {
  const attrs = {};
  for (const name of MARKS) attrs[name] = null;
  return Object.assign(attrs, cleanMarks(m));
}

export function writeRun(text, segs, at = 0) {
  let index = at;
  for (const s of segs) {
    if (typeof s.c === 'string') {
      text.insert(index, s.c, insertAttrs(s.m));
      index += s.c.length;
    } else {
      text.insertEmbed(index, s.c, insertAttrs(s.m));
      index += 1;
    }
  }
}

export function blockToY(block) {
  const el = new Y.XmlElement(block.tag);
  for (const key of Object.keys(block.attrs).sort()) el.setAttribute(key, block.attrs[key]);
  const kids = [];
  const runs = [];
  for (const child of block.children) {
    if (child.run) {
      const t = new Y.XmlText();
      kids.push(t);
      runs.push([t, child.segs]);
    } else kids.push(blockToY(child));
  }
  el.insert(0, kids);
  // Prelim XmlText content is applied when integrated; format attributes need integration,
  // so fill the texts right after insertion (see fillPending).
  el._tandemRuns = runs;
  return el;
}

/** After inserting elements made by blockToY (inside a transaction), write their texts. */
export function fillPending(el) {
  const runs = el._tandemRuns;
  if (runs) {
    delete el._tandemRuns;
    for (const [t, segs] of runs) writeRun(t, segs);
  }
  el.toArray().forEach((c) => {
    if (c instanceof Y.XmlElement) fillPending(c);
  });
}

export function insertBlocks(parent, index, blocks) {
  const els = blocks.map((b) => (b.run ? new Y.XmlText() : blockToY(b)));
  parent.insert(index, els);
  els.forEach((el, i) => {
    if (el instanceof Y.XmlElement) fillPending(el);
    else writeRun(el, blocks[i].segs);
  });
}

/** Replace the fragment's content with `html` (one transaction); returns the notes. */
export function htmlToFragment(html, fragment, doc, origin = null) {
  const { blocks, notes } = htmlToModel(html, doc);
  const run = () => {
    if (fragment.length) fragment.delete(0, fragment.length);
    insertBlocks(fragment, 0, blocks);
  };
  if (fragment.doc) fragment.doc.transact(run, origin);
  else run();
  return notes;
}

// --------------------------------------------------------------------------------------------
// Yjs -> canonical HTML (richtext.fragment_to_html)
// --------------------------------------------------------------------------------------------

function escapeText(t) {
  return t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\u00a0/g, '&nbsp;');
}
function escapeAttr(t) {
  return t
    .replace(/&/g, '&amp;')
    .replace(/"/g, '&quot;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\u00a0/g, '&nbsp;');
}

/** [[name, value]] of the valid marks in canonical order; value compared by key. */
function renderMarks(attrs) {
  const out = [];
  if (!attrs) return out;
  for (const name of MARKS) {
    const v = attrs[name];
    if (name === 'link') {
      const link = cleanLink(v);
      if (link) out.push(['link', link, 'link' + JSON.stringify(link)]);
    } else if (v === true) out.push([name, true, name]);
  }
  return out;
}

function openMarkHtml(name, value) {
  if (name === 'link') {
    return '<a' + Object.entries(value).map(([k, v]) => ` ${k}="${escapeAttr(v)}"`).join('') + '>';
  }
  const [tag, style] = MARK_OPEN[name];
  return style ? `<${tag} style="${style}">` : `<${tag}>`;
}
function closeMarkHtml(name) {
  return name === 'link' ? '</a>' : `</${MARK_OPEN[name][0]}>`;
}

function imageAttrs(value) {
  return cleanDict(value && typeof value === 'object' ? value.img : null, IMG_ATTRS);
}

function renderImageHtml(value) {
  const img = imageAttrs(value);
  if (!('src' in img)) return '';
  return '<img' + Object.entries(img).map(([k, v]) => ` ${k}="${escapeAttr(v)}"`).join('') + '>';
}

/** Which spaces of a flat string would collapse (rendered as &nbsp;). */
function collapsibleAt(flat, index) {
  return index === 0 || index === flat.length - 1 || flat[index - 1] === ' ' || flat[index - 1] === '\n' || flat[index + 1] === '\n';
}

function deltaOf(text) {
  return text.toDelta().map((d) => [d.insert, d.attributes || null]);
}

function renderInlineHtml(chunks, pre) {
  const flat = chunks.map(([c]) => (typeof c === 'string' ? c : '\ufffc')).join('');
  const out = [];
  if (pre && flat.startsWith('\n')) out.push('\n');
  const stack = [];
  let position = 0;
  for (const [content, attrs] of chunks) {
    const size = typeof content === 'string' ? content.length : 1;
    if (size === 0) continue;
    const wanted = renderMarks(attrs);
    let keep = 0;
    while (keep < stack.length && keep < wanted.length && stack[keep][2] === wanted[keep][2]) keep++;
    while (stack.length > keep) out.push(closeMarkHtml(stack.pop()[0]));
    for (const w of wanted.slice(keep)) {
      out.push(openMarkHtml(w[0], w[1]));
      stack.push(w);
    }
    if (typeof content !== 'string') out.push(renderImageHtml(content));
    else if (pre) out.push(escapeText(content));
    else {
      for (let o = 0; o < content.length; o++) {
        const ch = content[o];
        const index = position + o;
        if (ch === '\n') out.push('<br>');
        else if (ch === ' ' && collapsibleAt(flat, index)) out.push('&nbsp;');
        else out.push(escapeText(ch));
      }
    }
    position += size;
  }
  while (stack.length) out.push(closeMarkHtml(stack.pop()[0]));
  return out.join('');
}

function storedAttr(el, name) {
  let v = el.getAttribute(name);
  if (typeof v === 'number' && Number.isFinite(v)) v = String(Math.trunc(v));
  return typeof v === 'string' ? v : null;
}

/** [[name, clean value]] HTML attributes and [[prop, clean value]] styles of a Y element. */
export function elementAttrs(el, tag) {
  const attrs = [];
  const styles = [];
  for (const [name, check] of Object.entries(ELEMENT_ATTRS[tag] || {})) {
    const v = storedAttr(el, name);
    const clean = v === null ? null : check(v);
    if (clean !== null) attrs.push([name, clean]);
  }
  for (const [prop, check] of Object.entries(ELEMENT_STYLES[tag] || {})) {
    const v = el.getAttribute(prop);
    const clean = typeof v === 'string' ? check(v) : null;
    if (clean !== null) styles.push([prop, clean]);
  }
  return { attrs, styles };
}

function elementAttrsHtml(el, tag) {
  const { attrs, styles } = elementAttrs(el, tag);
  let out = attrs.map(([n, v]) => ` ${n}="${escapeAttr(v)}"`).join('');
  if (styles.length) out += ` style="${escapeAttr(styles.map(([p, v]) => `${p}: ${v};`).join(' '))}"`;
  return out;
}

function renderNodeHtml(node, pre) {
  if (node instanceof Y.XmlText) return renderInlineHtml(deltaOf(node), pre);
  if (!(node instanceof Y.XmlElement)) return '';
  const tag = (node.nodeName || '').toLowerCase();
  if (tag === 'hr') return '<hr>';
  const innerPre = pre || tag === 'pre';
  const inner = node.toArray().map((c) => renderNodeHtml(c, innerPre)).join('');
  if (!MODEL_TAGS.has(tag)) return inner;
  return `<${tag}${elementAttrsHtml(node, tag)}>${inner}</${tag}>`;
}

/** Canonical HTML of the fragment (identical to richtext.fragment_to_html). */
export function fragmentToHtml(fragment) {
  const parts = [];
  for (const node of fragment.toArray()) {
    if (node instanceof Y.XmlText) parts.push(`<p>${renderNodeHtml(node, false)}</p>`);
    else {
      const html = renderNodeHtml(node, false);
      if (html) parts.push(html);
    }
  }
  return parts.join('\n');
}

/** Canonical HTML of one top-level Y node. */
export function blockHtml(node) {
  return node instanceof Y.XmlText ? `<p>${renderNodeHtml(node, false)}</p>` : renderNodeHtml(node, false);
}

export function normalizeHtml(html, doc) {
  const ydoc = new Y.Doc();
  const frag = ydoc.getXmlFragment(ROOT_NAME);
  htmlToFragment(html, frag, doc);
  return fragmentToHtml(frag);
}

// --------------------------------------------------------------------------------------------
// Yjs -> DOM (for the live editor)
// --------------------------------------------------------------------------------------------

/**
 * Render one Y node as DOM nodes of `doc`. Returns an array (an unknown element renders its
 * children). Empty text blocks get TinyMCE's bogus <br> so they stay editable; a trailing
 * line break gets one too (otherwise the browser would not show the empty last line).
 */
export function renderDom(node, doc, pre = false) {
  if (node instanceof Y.XmlText) return renderInlineDom(deltaOf(node), doc, pre);
  if (!(node instanceof Y.XmlElement)) return [];
  const tag = (node.nodeName || '').toLowerCase();
  if (tag === 'hr') return [doc.createElement('hr')];
  const innerPre = pre || tag === 'pre';
  const kids = [];
  for (const c of node.toArray()) kids.push(...renderDom(c, doc, innerPre));
  if (!MODEL_TAGS.has(tag)) return kids;
  const el = doc.createElement(tag);
  const { attrs, styles } = elementAttrs(node, tag);
  for (const [n, v] of attrs) el.setAttribute(n, v);
  if (styles.length) {
    const style = styles.map(([p, v]) => `${p}: ${v};`).join(' ');
    el.setAttribute('style', style);
    el.setAttribute('data-mce-style', style);
  }
  for (const k of kids) el.appendChild(k);
  if (TEXT_BLOCKS.has(tag) || tag === 'li' || tag === 'td' || tag === 'th' || tag === 'blockquote' || tag === 'figure') {
    const last = lastInline(el);
    if (!hasVisibleContent(el) || (last && last.nodeName === 'BR')) {
      const br = doc.createElement('br');
      br.setAttribute('data-mce-bogus', '1');
      appendInline(el, br);
    }
  }
  return [el];
}

function hasVisibleContent(el) {
  for (let c = el.firstChild; c; c = c.nextSibling) {
    if (c.nodeType === 3 && c.data !== '') return true;
    if (c.nodeType === 1) return true;
  }
  return false;
}
function lastInline(el) {
  let n = el.lastChild;
  while (n && n.nodeType === 1 && n.lastChild && !MODEL_TAGS.has(n.nodeName.toLowerCase())) n = n.lastChild;
  return n && n.nodeType === 1 && MODEL_TAGS.has(n.nodeName.toLowerCase()) ? null : n;
}
function appendInline(el, node) {
  const last = el.lastChild;
  if (last && last.nodeType === 1 && MODEL_TAGS.has(last.nodeName.toLowerCase())) return; // ends in a block
  el.appendChild(node);
}

function renderInlineDom(chunks, doc, pre) {
  const flat = chunks.map(([c]) => (typeof c === 'string' ? c : '\ufffc')).join('');
  const frag = [];
  const stack = []; // [name, value, key, element]
  const appendTo = (node) => {
    if (stack.length) stack[stack.length - 1][3].appendChild(node);
    else frag.push(node);
  };
  let position = 0;
  for (const [content, attrs] of chunks) {
    const size = typeof content === 'string' ? content.length : 1;
    if (size === 0) continue;
    const wanted = renderMarks(attrs);
    let keep = 0;
    while (keep < stack.length && keep < wanted.length && stack[keep][2] === wanted[keep][2]) keep++;
    stack.length = keep;
    for (const w of wanted.slice(keep)) {
      let el;
      if (w[0] === 'link') {
        el = doc.createElement('a');
        for (const [k, v] of Object.entries(w[1])) el.setAttribute(k, v);
        el.setAttribute('data-mce-href', w[1].href);
      } else {
        const [tag, style] = MARK_OPEN[w[0]];
        el = doc.createElement(tag);
        if (style) {
          el.setAttribute('style', style);
          el.setAttribute('data-mce-style', style);
        }
      }
      appendTo(el);
      stack.push([w[0], w[1], w[2], el]);
    }
    if (typeof content !== 'string') {
      const img = imageAttrs(content);
      if ('src' in img) {
        const el = doc.createElement('img');
        for (const [k, v] of Object.entries(img)) el.setAttribute(k, v);
        el.setAttribute('data-mce-src', img.src);
        appendTo(el);
      }
    } else if (pre) {
      appendTo(doc.createTextNode(content));
    } else {
      let buf = '';
      for (let o = 0; o < content.length; o++) {
        const ch = content[o];
        const index = position + o;
        if (ch === '\n') {
          if (buf) appendTo(doc.createTextNode(buf));
          buf = '';
          appendTo(doc.createElement('br'));
        } else if (ch === ' ' && collapsibleAt(flat, index)) buf += '\u00a0';
        else buf += ch;
      }
      if (buf) appendTo(doc.createTextNode(buf));
    }
    position += size;
  }
  return frag;
}
