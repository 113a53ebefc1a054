// Caret positions between the DOM and the model when they hold different numbers of runs
// (fuzz seeds 12009 and 12015: a caret at the end of a table cell jumped to another cell).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JSDOM } from 'jsdom';
import { domRuns, mapDomPoint, mapToDom } from '../src/positions.js';

/**
 * A 2×2 table; returns its document, DOM runs and the text node of each cell (null: empty).
 * @param {string[]} cells
 */
function table(cells) {
  const doc = new JSDOM(
    `<table><tbody><tr><td>${cells[0]}</td><td>${cells[1]}</td></tr>` +
      `<tr><td>${cells[2]}</td><td>${cells[3]}</td></tr></tbody></table>`,
  ).window.document;
  const root = /** @type {Node} */ (doc.querySelector('table'));
  const texts = Array.from(doc.querySelectorAll('td'), (td) => /** @type {Node} */ (td.firstChild));
  return { doc, runs: domRuns([root]), texts };
}

/**
 * @template T
 * @param {T | null} value
 * @returns {T}
 */
function some(value) {
  assert.notEqual(value, null);
  return /** @type {T} */ (value);
}

test('a caret at the end of a cell stays in that cell when an empty cell has no model run', () => {
  // the DOM shows a collaborator's text, the model already holds this user's own typing
  const { doc, runs, texts: cells } = table(['Axyz', '', '', '']);
  assert.equal(runs.length, 4);
  const texts = ['ATUOQ', '', ''];
  for (const offset of [0, 1, 3, 5]) {
    assert.equal(some(mapToDom(runs, texts, 0, offset)).node, cells[0], `model offset ${offset}`);
  }
  assert.equal(some(mapToDom(runs, texts, 0, 5)).offset, 4);
  // and back: every point of the first cell maps into the model's first run
  for (let offset = 0; offset <= 4; offset++) {
    assert.equal(some(mapDomPoint(doc, runs, texts, cells[0], offset)).index, 0, `DOM offset ${offset}`);
  }
  assert.deepEqual(mapDomPoint(doc, runs, texts, cells[0], 4), { index: 0, offset: 5 });
});

test('runs equal from the start and from the end pair by position', () => {
  const { doc, runs, texts: cells } = table(['ab', '', 'cd', 'ef']);
  const texts = ['ab', 'cd', 'ef']; // the empty second cell has no model run
  assert.equal(some(mapToDom(runs, texts, 0, 2)).node, cells[0]);
  assert.deepEqual(mapToDom(runs, texts, 1, 1), { node: cells[2], offset: 1 });
  assert.deepEqual(mapToDom(runs, texts, 2, 2), { node: cells[3], offset: 2 });
  assert.deepEqual(mapDomPoint(doc, runs, texts, cells[3], 1), { index: 2, offset: 1 });
  assert.deepEqual(mapDomPoint(doc, runs, texts, cells[0], 2), { index: 0, offset: 2 });
});

test('a model run the DOM does not show yet pairs with the most alike run', () => {
  const { doc, runs, texts: cells } = table(['hello', 'world', '', '']);
  const texts = ['hello', 'new', 'worlds', '', '']; // a block not rendered yet
  assert.deepEqual(mapToDom(runs, texts, 2, 6), { node: cells[1], offset: 5 });
  assert.equal(some(mapDomPoint(doc, runs, texts, cells[1], 5)).index, 2);
});

test('a model run with no DOM run left to pair with maps to the nearest one', () => {
  const { doc, runs, texts: cells } = table(['ab', 'cd', 'ef', 'gh']);
  const texts = ['ab', 'cd', 'ef', 'gh', 'new']; // one more model run than the DOM shows
  assert.deepEqual(mapToDom(runs, texts, 4, 2), { node: cells[3], offset: 2 });
  const more = ['ab', 'cd', 'ef', 'gh', 'x', 'y'];
  for (let i = 0; i < more.length; i++) assert.notEqual(mapToDom(runs, more, i, 1), null);
  // and the other way: the DOM holds more runs than the model
  assert.deepEqual(mapDomPoint(doc, runs, ['ab', 'cd'], cells[3], 1), { index: 1, offset: 1 });
  assert.equal(some(mapDomPoint(doc, runs, ['zz'], cells[2], 1)).index, 0);
});

test('any run counts: every model point maps into the DOM and every DOM point back (seeded)', () => {
  let seed = 12015;
  /** @param {number} n */
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const word = () => ['', 'ab', 'abc', 'x', 'TUOQ', ' a '][rand(6)];
  for (let round = 0; round < 300; round++) {
    const { doc, runs, texts: cells } = table([word(), word(), word(), word()]);
    const texts = Array.from({ length: 1 + rand(6) }, word);
    for (let i = 0; i < texts.length; i++) {
      for (let o = 0; o <= texts[i].length; o++) {
        const point = some(mapToDom(runs, texts, i, o));
        assert.ok(point.node === doc.querySelector('table') || doc.contains(point.node));
      }
    }
    for (const cell of cells) {
      if (!cell || cell.nodeType !== 3) continue;
      for (let o = 0; o <= (cell.textContent || '').length; o++) {
        const at = some(mapDomPoint(doc, runs, texts, cell, o));
        assert.ok(at.index >= 0 && at.index < texts.length, `index ${at.index} of ${texts.length}`);
        assert.ok(at.offset >= 0 && at.offset <= texts[at.index].length);
      }
    }
  }
});
