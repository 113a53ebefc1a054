// Test helpers: a DOM (jsdom) and small Yjs utilities.
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

/** Connect two docs both ways (synchronously), like a relay. */
export function link(a, b) {
  a.on('update', (u, origin) => { if (origin !== 'relay') Y.applyUpdate(b, u, 'relay'); });
  b.on('update', (u, origin) => { if (origin !== 'relay') Y.applyUpdate(a, u, 'relay'); });
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a), 'relay');
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b), 'relay');
}
