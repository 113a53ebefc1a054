// binding.js: minimal local diffs, in-place remote patches, selection carried across.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { makeDom, newDoc, link } from './helpers.mjs';
import { Binding } from '../src/binding.js';
import { fragmentToHtml, htmlToFragment } from '../src/content-model.js';

const LOCAL = { local: true };

function setup(html) {
  const { window, document, body } = makeDom(html);
  const { doc, fragment } = newDoc();
  const binding = new Binding(body, fragment, { origin: LOCAL });
  binding.syncFromDom();
  return { window, document, body, doc, fragment, binding };
}

function captureUpdates(doc) {
  const updates = [];
  doc.on('update', (u) => updates.push(u));
  return updates;
}

describe('local DOM -> Yjs', () => {
  test('initial sync builds the canonical structure', () => {
    const { fragment } = setup('<h2 style="text-align: center">Plan</h2><p>Read <b>now<br>please</b>.</p><p><br data-mce-bogus="1"></p>');
    assert.equal(fragmentToHtml(fragment), '<h2 style="text-align: center;">Plan</h2>\n<p>Read <strong>now<br>please</strong>.</p>\n<p></p>');
  });

  test('typing one character produces a small update touching one XmlText', () => {
    const paras = Array.from({ length: 50 }, (_, i) => `<p>paragraph number ${i} with some text</p>`).join('');
    const { body, doc, fragment, binding } = setup(paras);
    const texts = fragment.toArray().map((p) => p.get(0));
    const before = texts.map((t) => t.toString());
    const updates = captureUpdates(doc);
    const changed = new Set();
    fragment.observeDeep((events) => events.forEach((e) => changed.add(e.target)));
    const node = body.children[25].firstChild;
    node.data = node.data.slice(0, 10) + 'X' + node.data.slice(10);
    binding.syncFromDom();
    assert.equal(updates.length, 1);
    assert.ok(updates[0].length < 60, `update is ${updates[0].length} bytes`);
    assert.deepEqual([...changed], [texts[25]]);
    assert.equal(texts[25].toString(), 'paragraph Xnumber 25 with some text');
    texts.forEach((t, i) => { if (i !== 25) assert.equal(t.toString(), before[i]); });
  });

  test('bold on a word is a format, not a re-insert', () => {
    const { body, doc, fragment, binding, document } = setup('<p>hello brave world</p>');
    const t = fragment.get(0).get(0);
    const updates = captureUpdates(doc);
    const p = body.firstChild;
    p.innerHTML = 'hello <strong>brave</strong> world';
    binding.syncFromDom();
    assert.equal(fragmentToHtml(fragment), '<p>hello <strong>brave</strong> world</p>');
    assert.equal(fragment.get(0).get(0), t, 'same XmlText');
    assert.ok(updates[0].length < 80, `${updates[0].length} bytes`);
    void document;
  });

  test('Enter splits a paragraph: one text shortened, one paragraph inserted', () => {
    const { body, fragment, binding, document } = setup('<p>one</p><p>twothree</p><p>four</p>');
    const [p1, p2, p3] = fragment.toArray();
    const b = body.children[1];
    b.firstChild.data = 'two';
    const np = document.createElement('p');
    np.textContent = 'three';
    b.after(np);
    binding.syncFromDom();
    const now = fragment.toArray();
    assert.equal(now.length, 4);
    assert.equal(now[0], p1);
    assert.equal(now[1], p2);
    assert.equal(now[3], p3);
    assert.equal(fragmentToHtml(fragment), '<p>one</p>\n<p>two</p>\n<p>three</p>\n<p>four</p>');
  });

  test('a heading change replaces just that block; attributes are diffed', () => {
    const { body, fragment, binding, document } = setup('<p>a</p><p>b</p>');
    const first = fragment.get(0);
    const h = document.createElement('h1');
    h.textContent = 'b';
    body.replaceChild(h, body.children[1]);
    body.children[0].setAttribute('style', 'text-align: right;');
    binding.syncFromDom();
    assert.equal(fragment.get(0), first);
    assert.equal(fragmentToHtml(fragment), '<p style="text-align: right;">a</p>\n<h1>b</h1>');
  });

  test('unsupported content is reported', () => {
    const { body, binding } = setup('<p>a</p>');
    const reported = [];
    binding.onUnsupported = (notes) => reported.push(...notes);
    body.firstChild.innerHTML = 'a<span style="color: red">b</span>';
    binding.syncFromDom();
    assert.deepEqual(reported, ["dropped style 'color: red' on <span>"]);
  });
});

describe('remote Yjs -> DOM', () => {
  test('a remote edit patches only the changed block and keeps the caret', () => {
    const A = setup('<p>first</p><p>second</p><p>third</p>');
    const { doc: docB, fragment: fragB } = newDoc();
    link(A.doc, docB);
    const [n1, n2, n3] = Array.from(A.body.children);
    // caret in the third paragraph, after "thi"
    const sel = A.window.getSelection();
    sel.setBaseAndExtent(n3.firstChild, 3, n3.firstChild, 3);
    fragB.get(1).get(0).insert(0, 'the ');
    assert.equal(A.body.children[0], n1, 'untouched block keeps its DOM node');
    assert.equal(A.body.children[2], n3, 'untouched block keeps its DOM node');
    assert.notEqual(A.body.children[1], n2);
    assert.equal(A.body.children[1].textContent, 'the second');
    assert.equal(A.binding.stats.remotePatches, 1);
    assert.equal(sel.anchorNode, n3.firstChild);
    assert.equal(sel.anchorOffset, 3);
  });

  test('caret inside the changed block moves with the text', () => {
    const A = setup('<p>hello world</p>');
    const { doc: docB, fragment: fragB } = newDoc();
    link(A.doc, docB);
    const sel = A.window.getSelection();
    const t = A.body.firstChild.firstChild;
    sel.setBaseAndExtent(t, 6, t, 11); // "world" selected
    fragB.get(0).get(0).insert(0, '>> ');
    assert.equal(A.body.firstChild.textContent, '>> hello world');
    assert.equal(sel.toString(), 'world');
  });

  test('remote structure changes: insert and delete blocks, marks', () => {
    const A = setup('<p>a</p><p>b</p>');
    const { doc: docB, fragment: fragB } = newDoc();
    link(A.doc, docB);
    docB.transact(() => {
      fragB.delete(0, 1);
      const ul = new Y.XmlElement('ul');
      const li = new Y.XmlElement('li');
      const t = new Y.XmlText();
      li.insert(0, [t]);
      ul.insert(0, [li]);
      fragB.insert(1, [ul]);
      t.insert(0, 'item', { bold: true });
    });
    assert.equal(A.body.innerHTML, '<p>b</p><ul><li><strong>item</strong></li></ul>');
    assert.equal(fragmentToHtml(A.fragment), '<p>b</p>\n<ul><li><strong>item</strong></li></ul>');
    // a local sync afterwards changes nothing
    const updates = captureUpdates(A.doc);
    A.binding.syncFromDom();
    assert.equal(updates.length, 0);
  });

  test('empty blocks render with a bogus <br> and read back as empty', () => {
    const A = setup('<p>x</p>');
    const { doc: docB, fragment: fragB } = newDoc();
    link(A.doc, docB);
    htmlToFragment('<p></p><p>a<br></p>', fragB, A.document);
    assert.equal(A.body.innerHTML, '<p><br data-mce-bogus="1"></p><p>a<br><br data-mce-bogus="1"></p>');
    const updates = captureUpdates(A.doc);
    A.binding.syncFromDom();
    assert.equal(updates.length, 0);
  });

  test('two bound editors converge through typing on both sides', () => {
    const A = setup('<p>shared text</p>');
    const { window, body } = makeDom('');
    void window;
    const { doc: docB, fragment: fragB } = newDoc();
    link(A.doc, docB);
    const B = new Binding(body, fragB, { origin: LOCAL });
    B.renderAll();
    assert.equal(body.innerHTML, '<p>shared text</p>');
    A.body.firstChild.firstChild.data = 'shared text!';
    A.binding.syncFromDom();
    body.firstChild.firstChild.data = '>shared text!';
    B.syncFromDom();
    assert.equal(A.body.innerHTML, body.innerHTML);
    assert.equal(fragmentToHtml(A.fragment), '<p>&gt;shared text!</p>');
  });
});
