// Seeded random content for property tests: random HTML (whitespace runs, &nbsp;, <pre> with
// indentation, nested marks, embeds, lists, tables), parsed into canonical models.
import { makeDom } from './helpers.mjs';
import { htmlToModel } from '../src/content/parse.js';

/**
 * mulberry32: a small seeded generator, [0, 1).
 * @param {number} seed
 */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const { document } = makeDom();

/** @param {number} seed */
export function randomHtml(seed) {
  const next = rng(seed);
  /**
   * @template T
   * @param {T[]} list
   * @returns {T}
   */
  const pick = (list) => list[Math.floor(next() * list.length)];
  const words = ['alpha', 'beta', 'x', 'Zürich', 'naïve', '😀', '10', 'a&amp;b', '&lt;tag&gt;'];
  const spaces = [' ', '  ', '&nbsp;', '&nbsp; ', ' &nbsp;', '&nbsp;&nbsp;', '\n', '\t '];
  /**
   * @param {number} depth
   * @returns {string}
   */
  const text = (depth) => {
    let out = '';
    const n = 1 + Math.floor(next() * 5);
    for (let i = 0; i < n; i++) {
      const r = next();
      if (r < 0.45) out += pick(words);
      else if (r < 0.7) out += pick(spaces);
      else if (r < 0.75) out += '<br>';
      else if (r < 0.8) out += pick(['<img src="i.png" alt="i">', '<a id="t1"></a>', '<!-- pagebreak -->', '<span class="mceNonEditable">ne</span>']);
      else if (depth < 3) {
        const [open, close] = pick([
          ['<strong>', '</strong>'], ['<em>', '</em>'], ['<u>', '</u>'], ['<code>', '</code>'],
          ['<a href="https://e.org/p">', '</a>'], ['<span style="color: red;">', '</span>'],
          ['<span class="hl">', '</span>'], ['<mark>', '</mark>'], ['<sub>', '</sub>'],
        ]);
        out += open + text(depth + 1) + close;
      }
    }
    return out;
  };
  /**
   * @param {number} depth
   * @returns {string}
   */
  const block = (depth) => {
    const r = next();
    if (r < 0.4 || depth > 1) return `<p${next() < 0.2 ? ' style="text-align: center;"' : ''}>${text(0)}</p>`;
    if (r < 0.5) return `<h2>${text(0)}</h2>`;
    if (r < 0.6) return `<pre>${pick(['  indented\n    more', '\nlead', 'a  b\n\n c', 'x<br>y'])}</pre>`;
    if (r < 0.75) return `<ul>${Array.from({ length: 1 + Math.floor(next() * 3) }, () => `<li>${text(0)}${next() < 0.3 ? block(depth + 1) : ''}</li>`).join('')}</ul>`;
    if (r < 0.85) return `<table><tbody><tr><td>${text(0)}</td><td>${next() < 0.5 ? '' : text(0)}</td></tr></tbody></table>`;
    if (r < 0.93) return `<blockquote>${block(depth + 1)}${next() < 0.5 ? text(0) : ''}</blockquote>`;
    return `<div dir="rtl">${text(0)}${block(depth + 1)}</div>`;
  };
  return Array.from({ length: 1 + Math.floor(next() * 4) }, () => block(0)).join(next() < 0.5 ? '\n' : '');
}

/** @param {number} seed */
export function randomModel(seed) {
  return htmlToModel(randomHtml(seed), document).blocks;
}
