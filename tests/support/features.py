"""What TinyMCE's open-source plugins do, as JavaScript run in an editor (``ed``).

Each action starts from ``FEATURE_START`` in the shared document; the browser matrix test
(tests/browser/test_features.py) applies it in one editor while a second is open and a third
joins afterwards.
"""

from __future__ import annotations

FEATURE_START = "<p>alpha beta gamma</p><p>second line</p>"
# A 1x1 PNG, so that no image load fails in a test.
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
    "DwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

# Helpers defined in the page before each action.
PRELUDE = r"""
const body = ed.getBody();
const firstP = () => body.querySelector('p');
const selectWord = (word) => {
  const walker = ed.getDoc().createTreeWalker(body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const i = n.data.indexOf(word);
    if (i >= 0) { const r = ed.getDoc().createRange(); r.setStart(n, i); r.setEnd(n, i + word.length); ed.selection.setRng(r); return; }
  }
  throw new Error('word not found: ' + word);
};
const caretAfter = (word) => { selectWord(word); ed.selection.collapse(false); };
const selectBlock = (el) => { ed.selection.select(el, true); };
ed.focus();
"""

# name -> (plugins it exercises, JavaScript)
FEATURES: dict[str, tuple[str, str]] = {
    "bullet list": ("lists", "selectBlock(firstP()); ed.execCommand('InsertUnorderedList');"),
    "numbered list, lower alpha": (
        "advlist",
        "selectBlock(firstP()); ed.execCommand('InsertOrderedList', false, {'list-style-type': 'lower-alpha'});",
    ),
    "nested list": (
        "lists",
        "ed.setContent('<ul><li>one</li><li>two</li></ul>'); selectWord('two'); ed.execCommand('Indent');",
    ),
    "reversed list": (
        "lists",
        "caretAfter('second line'); ed.insertContent('<ol reversed=\"reversed\" type=\"a\"><li>x</li><li>y</li></ol>');",
    ),
    "link with target and class": (
        "link",
        "selectWord('beta'); ed.execCommand('mceInsertLink', false, {href: 'https://example.com/', target: '_blank', title: 'Example', class: 'btn'});",
    ),
    "autolink": (
        "autolink",
        "caretAfter('gamma'); ed.insertContent(' https://example.org/x'); ed.dispatch('keyup', {keyCode: 32});",
    ),
    "image with float and border": (
        "image",
        "caretAfter('alpha'); ed.insertContent('<img src=\""
        + PNG
        + '" alt="A" width="40" height="30" style="float: left; border: 1px solid black;">\');',
    ),
    "captioned image": (
        "image",
        "caretAfter('second line'); ed.execCommand('mceInsertContent', false, '<figure class=\"image\"><img src=\""
        + PNG
        + '" alt="B" width="50" height="50"><figcaption>Caption</figcaption></figure>\');',
    ),
    "table with widths and cell styles": (
        "table",
        "caretAfter('second line'); ed.execCommand('mceInsertTable', false, {rows: 2, columns: 2}); const td = body.querySelector('td'); ed.selection.select(td, true); ed.selection.collapse(true); ed.insertContent('cell'); ed.execCommand('mceTableApplyCellStyle', false, {'background-color': '#ff0000', 'vertical-align': 'top'});",
    ),
    "table caption and header row": (
        "table",
        "ed.setContent('<table><tbody><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></tbody></table>'); ed.selection.select(body.querySelector('td'), true); ed.execCommand('mceTableRowType', false, {type: 'header'}); ed.execCommand('mceTableToggleCaption');",
    ),
    "anchor": (
        "anchor",
        "caretAfter('alpha'); ed.execCommand('mceInsertContent', false, '<a id=\"here\"></a>');",
    ),
    "code sample": (
        "codesample",
        "caretAfter('second line'); ed.insertContent('<pre class=\"language-javascript\"><code>const x = 1;\\nif (x &lt; 2) { x++; }</code></pre>');",
    ),
    "media iframe": (
        "media",
        'caretAfter(\'gamma\'); ed.insertContent(\'<iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ" width="560" height="314" allowfullscreen="allowfullscreen"></iframe>\');',
    ),
    "media video": (
        "media",
        'caretAfter(\'gamma\'); ed.insertContent(\'<video controls="controls" preload="none" width="300" height="150"><source src="/demo/media/none.mp4" type="video/mp4"></video>\');',
    ),
    "page break": ("pagebreak", "caretAfter('second line'); ed.execCommand('mcePageBreak');"),
    "nonbreaking space": ("nonbreaking", "caretAfter('alpha'); ed.execCommand('mceNonBreaking');"),
    "accordion": (
        "accordion",
        "caretAfter('second line'); ed.execCommand('InsertAccordion', false, {title: 'More', body: 'Hidden text'});",
    ),
    "right to left": (
        "directionality",
        "selectBlock(firstP()); ed.execCommand('mceDirectionRTL');",
    ),
    "character map": (
        "charmap",
        "caretAfter('alpha'); ed.execCommand('mceInsertContent', false, '\u00a9\u2122');",
    ),
    "emoticon": ("emoticons", "caretAfter('beta'); ed.insertContent('\U0001f600');"),
    "insert date and time": (
        "insertdatetime",
        "caretAfter('gamma'); ed.execCommand('mceInsertDate'); ed.execCommand('mceInsertTime');",
    ),
    "time element": (
        "insertdatetime",
        "caretAfter('gamma'); ed.insertContent('<time datetime=\"2026-11-30\">30 November</time>');",
    ),
    "search and replace": (
        "searchreplace",
        "ed.plugins.searchreplace.find('beta'); ed.plugins.searchreplace.replace('BETA', true, true); ed.plugins.searchreplace.done(false);",
    ),
    "visual blocks": ("visualblocks", "ed.execCommand('mceVisualBlocks');"),
    "code (source) edit": (
        "code",
        "ed.setContent('<h2>Rewritten</h2><p>by the <strong>code</strong> dialog</p>');",
    ),
    "heading and blockquote": (
        "formats",
        "selectBlock(firstP()); ed.execCommand('FormatBlock', false, 'h2'); selectWord('second'); ed.execCommand('mceBlockQuote');",
    ),
    "style format with class": (
        "importcss",
        "ed.formatter.register('highlight', {inline: 'span', classes: 'highlight'}); selectWord('beta'); ed.formatter.apply('highlight'); ed.formatter.register('lead', {block: 'p', classes: 'lead'}); selectWord('second'); ed.formatter.apply('lead');",
    ),
    "text colour and highlight": (
        "textcolor",
        "selectWord('beta'); ed.execCommand('ForeColor', false, '#e03e2d'); ed.execCommand('HiliteColor', false, '#f1c40f');",
    ),
    "font family and size": (
        "fonts",
        "selectWord('gamma'); ed.execCommand('FontName', false, 'georgia,palatino,serif'); ed.execCommand('FontSize', false, '24pt');",
    ),
    "line height": (
        "lineheight",
        "selectBlock(firstP()); ed.execCommand('LineHeight', false, '2');",
    ),
    "alignment and indent": (
        "formats",
        "selectBlock(firstP()); ed.execCommand('JustifyCenter'); selectWord('second'); ed.execCommand('Indent');",
    ),
    "inline formats": (
        "formats",
        "selectWord('alpha'); ed.execCommand('Bold'); ed.execCommand('Italic'); selectWord('beta'); ed.execCommand('Underline'); ed.execCommand('Strikethrough'); selectWord('gamma'); ed.execCommand('Superscript'); selectWord('line'); ed.formatter.apply('code');",
    ),
    "semantic inline elements": (
        "formats",
        "caretAfter('second line'); ed.insertContent(' <mark>marked</mark> <small>small</small> <abbr title=\"HyperText\">HTML</abbr> <kbd>Ctrl</kbd> <q>quote</q> <cite>cite</cite>');",
    ),
    "definition list and sections": (
        "formats",
        "caretAfter('second line'); ed.insertContent('<dl><dt>term</dt><dd>definition</dd></dl><div class=\"box\"><p>in a div</p></div><section><p>in a section</p></section>');",
    ),
    "lang, id and data attributes": (
        "formats",
        'caretAfter(\'second line\'); ed.insertContent(\'<p lang="fr" id="para-1" data-note="x">bonjour</p>\');',
    ),
    "non-editable region": (
        "noneditable",
        "caretAfter('second line'); ed.insertContent('<p class=\"mceNonEditable\">locked <strong>text</strong></p><div contenteditable=\"false\">fixed</div>');",
    ),
    "clear formatting": (
        "formats",
        "selectWord('beta'); ed.execCommand('Bold'); selectBlock(firstP()); ed.execCommand('RemoveFormat');",
    ),
}
