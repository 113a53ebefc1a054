import { makeDom } from '../test/helpers.mjs';
import { makePurifier } from '../src/content/purify.js';
import { htmlToModel } from '../src/content/parse.js';
import { modelToHtml } from '../src/content/html.js';
const { window, document } = makeDom('');
const purify = makePurifier(window);
const cases = ['<p>a<!-- pagebreak -->b <a id="anc"></a><span class="mce-nbsp-wrap" contenteditable="false">&nbsp;</span></p>',
'<p><iframe allowfullscreen="" height="314" sandbox="allow-scripts allow-same-origin allow-popups allow-presentation" src="https://www.youtube.com/embed/x" width="560"></iframe></p>',
'<p><video controls="" width="300"><source src="a.mp4" type="video/mp4"></video></p>',
'<p><img src="data:image/png;base64,iVBORw0KGgo=" alt="x"> <a href="mailto:a@b.c">m</a></p>',
'<table border="1" style="border-collapse: collapse; width: 100%;"><colgroup><col style="width: 50%;"><col style="width: 50%;"></colgroup><tbody><tr><td style="background-color: red; vertical-align: top;">a</td><td>b</td></tr></tbody></table>',
'<details class="mce-accordion" open=""><summary>T</summary><p>Body</p></details>',
'<p><img src=x onerror=alert(1)><a href="javascript:alert(1)">x</a><svg><script>alert(1)</script></svg></p>'];
for (const c of cases) { const m = modelToHtml(htmlToModel(c, document).blocks); const p = purify(m); console.log(p === m ? 'SAME ' : 'DIFF ', m, p === m ? '' : '\n     ' + p); }
