import * as Y from 'yjs';
import { makeDom } from '../test/helpers.mjs';
import { Binding } from '../src/binding.js';
import { htmlToModel } from '../src/content/parse.js';
import { modelToHtml } from '../src/content/html.js';
import { readFragment, writeFragment } from '../src/content/ydoc.js';
import { rng } from '../test/random-content.mjs';
const LOCAL = { local: true };
function editor(doc, html) {
  const { window, document, body } = makeDom('');
  const fragment = doc.getXmlFragment('content');
  if (html) writeFragment(fragment, htmlToModel(html, document).blocks);
  const binding = new Binding(body, fragment, { origin: LOCAL });
  binding.renderAll(); binding.observe();
  return { window, document, body, doc, fragment, binding, sel: window.getSelection() };
}
function relay(a, b) { const queue = []; a.on('update', (u, o) => o !== 'relay' && queue.push([b, u])); b.on('update', (u, o) => o !== 'relay' && queue.push([a, u]));
  return { queue, deliver(n = queue.length, before = () => {}) { for (let i = 0; i < n && queue.length; i++) { const [to, u] = queue.shift(); before(to); Y.applyUpdate(to, u, 'relay'); } } }; }
function typeAt(E, text) { const sel = E.sel; let node = sel.focusNode; let offset = sel.focusOffset;
  if (node.nodeType !== 3) { const t = E.document.createTextNode(''); node.insertBefore(t, node.childNodes[offset] || null); node = t; offset = 0; }
  node.insertData(offset, text); sel.setBaseAndExtent(node, offset + text.length, node, offset + text.length); E.binding.noteInput(); E.binding.sync(); }
const HTML = '<table><tbody><tr><td>89xnosw<ul><li><strong>usq</strong></li></ul><p>x</p></td></tr></tbody></table>';
for (let seed = 1; seed <= 200; seed++) {
  const next = rng(seed);
  const dA = new Y.Doc(), dB = new Y.Doc(); dA.clientID = 1; dB.clientID = 2;
  const net = relay(dA, dB);
  const A = editor(dA, HTML); net.deliver(); const B = editor(dB);
  for (const [E, tag] of [[A, 'em'], [B, 'strong']]) {
    const p = E.body.querySelector('td p'); const m = E.document.createElement(tag); const t = E.document.createTextNode(''); m.appendChild(t); p.insertBefore(m, p.firstChild);
    E.sel.setBaseAndExtent(t, 0, t, 0);
  }
  const pend = { A: [...'fddm jfa gdbfi'], B: [...'youo nxyonn'] };
  const sync = (to) => (to === dA ? A : B).binding.sync();
  let typed = 0;
  while (pend.A.length || pend.B.length || net.queue.length) {
    const r = next();
    if (r < 0.35 && pend.A.length) { const c = pend.A.shift(); typeAt(A, c === ' ' ? '\u00a0' : c); typed++; }
    else if (r < 0.7 && pend.B.length) { const c = pend.B.shift(); typeAt(B, c === ' ' ? '\u00a0' : c); typed++; }
    else net.deliver(1 + Math.floor(next() * 3), sync);
  }
  net.deliver(net.queue.length, sync);
  const html = modelToHtml(readFragment(A.fragment));
  const text = A.body.textContent.replace(/\u00a0/g, ' ');
  const expectLen = '89xnoswusqx'.length + typed;
  if (text.length !== expectLen || !text.includes('fddm jfa gdbfi') || !text.includes('youo nxyonn')) { console.log('seed', seed, JSON.stringify(text), html); break; }
}
console.log('done');
