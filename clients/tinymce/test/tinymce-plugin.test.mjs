// The bundled plugin inside a real TinyMCE 8 (inline mode) on jsdom, against the in-memory server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { JSDOM } from 'jsdom';
import { FakeServer } from './fake-server.mjs';

const TINYMCE = new URL('../node_modules/tinymce/', import.meta.url);
const BUNDLE = new URL('../../../src/tandem/static/rtc/plugin.min.js', import.meta.url);
/** @param {number} ms */
const wait = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * @param {FakeServer} server
 * @param {{user: string, initial?: string, documentId?: string}} o
 */
async function makeEditor(server, { user, initial = '<p>start</p>', documentId = 'doc-x' }) {
  const dom = new JSDOM(`<!DOCTYPE html><html><body><div id="ed">${initial}</div></body></html>`, {
    url: 'https://app.example/', runScripts: 'outside-only', pretendToBeVisual: true,
  });
  const { window } = dom;
  Object.defineProperty(window, 'crypto', { value: webcrypto });
  Object.assign(window, { TextEncoder, TextDecoder });
  Object.defineProperty(window, 'isSecureContext', { value: true });
  // the fake server's sockets: the part of WebSocket the plugin uses (cast: partial on purpose)
  window.WebSocket = /** @type {any} */ (server.socketClass());
  // jsdom has no layout: just enough of these for TinyMCE (cast: they are partial on purpose)
  window.matchMedia = () => /** @type {any} */ ({ matches: false, addListener() {}, removeListener() {}, addEventListener() {}, removeEventListener() {} });
  const rect = /** @type {DOMRect} */ ({ left: 0, top: 0, right: 0, bottom: 0, width: 0, height: 0, x: 0, y: 0, toJSON() { return this; } });
  window.Range.prototype.getClientRects = () => /** @type {any} */ ([]);
  window.Range.prototype.getBoundingClientRect = () => rect;
  window.CSS = { escape: (/** @type {string} */ s) => String(s).replace(/[^a-zA-Z0-9_-]/g, (c) => '\\' + c), supports: () => false };
  window.ResizeObserver = class { observe() {} unobserve() {} disconnect() {} };
  window.eval(readFileSync(new URL('tinymce.js', TINYMCE), 'utf8'));
  for (const f of ['themes/silver/theme.js', 'models/dom/model.js', 'icons/default/icons.js']) {
    window.eval(readFileSync(new URL(f, TINYMCE), 'utf8'));
  }
  window.eval(readFileSync(BUNDLE, 'utf8'));
  /** @type {[string, ...any[]][]} what the rtc_* callbacks were called with */
  const events = [];
  const [editor] = await window.tinymce.init({
    target: window.document.getElementById('ed'),
    inline: true,
    plugins: 'rtc',
    menubar: false,
    toolbar: false,
    skin: false,
    content_css: false,
    license_key: 'gpl',
    rtc_document_id: documentId,
    rtc_server_url: 'https://tandem.example',
    rtc_token_provider: async () => ({ token: user }),
    rtc_encryption_provider: async (/** @type {{keyHint: string | null}} */ { keyHint }) => ({ key: 'k-secret', keyHint: keyHint ?? 'h1' }),
    rtc_user_details_provider: async (/** @type {{userId: string}} */ { userId }) => ({ fullName: userId.toUpperCase() }),
    rtc_client_connected: (/** @type {import('../src/options.js').ClientPayload} */ p) => events.push(['connected', p]),
    rtc_snapshot: (/** @type {{version: number, getContent: () => string}} */ s) => events.push(['snapshot', s.version, s.getContent()]),
  });
  return { window, editor, events };
}

test('two TinyMCE editors collaborate through the plugin', { skip: !existsSync(BUNDLE) && 'run npm run build first' }, async () => {
  const server = new FakeServer();
  const A = await makeEditor(server, { user: 'alice', initial: '<p>hello</p><p>second</p>' });
  const rtcA = A.editor.plugins.rtc;
  assert.ok(rtcA && typeof rtcA.getState === 'function', 'editor.plugins.rtc is the API');
  await rtcA.whenSynced();
  assert.equal(A.editor.mode.get(), 'design');
  assert.equal(rtcA.getState().synced, true);
  assert.equal(rtcA.getCanonicalContent(), '<p>hello</p>\n<p>second</p>');

  const B = await makeEditor(server, { user: 'bob', initial: '<p>ignored</p>' });
  const rtcB = B.editor.plugins.rtc;
  await rtcB.whenSynced();
  assert.equal(rtcB.getCanonicalContent(), '<p>hello</p>\n<p>second</p>');
  assert.equal(B.editor.getBody().children[0].textContent, 'hello');

  // A types into its first paragraph (DOM change, as the browser would do)
  const secondB = B.editor.getBody().children[1];
  const t = A.editor.getBody().children[0].firstChild;
  t.data = 'hello world';
  A.editor.dispatch('input', {});
  await wait(20);
  await rtcA.flush();
  for (let i = 0; i < 100 && rtcB.getCanonicalContent() !== '<p>hello world</p>\n<p>second</p>'; i++) await wait(10);
  assert.equal(rtcB.getCanonicalContent(), '<p>hello world</p>\n<p>second</p>');
  assert.equal(B.editor.getBody().children[0].textContent, 'hello world');
  assert.equal(B.editor.getBody().children[1], secondB, 'untouched block keeps its DOM node');

  // undo in A removes only A's own change
  B.editor.getBody().children[1].firstChild.data = 'second!';
  B.editor.dispatch('input', {});
  await wait(20);
  await rtcB.flush();
  for (let i = 0; i < 100 && !rtcA.getCanonicalContent().includes('second!'); i++) await wait(10);
  A.editor.execCommand('Undo');
  await wait(20);
  await rtcA.flush();
  assert.equal(rtcA.getCanonicalContent(), '<p>hello</p>\n<p>second!</p>');
  for (let i = 0; i < 100 && rtcB.getCanonicalContent() !== '<p>hello</p>\n<p>second!</p>'; i++) await wait(10);
  assert.equal(rtcB.getCanonicalContent(), '<p>hello</p>\n<p>second!</p>');

  assert.ok(A.events.some(([k, p]) => k === 'connected' && p.userId === 'bob' && p.userDetails.fullName === 'BOB'));
  assert.ok(!JSON.stringify(server.received).includes('world'));
  A.editor.remove();
  B.editor.remove();
  A.window.close();
  B.window.close();
});
