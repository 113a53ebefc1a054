// versions.js: the restore diff touches only the blocks that differ, in one transaction,
// with checked content; the canonical HTML of a version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { makeDom } from './helpers.mjs';
import { htmlToModel } from '../src/content/parse.js';
import { insertItems } from '../src/content/ydoc.js';
import { docHtml, morphFragment, RESTORE_ORIGIN } from '../src/versions.js';

const { document } = makeDom();

/** @param {string} html */
function docOf(html) {
  const doc = new Y.Doc();
  insertItems(doc.getXmlFragment('content'), 0, htmlToModel(html, document).blocks);
  return doc;
}

test('morphFragment replaces only the differing middle blocks', () => {
  const live = docOf('<p>one</p><p>two</p><p>three</p><h1>end</h1>');
  const target = docOf('<p>one</p><p>TWO</p><p>2b</p><h1>end</h1>');
  const fragment = live.getXmlFragment('content');
  const first = fragment.get(0);
  const last = fragment.get(3);
  /** @type {unknown[]} */
  const origins = [];
  live.on('afterTransaction', (tr) => origins.push(tr.origin));
  assert.equal(morphFragment(fragment, target.getXmlFragment('content')), 2);
  assert.equal(docHtml(live), docHtml(target));
  assert.equal(fragment.get(0), first); // the common prefix and suffix keep their identity
  assert.equal(fragment.get(3), last);
  assert.deepEqual(origins, [RESTORE_ORIGIN]); // one transaction
  assert.equal(morphFragment(fragment, target.getXmlFragment('content')), 0);
  assert.equal(morphFragment(fragment, new Y.Doc().getXmlFragment('content')), 4);
  assert.equal(docHtml(live), '');
});

test('a version\'s content is checked before it reaches the live document', () => {
  const target = new Y.Doc();
  const el = new Y.XmlElement('p');
  el.setAttribute('onclick', 'alert(1)');
  el.insert(0, [new Y.XmlText('hi')]);
  target.getXmlFragment('content').insert(0, [el]);
  const live = docOf('<p>x</p>');
  morphFragment(live.getXmlFragment('content'), target.getXmlFragment('content'));
  assert.equal(docHtml(live), '<p>hi</p>');
  assert.equal(live.getXmlFragment('content').get(0).getAttribute('onclick'), undefined);
});
