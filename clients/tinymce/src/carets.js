// Remote carets and selections: absolutely positioned divs in an overlay inside the editor's
// document (outside the editable body, so never part of the content), computed from DOM ranges.

export const CARET_COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#e377c2', '#8c564b'];

export function caretColour(caretNumber) {
  const n = Number.isInteger(caretNumber) && caretNumber > 0 ? caretNumber : 1;
  return CARET_COLOURS[(n - 1) % CARET_COLOURS.length];
}

export class CaretOverlay {
  /**
   * @param {object} o
   * @param {HTMLElement} o.body the editable root
   * @param {(rel: any) => ({node, offset}|null)} o.resolve relative position -> DOM point
   */
  constructor({ body, resolve }) {
    this.body = body;
    this.doc = body.ownerDocument;
    this.win = this.doc.defaultView;
    this.resolve = resolve;
    this.remotes = new Map(); // clientId -> {name, caret, anchor, head}
    this.root = this.doc.createElement('div');
    this.root.setAttribute('data-rtc-overlay', '');
    this.root.setAttribute('contenteditable', 'false');
    this.root.setAttribute('aria-hidden', 'true');
    this.root.style.cssText = 'position:absolute;top:0;left:0;width:0;height:0;overflow:visible;pointer-events:none;z-index:10;';
    const host = body === this.doc.body ? this.doc.documentElement : this.doc.body;
    host.appendChild(this.root);
    this._frame = null;
  }

  set(clientId, info) {
    this.remotes.set(clientId, { ...(this.remotes.get(clientId) || {}), ...info });
    this.schedule();
  }

  remove(clientId) {
    this.remotes.delete(clientId);
    this.schedule();
  }

  schedule() {
    if (this._frame !== null) return;
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
      } catch {
        continue;
      }
      if (!a || !h) continue;
      const colour = caretColour(r.caret);
      const range = this.doc.createRange();
      let headRect = null;
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
            this.root.appendChild(this._box(rect.left + sx, rect.top + sy, rect.width, rect.height, colour, '0.25'));
          }
        }
        const caretRange = this.doc.createRange();
        caretRange.setStart(h.node, h.offset);
        caretRange.collapse(true);
        const rects = caretRange.getClientRects();
        headRect = rects.length ? rects[0] : null;
        if (!headRect || (!headRect.height && !headRect.top)) {
          const el = h.node.nodeType === 1 ? h.node : h.node.parentNode;
          headRect = el && el.getBoundingClientRect ? el.getBoundingClientRect() : null;
        }
      } catch {
        continue;
      }
      if (!headRect) continue;
      const caret = this._box(headRect.left + sx - 1, headRect.top + sy, 2, headRect.height || 16, colour, '1');
      caret.setAttribute('data-rtc-caret', clientId);
      const label = this.doc.createElement('div');
      label.textContent = r.name || '';
      label.style.cssText =
        `position:absolute;left:0;top:-1.4em;white-space:nowrap;font:11px/1.3 sans-serif;color:#fff;` +
        `background:${colour};padding:0 3px;border-radius:2px;`;
      caret.appendChild(label);
      this.root.appendChild(caret);
    }
  }

  _box(left, top, width, height, colour, opacity) {
    const d = this.doc.createElement('div');
    d.style.cssText = `position:absolute;left:${left}px;top:${top}px;width:${width}px;height:${height}px;background:${colour};opacity:${opacity};`;
    return d;
  }

  destroy() {
    if (this.root.parentNode) this.root.parentNode.removeChild(this.root);
    this.remotes.clear();
  }
}
