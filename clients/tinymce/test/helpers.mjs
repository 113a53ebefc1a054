// Test helpers: a DOM (jsdom) and small Yjs utilities.
import assert from 'node:assert/strict';
import { JSDOM } from 'jsdom';
import * as Y from 'yjs';

export function makeDom(html = '') {
  const dom = new JSDOM(`<!DOCTYPE html><html><body>${html}</body></html>`);
  return { window: dom.window, document: dom.window.document, body: dom.window.document.body };
}

export function newDoc() {
  const doc = new Y.Doc();
  return { doc, fragment: doc.getXmlFragment('content') };
}

/**
 * Connect two docs both ways (synchronously), like a relay.
 * @param {Y.Doc} a
 * @param {Y.Doc} b
 */
export function link(a, b) {
  a.on('update', (/** @type {Uint8Array} */ u, /** @type {unknown} */ origin) => { if (origin !== 'relay') Y.applyUpdate(b, u, 'relay'); });
  b.on('update', (/** @type {Uint8Array} */ u, /** @type {unknown} */ origin) => { if (origin !== 'relay') Y.applyUpdate(a, u, 'relay'); });
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a), 'relay');
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b), 'relay');
}

/**
 * `node` as a Text node; fails the test when it is not one.
 * @param {Node | null | undefined} node
 * @returns {Text}
 */
export function textNode(node) {
  assert.ok(node && node.nodeType === 3, `expected a text node, not ${node && node.nodeName}`);
  return /** @type {Text} */ (node);
}

/**
 * `node` as an element; fails the test when it is not one.
 * @param {Node | null | undefined} node
 * @returns {HTMLElement}
 */
export function elementNode(node) {
  assert.ok(node && node.nodeType === 1, `expected an element, not ${node && node.nodeName}`);
  return /** @type {HTMLElement} */ (node);
}
