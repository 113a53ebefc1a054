// The content model (src/content/*) against tests/vectors/content.json and its properties:
// what is rendered reads back as it was, Yjs holds the model exactly, DOMPurify keeps it.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as Y from 'yjs';
import { makeDom } from './helpers.mjs';
import { buildYjs, serialize, vectors } from './make-content-vectors.mjs';
import { htmlToModel } from '../src/content/parse.js';
import { modelToHtml } from '../src/content/html.js';
import { insertItems, readFragment } from '../src/content/ydoc.js';
import { sameBlocks } from '../src/content/model.js';
import { displayText, modelText } from '../src/content/whitespace.js';
import { makePurifier } from '../src/content/purify.js';
import { cleanAttributes, cleanUrl } from '../src/content/sanitize.js';
import { randomModel, rng } from './random-content.mjs';

const VECTORS = new URL('../../../tests/vectors/content.json', import.meta.url);
const { window, document } = makeDom();
const purify = makePurifier(window);

/** @param {import('../src/content/model.js').Block[]} blocks */
function viaYjs(blocks) {
  const doc = new Y.Doc();
  const fragment = doc.getXmlFragment('content');
  doc.transact(() => insertItems(fragment, 0, blocks));
  return readFragment(fragment);
}

describe('vectors', () => {
  test('tests/vectors/content.json is what the implementation gives', () => {
    assert.equal(readFileSync(VECTORS, 'utf8'), serialize(vectors()), 'run: node test/make-content-vectors.mjs');
  });

  const file = JSON.parse(readFileSync(VECTORS, 'utf8'));
  for (const c of file.html) {
    test(`html: ${c.name} — canonical output parses back to the same model, Yjs keeps it, DOMPurify keeps it`, () => {
      const again = htmlToModel(c.canonical, document);
      assert.deepEqual(again.blocks, c.model);
      assert.deepEqual(again.notes, [], 'canonical HTML needs no repair');
      assert.ok(sameBlocks(viaYjs(c.model), c.model), 'Yjs round trip');
      assert.equal(purify(c.canonical), c.canonical, 'DOMPurify changes nothing');
    });
  }
  for (const c of file.yjs) {
    test(`yjs: ${c.name} — the document reads as a clean model`, () => {
      const doc = new Y.Doc();
      const fragment = doc.getXmlFragment('content');
      doc.transact(() => buildYjs(fragment, c.yjs));
      assert.equal(modelToHtml(readFragment(fragment)), c.canonical);
      assert.equal(purify(c.canonical), c.canonical, 'DOMPurify changes nothing');
    });
  }
});

describe('whitespace rule', () => {
  test('reading what was rendered gives the model back (canonical models)', () => {
    const next = rng(7);
    const alphabet = ['a', 'b', ' ', ' ', '\u00a0', '\n', '\ufffc'];
    for (let i = 0; i < 3000; i++) {
      let s = '';
      const n = Math.floor(next() * 12);
      for (let k = 0; k < n; k++) s += alphabet[Math.floor(next() * alphabet.length)];
      const canonical = modelText(displayText(s)); // any text, made canonical
      assert.equal(modelText(displayText(canonical)), canonical, JSON.stringify(s));
      assert.equal(displayText(canonical).length, canonical.length);
    }
  });

  test('a space after a real non-breaking space is a space on both sides', () => {
    // the bug of the first binding: "&nbsp; " displayed and read differently
    assert.equal(displayText('a\u00a0 b'), 'a\u00a0 b');
    assert.equal(modelText('a\u00a0 b'), 'a  b');
    assert.equal(displayText('a  b'), 'a \u00a0b');
    assert.equal(modelText('a \u00a0b'), 'a  b');
  });
});

describe('properties over random content', () => {
  test('parse(render(model)) is the model; Yjs holds it exactly', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const model = randomModel(seed);
      const html = modelToHtml(model);
      const parsed = htmlToModel(html, document);
      assert.deepEqual(parsed.notes, [], `seed ${seed}: ${html}`);
      assert.ok(sameBlocks(parsed.blocks, model), `seed ${seed}: ${html}\n${modelToHtml(parsed.blocks)}`);
      assert.ok(sameBlocks(viaYjs(model), model), `seed ${seed}: Yjs`);
    }
  });
});

describe('names that are Object.prototype keys', () => {
  // A collaborator may name a Yjs element or format anything; the schema's lookup tables are
  // objects, whose inherited keys (constructor, __proto__...) are not names of the schema:
  // such a name is read as any unknown one (here "foo").
  const NAMES = ['constructor', '__proto__', 'hasownproperty', 'tostring', 'valueof', 'isprototypeof'];
  /** @typedef {import('./make-content-vectors.mjs').CaseItem} CaseItem */
  /**
   * @param {(name: string) => CaseItem[]} content
   * @param {string} name
   */
  const yjsHtml = (content, name) => {
    const doc = new Y.Doc();
    const fragment = doc.getXmlFragment('content');
    doc.transact(() => buildYjs(fragment, content(name)));
    return modelToHtml(readFragment(fragment));
  };

  test('an element named after one is unwrapped like any unknown element (Yjs)', () => {
    /**
     * @param {string} name
     * @returns {CaseItem[]}
     */
    const content = (name) => [
      { el: 'p', children: [{ el: name, children: [{ text: [['x']] }] }] },
      { el: name, children: [{ el: name, children: [{ text: [['y']] }] }] },
      { el: 'ul', children: [{ el: name, children: [{ el: 'li', children: [{ text: [['z']] }] }] }] },
    ];
    assert.equal(yjsHtml(content, 'foo'), '<p>x</p>\n<p>y</p>\n<ul><li>z</li></ul>');
    for (const name of NAMES) assert.equal(yjsHtml(content, name), yjsHtml(content, 'foo'), name);
  });

  test('a format named after one is ignored like any unknown format (Yjs)', () => {
    /**
     * @param {string} name
     * @returns {CaseItem[]}
     */
    const content = (name) => [{ el: 'p', children: [{ text: [['x', { [name]: true }], ['y', { [name]: { href: 'https://e.org' } }]] }] }];
    assert.equal(yjsHtml(content, 'foo'), '<p>xy</p>');
    for (const name of NAMES) assert.equal(yjsHtml(content, name), yjsHtml(content, 'foo'), name);
  });

  test('an element or attribute named after one is read like any unknown one (HTML)', () => {
    /** @param {string} name */
    const html = (name) => modelToHtml(htmlToModel(`<p ${name}="1"><${name}>x</${name}></p><ul><${name}><li>y</li></${name}></ul>`, document).blocks);
    // (an HTML tag name starts with a letter: <__proto__> is text)
    for (const name of NAMES.filter((n) => /^[a-z]/.test(n))) assert.equal(html(name), html('foo'), name);
  });
});

describe('sanitiser', () => {
  test('URL schemes, obfuscated or not', () => {
    for (const bad of ['javascript:alert(1)', ' JAVASCRIPT:alert(1)', 'java\nscript:alert(1)', 'java\u0000script:x', 'vbscript:x', 'data:text/html,x', 'blob:https://e.org/1', 'file:///etc/passwd', 'jav&#x09;ascript:x'.replace('&#x09;', '\t')]) {
      assert.equal(cleanUrl('a', 'href', bad), null, bad);
    }
    for (const good of ['https://e.org/x?a=1', '/relative', 'page.html#frag', 'mailto:a@b.c', '//cdn.e.org/x.png', '?q=1']) {
      assert.equal(cleanUrl('a', 'href', good), good, good);
    }
    assert.equal(cleanUrl('img', 'src', 'data:image/png;base64,AAAA'), 'data:image/png;base64,AAAA');
    assert.equal(cleanUrl('img', 'src', 'data:image/svg+xml;base64,AAAA'), null);
    assert.equal(cleanUrl('a', 'href', 'data:image/png;base64,AAAA'), null);
    assert.equal(cleanUrl('iframe', 'src', 'https://www.youtube.com/embed/x'), 'https://www.youtube.com/embed/x');
    assert.equal(cleanUrl('iframe', 'src', 'http://www.youtube.com/embed/x'), null);
    assert.equal(cleanUrl('iframe', 'src', 'https://www.youtube.com.evil.example/x'), null);
  });

  test('event handlers, unknown attributes and unsafe CSS are dropped', () => {
    const { attrs, dropped } = cleanAttributes('p', [
      ['onclick', 'x'], ['OnMouseOver', 'x'], ['style', 'color: red; position: fixed; background: url(x)'], ['data-ok', '1'], ['data-mce-style', 'x'], ['class', 'a  b'],
    ]);
    assert.deepEqual(attrs, { 'style:color': 'red', 'data-ok': '1', class: 'a b' });
    assert.deepEqual(dropped, ['onclick', 'onmouseover', 'style position', 'style background']);
  });
});
