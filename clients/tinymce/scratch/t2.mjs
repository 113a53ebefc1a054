import * as Y from 'yjs';
import { makeDom, newDoc, link } from '../test/helpers.mjs';
import { Binding } from '../src/binding.js';
import { readFragment, writeFragment } from '../src/content/ydoc.js';
import { modelToHtml } from '../src/content/html.js';
import { htmlToModel } from '../src/content/parse.js';

const LOCAL = { local: true };
function client(doc) {
  const { window, document, body } = makeDom('');
  const fragment = doc.getXmlFragment('content');
  const b = new Binding(body, fragment, { origin: LOCAL });
  b.renderAll(); b.observe();
  return { window, document, body, fragment, b };
}
const A = new Y.Doc(), B = new Y.Doc();
const { blocks } = htmlToModel('<p>Hello world</p><p>a&nbsp; b</p>', makeDom('').document);
writeFragment(A.getXmlFragment('content'), blocks);
link(A, B);
const ca = client(A), cb = client(B);
console.log('A body', ca.body.innerHTML); console.log('B body', cb.body.innerHTML);
// type in A
const t = ca.body.firstChild.firstChild; t.insertData(5, ',');
const sel = ca.window.getSelection(); sel.setBaseAndExtent(t, 6, t, 6);
console.log('A sync wrote', ca.b.sync(), ca.b.stats);
console.log('B body', cb.body.innerHTML, cb.b.stats);
console.log('doc', modelToHtml(readFragment(B.getXmlFragment('content'))));
// B syncs with no change
console.log('B sync wrote', cb.b.sync(), 'A sync again', ca.b.sync());
// Enter in B: split paragraph
const p = cb.body.firstChild; const p2 = cb.document.createElement('p'); p2.textContent = ' world'.replace(' ', '\u00a0'); p.firstChild.data = 'Hello,'; p.after(p2);
console.log('B sync wrote', cb.b.sync());
console.log('A body', ca.body.innerHTML);
console.log('doc', modelToHtml(readFragment(A.getXmlFragment('content'))));
console.log(ca.b.stats, cb.b.stats);
