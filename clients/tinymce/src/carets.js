// Remote carets and selections: absolutely positioned divs in an overlay inside the editor's
// document (outside the editable body, so never part of the content), computed from DOM ranges.
//
// Colours come from CSS classes, so a skin or `content_style` can change them:
//   .rtc-caret-3 { --rtc-caret-color: #c2185b; }   (caret numbers 1–8 repeat)
// Each caret is `.rtc-caret.rtc-caret-N` with a `.rtc-caret-label`; selected text is covered by
// `.rtc-selection.rtc-caret-N` boxes.

import { isPositionError } from './positions.js';

/** @typedef {import('./positions.js').DomPoint} DomPoint */
/**
 * A collaborator's caret: its name and caret number, and its selection (relative positions
 * that `resolve` places; null: none).
 * @typedef {{name?: string, caret?: number, anchor?: unknown, head?: unknown}} Remote
 */

export const CARET_COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#e377c2', '#8c564b'];

/**
 * The caret class number (1–8) of a caret number the server gave.
 * @param {unknown} caretNumber
 */
export function caretClass(caretNumber) {
  const n = typeof caretNumber === 'number' && Number.isInteger(caretNumber) && caretNumber > 0 ? caretNumber : 1;
  return ((n - 1) % CARET_COLOURS.length) + 1;
}

/** @param {unknown} caretNumber */
export function caretColour(caretNumber) {
  return CARET_COLOURS[caretClass(caretNumber) - 1];
}

// Defaults, placed before any other style of the editor's document so that skins win.
export const CARET_CSS =
  CARET_COLOURS.map((c, i) => `.rtc-caret-${i + 1}{--rtc-caret-color:${c}}`).join('') +
  '.rtc-caret{position:absolute;width:2px;margin-left:-1px;background:var(--rtc-caret-color)}' +
  '.rtc-caret-label{position:absolute;left:0;top:-1.4em;white-space:nowrap;font:11px/1.3 sans-serif;' +
  'color:#fff;background:var(--rtc-caret-color);padding:0 3px;border-radius:2px}' +
  '.rtc-selection{position:absolute;background:var(--rtc-caret-color);opacity:.25}';

export class CaretOverlay {
  /**
   * @param {object} o
   * @param {HTMLElement} o.body the editable root
   * @param {(rel: any) => (DomPoint | null)} o.resolve relative position -> DOM point
   */
  constructor({ body, resolve }) {
    this.body = body;
    this.doc = body.ownerDocument;
    this.win = this.doc.defaultView;
    this.resolve = resolve;
    /** @type {Map<string, Remote>} */
    this.remotes = new Map(); // clientId -> {name, caret, anchor, head}
    this.root = this.doc.createElement('div');
    this.root.setAttribute('data-rtc-overlay', '');
    this.root.setAttribute('contenteditable', 'false');
    this.root.setAttribute('aria-hidden', 'true');
    this.root.style.cssText = 'position:absolute;top:0;left:0;width:0;height:0;overflow:visible;pointer-events:none;z-index:10;';
    const host = body === this.doc.body ? this.doc.documentElement : this.doc.body;
    host.appendChild(this.root);
    /** @type {unknown} a pending animation frame (or timer) */
    this._frame = null;
    if (!this.doc.getElementById('rtc-caret-style')) {
      const style = this.doc.createElement('style');
      style.id = 'rtc-caret-style';
      style.textContent = CARET_CSS;
      const head = this.doc.head || this.doc.documentElement;
      head.insertBefore(style, head.firstChild);
    }
  }

  /**
   * @param {string} clientId
   * @param {Remote} info
   */
  set(clientId, info) {
    this.remotes.set(clientId, { ...(this.remotes.get(clientId) || {}), ...info });
    this.schedule();
  }

  /** @param {string} clientId */
  remove(clientId) {
    this.remotes.delete(clientId);
    this.schedule();
  }

  schedule() {
    if (this._frame !== null) return;
    /** @type {(f: () => void) => unknown} */
    const raf = this.win && this.win.requestAnimationFrame ? this.win.requestAnimationFrame.bind(this.win) : (f) => setTimeout(f, 16);
    this._frame = raf(() => {
      this._frame = null;
      this.render();
    });
  }

  render() {
    while (this.root.firstChild) this.root.removeChild(this.root.firstChild);
    const sx = this.win ? this.win.scrollX || 0 : 0;
    const sy = this.win ? this.win.scrollY || 0 : 0;
    for (const [clientId, r] of this.remotes) {
      if (!r.anchor || !r.head) continue;
      let a;
      let h;
      try {
        a = this.resolve(r.anchor);
        h = this.resolve(r.head);
      } catch (err) {
        // A collaborator's caret is untrusted input: a malformed one is not drawn.
        console.warn('[rtc] a collaborator sent a caret that cannot be placed:', err);
        continue;
      }
      if (!a || !h) continue;
      const n = caretClass(r.caret);
      const range = this.doc.createRange();
      let headRect;
      try {
        // selection highlight
        range.setStart(a.node, a.offset);
        range.setEnd(h.node, h.offset);
        if (range.collapsed) {
          range.setStart(h.node, h.offset);
          range.setEnd(a.node, a.offset);
        }
        if (!range.collapsed) {
          for (const rect of Array.from(range.getClientRects())) {
            if (!rect.width) continue;
            this.root.appendChild(this._box(`rtc-selection rtc-caret-${n}`, rect.left + sx, rect.top + sy, rect.width, rect.height));
          }
        }
        const caretRange = this.doc.createRange();
        caretRange.setStart(h.node, h.offset);
        caretRange.collapse(true);
        const rects = caretRange.getClientRects();
        headRect = rects.length ? rects[0] : null;
        if (!headRect || (!headRect.height && !headRect.top)) {
          const el = /** @type {Element | null} */ (h.node.nodeType === 1 ? h.node : h.node.parentNode);
          headRect = el && el.getBoundingClientRect ? el.getBoundingClientRect() : null;
        }
      } catch (err) {
        if (!isPositionError(err)) throw err;
        continue; // the caret points past the content this editor shows
      }
      if (!headRect) continue;
      const caret = this._box(`rtc-caret rtc-caret-${n}`, headRect.left + sx, headRect.top + sy, null, headRect.height || 16);
      caret.setAttribute('data-rtc-caret', clientId);
      const label = this.doc.createElement('div');
      label.className = 'rtc-caret-label';
      label.textContent = r.name || '';
      caret.appendChild(label);
      this.root.appendChild(caret);
    }
  }

  /**
   * @param {string} className
   * @param {number} left
   * @param {number} top
   * @param {number | null} width null: none
   * @param {number} height
   */
  _box(className, left, top, width, height) {
    const d = this.doc.createElement('div');
    d.className = className;
    d.style.cssText = `left:${left}px;top:${top}px;` + (width === null ? '' : `width:${width}px;`) + `height:${height}px;`;
    return d;
  }

  destroy() {
    if (this.root.parentNode) this.root.parentNode.removeChild(this.root);
    this.remotes.clear();
  }
}
