import { JSDOM } from 'jsdom';
import * as Y from 'yjs';
import { htmlToModel } from '/work/wt-9/clients/tinymce/src/content/parse.js';
import { modelToHtml } from '/work/wt-9/clients/tinymce/src/content/html.js';
import { insertItems, readFragment } from '/work/wt-9/clients/tinymce/src/content/ydoc.js';
import { sameBlocks } from '/work/wt-9/clients/tinymce/src/content/model.js';
const doc = new JSDOM('<!doctype html><body></body>').window.document;
const cases = [
 '<p>Hello <strong>world</strong></p>',
 '<p>a&nbsp; b&nbsp;&nbsp;c <time datetime="2020-01-01">x</time> <mark>m</mark> <small>s</small> <abbr title="t">a</abbr></p><dl><dt>t</dt><dd>d</dd></dl><section><p>s</p></section><ol reversed="" type="a"><li>x</li></ol>',
 '<p><span style="color: #e03e2d; font-size: 18pt;">abc</span> <img src="x.png" onerror="alert(1)"><script>alert(1)</script></p>',
 '<table style="border-collapse: collapse; width: 100%;" border="1"><colgroup><col style="width: 50%;"><col style="width: 50%;"></colgroup><tbody><tr><td style="background-color: red; vertical-align: top;">a</td><td>b</td></tr></tbody></table>',
 '<details class="mce-accordion" open="open"><summary>T</summary><p>Body</p></details>',
 '<p>a<!-- pagebreak -->b <a id="anc"></a><span class="mce-nbsp-wrap" contenteditable="false">&nbsp;</span></p>',
 '<pre class="language-javascript"><code>var a = 1;\n  if (a) {}</code></pre>',
 '<p><iframe src="https://www.youtube.com/embed/x" width="560" height="314" allowfullscreen="allowfullscreen"></iframe><iframe src="https://evil.com/x"></iframe></p>',
 '<p><video controls="controls" width="300"><source src="a.mp4" type="video/mp4"></video></p>',
 '<figure class="image"><img src="y.png" alt="c"><figcaption>Cap</figcaption></figure>',
 '<p><a href="javascript:alert(1)">x</a><a href="https://e.org" target="_blank" rel="noopener">y</a></p>',
 '<p>&nbsp;</p><p></p><p> a  b </p><ul><li>one<ul><li>two</li></ul></li></ul>',
 '<p dir="rtl" style="padding-right: 40px; line-height: 1.5;" lang="ar">x</p><div contenteditable="false" data-id="7">y</div>',
];
for (const html of cases) {
  const { blocks, notes } = htmlToModel(html, doc);
  const out = modelToHtml(blocks);
  const again = htmlToModel(out, doc).blocks;
  const ydoc = new Y.Doc(); const frag = ydoc.getXmlFragment('content');
  ydoc.transact(() => insertItems(frag, 0, blocks));
  const fromY = readFragment(frag);
  console.log(out);
  if (notes.length) console.log('   notes:', notes);
  if (!sameBlocks(blocks, again)) console.log('   !! reparse differs', JSON.stringify(again));
  if (!sameBlocks(blocks, fromY)) console.log('   !! Y differs', JSON.stringify(fromY), JSON.stringify(blocks));
}
