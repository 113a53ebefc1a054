// Reading and rendering blocks through TinyMCE itself, so that whatever TinyMCE and its
// plugins show in the editing DOM (media previews, page-break images, highlighted code
// samples, accordion wrappers, non-editable islands…) is read as the content it stands for,
// and the content is shown the way TinyMCE would show it after setContent.
//
//   read:   DOM nodes -> TinyMCE's serializer (its PreProcess and serializer filters)
//           -> HTML -> the content model
//   render: model -> canonical HTML -> DOMPurify -> TinyMCE's parser (its node filters)
//           -> editing HTML -> DOM nodes

import { domToModel, htmlToModel } from './content/parse.js';
import { modelToHtml } from './content/html.js';
import { makePurifier } from './content/purify.js';
import { SCHEMA } from './content/schema.js';

/** @typedef {import('tinymce').Editor} Editor */
/** @typedef {import('tinymce').TinyMCE} TinyMCE */
/** @typedef {import('./content/model.js').Block} Block */
/** @typedef {{blocks: Block[], notes: string[], altered?: boolean}} Reading what a read gives */
/**
 * How the binding reads the editing DOM and renders blocks into it (editorIo, or binding.js's
 * plainIo in tests).
 * @typedef {object} Io
 * @property {(nodes: ArrayLike<Node> & Iterable<Node>) => Reading} read
 * @property {(blocks: Block[]) => Node[]} render
 * @property {() => void} afterRender
 */
/** @typedef {Io & {contentToModel: (html: string) => Reading}} EditorIo */

const BLOB_SRC = /(\ssrc=")(blob:[^"]+)(")/g;
// Attributes TinyMCE uses on ordinary content; any other data-mce-* marks a plugin's own
// representation (media previews, accordions…) that only its serializer filters undo.
const PLAIN_MCE = new Set(['data-mce-style', 'data-mce-href', 'data-mce-src', 'data-mce-selected', 'data-mce-bogus', 'data-mce-caret', 'data-mce-type', 'data-mce-placeholder']);
const SPECIAL_TAGS = new Set(['IFRAME', 'VIDEO', 'AUDIO', 'OBJECT', 'EMBED', 'DETAILS', 'FIGURE', 'SVG', 'MATH']);

/**
 * Does reading these nodes need TinyMCE's serializer (plugins' filters), or is it plain?
 * @param {Iterable<Node>} nodes
 */
function needsSerializer(nodes) {
  /** @param {Element} el */
  const check = (el) => {
    if (SPECIAL_TAGS.has(el.nodeName)) return true;
    for (const a of el.attributes) {
      const n = a.name;
      if (n === 'contenteditable' || (n.startsWith('data-mce-') && !PLAIN_MCE.has(n))) return true;
      if (n === 'class' && /(^|\s)(mce-|language-)/.test(a.value.replace(/(?:^|\s)mce-item-\w+(?!\S)/g, ''))) return true;
      if ((n === 'src' || n === 'data-mce-src') && a.value.startsWith('blob:')) return true;
    }
    if (el.nodeName === 'A' && (!el.hasAttribute('href') || el.hasAttribute('target'))) return true; // anchors; rel=noopener
    if (el.nodeName === 'FONT') return true; // becomes a span
    return false;
  };
  for (const node of nodes) {
    if (node.nodeType !== 1) continue;
    const element = /** @type {Element} */ (node);
    if (check(element)) return true;
    for (const el of element.getElementsByTagName('*')) if (check(el)) return true;
  }
  return false;
}

/**
 * Blob URLs of images not uploaded yet: their data: URL (what other browsers can load).
 * @param {Editor} editor
 * @param {string} html
 * @param {string[]} notes what could not be kept
 */
function blobToData(editor, html, notes) {
  // replaceBlobUris: not in TinyMCE's typings (present in the versions that upload images)
  const upload = /** @type {Editor['editorUpload'] & {replaceBlobUris?: (html: string) => string}} */ (editor.editorUpload);
  if (upload && typeof upload.replaceBlobUris === 'function') html = upload.replaceBlobUris(html);
  return html.replace(BLOB_SRC, (all, pre, uri, post) => {
    const cache = upload && upload.blobCache;
    const info = cache && cache.getByUri ? cache.getByUri(uri) : null;
    if (!info) return all;
    const data = `data:${info.blob().type};base64,${info.base64()}`;
    if (data.length > SCHEMA.data_url_max) {
      notes.push('an image too large to share before it is uploaded (set images_upload_handler)');
      return all;
    }
    return pre + data + post;
  });
}

/**
 * @param {Editor} editor
 * @param {TinyMCE | undefined} tiny the page's TinyMCE
 * @returns {EditorIo}
 */
export function editorIo(editor, tiny) {
  const doc = editor.getDoc();
  // a window has its globals (TinyMCE's typings give the editor's as a bare Window)
  const purify = makePurifier(/** @type {Window & typeof globalThis} */ (editor.getWin()));
  // code samples are highlighted by the codesample plugin on SetContent
  let needsSetContent = false;
  return {
    /** @param {ArrayLike<Node> & Iterable<Node>} nodes */
    read(nodes) {
      // ordinary content (text, formatting, lists, tables, links, images) is read directly;
      // what a plugin shows in its own way goes through TinyMCE's serializer
      if (!needsSerializer(nodes)) return domToModel(nodes, { editor: true });
      const wrap = doc.createElement('div');
      for (const n of nodes) wrap.appendChild(n.cloneNode(true));
      /** @type {string[]} */
      const notes = [];
      let html = editor.serializer.serialize(wrap, { getInner: true, format: 'html', no_events: false, rtc: true });
      if (html.includes('blob:')) html = blobToData(editor, html, notes);
      const result = htmlToModel(html, doc);
      for (const n of notes) result.notes.push(n);
      return result;
    },
    /** @param {Block[]} blocks */
    render(blocks) {
      if (!tiny) throw new Error('TinyMCE is not loaded');
      const html = purify(modelToHtml(blocks));
      if (/<pre\b[^>]*\bclass="[^"]*language-/.test(html)) needsSetContent = true;
      const ast = editor.parser.parse(html, { isRootContent: true, insert: true });
      const editingHtml = tiny.html.Serializer({ validate: false }, editor.schema).serialize(ast);
      const frag = editor.dom.createFragment(editingHtml);
      return Array.from(frag.childNodes);
    },
    /** HTML (from the integrator) -> the model, as setContent then getContent would make it. */
    /** @param {string} html */
    contentToModel(html) {
      if (!tiny) throw new Error('TinyMCE is not loaded');
      const ast = editor.parser.parse(String(html), { isRootContent: true, insert: true });
      const editingHtml = tiny.html.Serializer({ validate: false }, editor.schema).serialize(ast);
      const wrap = doc.createElement('div');
      wrap.appendChild(editor.dom.createFragment(editingHtml));
      return this.read(Array.from(wrap.childNodes));
    },
    afterRender() {
      if (!needsSetContent) return;
      needsSetContent = false;
      editor.dispatch('SetContent', { content: '', format: 'html', set: true, rtc: true, no_selection: true });
    },
  };
}

/**
 * The shared document as TinyMCE's getContent() would give it if the DOM showed it.
 * @param {Editor} editor
 * @param {Io} io
 * @param {Block[]} blocks
 */
export function sharedContent(editor, io, blocks) {
  const wrap = editor.getDoc().createElement('div');
  if (blocks.length) for (const n of io.render(blocks)) wrap.appendChild(n);
  return editor.serializer.serialize(wrap, { getInner: true, format: 'html', rtc: true });
}
