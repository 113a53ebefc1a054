// Installed by the browser fuzzer (tests/support/fuzz.py) as an init script, before the demo
// page's own scripts run. It gives the fuzzer three things and changes nothing else:
//
// 1. A network it controls. window.WebSocket is wrapped so that every inbound event (message,
//    close) and every outbound frame goes through a queue with a per-page latency (seeded
//    jitter, order kept), and so that inbound delivery can be held: while `hold()` is in force
//    nothing from the server reaches the page, so the text before and after one local action
//    differs only by what that action did ("frozen window"). Holding is extra latency: the
//    plugin cannot tell it from a slow network.
// 2. Snapshots of what a user sees: the text of every block of the editor body (or of the
//    canonical HTML), with caret-container characters removed, and the selected text.
// 3. Helpers that the fuzzer calls between real key presses: put the caret somewhere, paste
//    (a synthetic ClipboardEvent carrying a DataTransfer, which TinyMCE's own paste handler
//    processes), setContent, list commands.
(() => {
  const Native = window.WebSocket;
  const fuzz = (window.__fuzz = {
    holds: 0,
    latencyIn: 0,
    latencyOut: 0,
    jitter: 0,
    inbox: [],
    lastIn: 0,
    lastOut: 0,
    timer: null,
    sockets: new Set(),
    opened: 0,
    offline: false,
    seed: 1,
  });

  // mulberry32: seeded jitter (timing still varies run to run; the script does not)
  function random() {
    fuzz.seed = (fuzz.seed + 0x6d2b79f5) | 0;
    let t = fuzz.seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  const delay = (base) => (base > 0 ? base + random() * fuzz.jitter : 0);

  function pump() {
    clearTimeout(fuzz.timer);
    fuzz.timer = null;
    while (fuzz.holds === 0 && fuzz.inbox.length) {
      const next = fuzz.inbox[0];
      const wait = next.due - performance.now();
      if (wait > 0) {
        fuzz.timer = setTimeout(pump, wait);
        return;
      }
      fuzz.inbox.shift();
      next.deliver();
    }
  }

  function enqueueIn(deliver) {
    const due = Math.max(fuzz.lastIn, performance.now() + delay(fuzz.latencyIn));
    fuzz.lastIn = due;
    fuzz.inbox.push({ due, deliver });
    if (fuzz.holds === 0) pump();
  }

  // The page's WebSocket, behind the queue: handlers (on*) and listeners both see every event.
  class FuzzWebSocket extends EventTarget {
    constructor(url, protocols) {
      super();
      this.onopen = null;
      this.onmessage = null;
      this.onclose = null;
      this.onerror = null;
      fuzz.opened += 1;
      if (fuzz.offline) {
        // no network: the connection fails as it would (error, then close 1006)
        this._ws = { readyState: 3, bufferedAmount: 0, url: String(url), protocol: '', extensions: '', binaryType: 'blob', close() {}, send() {} };
        setTimeout(() => {
          enqueueIn(() => this._emit(new Event('error')));
          enqueueIn(() => this._emit(new CloseEvent('close', { code: 1006, reason: '', wasClean: false })));
        }, 20);
        return;
      }
      this._ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
      fuzz.sockets.add(this);
      this._ws.onopen = () => enqueueIn(() => this._emit(new Event('open')));
      this._ws.onmessage = (ev) => enqueueIn(() => this._emit(new MessageEvent('message', { data: ev.data, origin: ev.origin })));
      this._ws.onerror = () => enqueueIn(() => this._emit(new Event('error')));
      this._ws.onclose = (ev) => {
        fuzz.sockets.delete(this);
        const copy = new CloseEvent('close', { code: ev.code, reason: ev.reason, wasClean: ev.wasClean });
        enqueueIn(() => this._emit(copy));
      };
    }
    _emit(event) {
      const handler = this['on' + event.type];
      if (typeof handler === 'function') handler.call(this, event);
      this.dispatchEvent(event);
    }
    get readyState() { return this._ws.readyState; }
    get bufferedAmount() { return this._ws.bufferedAmount; }
    get url() { return this._ws.url; }
    get protocol() { return this._ws.protocol; }
    get extensions() { return this._ws.extensions; }
    get binaryType() { return this._ws.binaryType; }
    set binaryType(v) { this._ws.binaryType = v; }
    send(data) {
      if (this._ws.readyState !== 1) return this._ws.send(data); // let the socket complain
      const due = Math.max(fuzz.lastOut, performance.now() + delay(fuzz.latencyOut));
      fuzz.lastOut = due;
      const wait = due - performance.now();
      if (wait <= 0) return this._ws.send(data);
      // order is kept: `due` never decreases
      setTimeout(() => {
        if (this._ws.readyState === 1) this._ws.send(data);
      }, wait);
      return undefined;
    }
    close(code, reason) {
      return code === undefined ? this._ws.close() : this._ws.close(code, reason);
    }
  }
  FuzzWebSocket.CONNECTING = 0;
  FuzzWebSocket.OPEN = 1;
  FuzzWebSocket.CLOSING = 2;
  FuzzWebSocket.CLOSED = 3;
  window.WebSocket = FuzzWebSocket;

  fuzz.configure = ({ latencyIn, latencyOut, jitter, seed }) => {
    if (latencyIn !== undefined) fuzz.latencyIn = latencyIn;
    if (latencyOut !== undefined) fuzz.latencyOut = latencyOut;
    if (jitter !== undefined) fuzz.jitter = jitter;
    if (seed !== undefined) fuzz.seed = seed | 0;
  };
  // Holds nest: a key press inside a longer frozen window releases only its own hold.
  fuzz.hold = () => {
    fuzz.holds += 1;
  };
  fuzz.release = () => {
    fuzz.holds = Math.max(0, fuzz.holds - 1);
    if (fuzz.holds === 0) pump();
  };
  /** Close every socket as a network failure would (the plugin reconnects). */
  fuzz.dropSockets = () => {
    for (const s of [...fuzz.sockets]) s._ws.close(4999, 'fuzz: network drop');
  };
  /** The WebSocket network down (every socket dropped, new ones fail) or up again; HTTP is
   * not affected (the fuzzer's "full" offline mode uses the browser context's instead). */
  fuzz.setOffline = (on) => {
    fuzz.offline = !!on;
    if (on) fuzz.dropSockets();
  };

  // -- what a user sees ---------------------------------------------------------------------

  const BLOCKS = new Set(
    'P H1 H2 H3 H4 H5 H6 PRE LI TD TH BLOCKQUOTE CAPTION FIGCAPTION FIGURE DIV UL OL TABLE THEAD TBODY TFOOT TR'.split(' '),
  );
  const CARET_CHARS = /[\ufeff\u200b]/g;

  /** [[path, text], ...] in document order: one entry per block element, its own inline text
   * (text of nested blocks goes to their entries). Non-breaking spaces read as spaces. */
  function blocksOf(root) {
    const out = [];
    const walk = (el, path) => {
      const entry = [path, ''];
      out.push(entry);
      const inline = (node) => {
        for (const child of node.childNodes) {
          if (child.nodeType === 3) entry[1] += child.data;
          else if (child.nodeType === 1) {
            if (child.getAttribute('data-mce-bogus') === 'all') continue;
            if (child.hasAttribute('data-rtc-overlay')) continue;
            if (BLOCKS.has(child.nodeName)) walk(child, path + '>' + child.nodeName.toLowerCase());
            else if (child.nodeName === 'BR') {
              if (!child.hasAttribute('data-mce-bogus')) entry[1] += '\n';
            } else inline(child);
          }
        }
      };
      inline(el);
      entry[1] = entry[1].replace(CARET_CHARS, '').replace(/\u00a0/g, ' ');
    };
    for (const child of root.childNodes) {
      if (child.nodeType === 1 && BLOCKS.has(child.nodeName)) walk(child, child.nodeName.toLowerCase());
      else if (child.nodeType === 1 && child.getAttribute('data-mce-bogus') !== 'all' && !child.hasAttribute('data-rtc-overlay')) {
        // inline content at the top level (should not happen in TinyMCE): its own entry
        const t = (child.textContent || '').replace(CARET_CHARS, '');
        if (t.trim()) out.push(['#inline', t.replace(/\u00a0/g, ' ')]);
      } else if (child.nodeType === 3 && child.data.trim()) out.push(['#text', child.data]);
    }
    return out;
  }

  const editor = (id) => window.tinymce && window.tinymce.get(id);

  fuzz.view = (id) => {
    const ed = editor(id);
    const rtc = ed.plugins.rtc;
    const s = rtc && rtc.getState ? rtc.getState() : {};
    let selected = '';
    let prev = null; // the character right before a collapsed caret
    try {
      const range = ed.selection.getRng();
      selected = range.toString().replace(CARET_CHARS, '');
      if (range.collapsed && range.startContainer.nodeType === 3) {
        const head = range.startContainer.data.slice(0, range.startOffset).replace(CARET_CHARS, '');
        if (head) prev = head[head.length - 1].replace('\u00a0', ' ');
      }
    } catch {
      selected = '';
    }
    return {
      blocks: blocksOf(ed.getBody()),
      selected,
      prev,
      editable: !!s.editable,
      readOnly: ed.mode.isReadOnly(),
      connected: !!s.connected,
    };
  };

  fuzz.canonicalBlocks = (html) => blocksOf(new DOMParser().parseFromString(html, 'text/html').body);

  // -- key presses, each in its own frozen window ------------------------------------------------

  /** From now on every key press in the editor is measured: at keydown (capture, on the
   * editor's window: before TinyMCE sees it) inbound delivery is held and the view read; at
   * keyup (bubble, after TinyMCE's handlers) the view is read again and delivery released.
   * The browser applies a key's edit between the two, synchronously, so the difference is
   * that key's effect and nothing else. `takeKeys()` hands the records to the fuzzer. */
  fuzz.instrument = (id) => {
    const win = editor(id).getWin();
    fuzz.keylog = [];
    fuzz.pending = null;
    const finish = () => {
      const p = fuzz.pending;
      if (!p) return;
      fuzz.pending = null;
      clearTimeout(p.timer);
      p.after = fuzz.view(id);
      delete p.timer;
      fuzz.keylog.push(p);
      fuzz.release();
    };
    win.addEventListener('keydown', (e) => {
      finish(); // a modifier still held down (Control, then b)
      fuzz.hold();
      fuzz.pending = {
        key: e.key,
        modified: e.ctrlKey || e.metaKey || e.altKey,
        before: fuzz.view(id),
        // never hold the network for long if a keyup goes missing
        timer: setTimeout(finish, 1000),
      };
    }, true);
    win.addEventListener('keyup', finish, false);
    fuzz.finishKey = finish;
  };
  fuzz.takeKeys = () => {
    if (fuzz.finishKey) fuzz.finishKey();
    const out = fuzz.keylog || [];
    fuzz.keylog = [];
    return out;
  };

  // -- carets ---------------------------------------------------------------------------------

  /** Leaf text blocks (no nested block inside), in document order; `cells` only td/th. */
  function leafBlocks(ed, cells) {
    const all = [...ed.getBody().querySelectorAll(cells ? 'td,th' : 'p,h1,h2,h3,h4,h5,h6,pre,li,td,th')];
    return all.filter((el) => ![...el.querySelectorAll('*')].some((d) => BLOCKS.has(d.nodeName)));
  }

  /** Put the caret in block `block` (a fraction of the candidate blocks) at `offset` (a
   * fraction of its text, or 'start'/'end'). Returns a description, or null if there is no
   * such block (e.g. no table yet). */
  fuzz.place = (id, { block, offset, cells }) => {
    const ed = editor(id);
    const candidates = leafBlocks(ed, !!cells);
    if (!candidates.length) return null;
    const el = candidates[Math.min(candidates.length - 1, Math.floor(block * candidates.length))];
    const texts = [];
    const walker = ed.getDoc().createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (n.parentElement && n.parentElement.closest('[data-mce-bogus="all"]')) continue;
      texts.push(n);
    }
    const length = texts.reduce((sum, n) => sum + n.data.length, 0);
    let at = offset === 'start' ? 0 : offset === 'end' ? length : Math.min(length, Math.floor(offset * (length + 1)));
    ed.focus();
    if (!texts.length) {
      ed.selection.setCursorLocation(el, 0);
    } else {
      let node = texts[texts.length - 1];
      let pos = node.data.length;
      for (const n of texts) {
        if (at <= n.data.length) {
          node = n;
          pos = at;
          break;
        }
        at -= n.data.length;
      }
      ed.selection.setCursorLocation(node, pos);
    }
    ed.nodeChanged();
    return { tag: el.nodeName.toLowerCase(), index: candidates.indexOf(el), of: candidates.length, length };
  };

  // -- commands ---------------------------------------------------------------------------------

  /** A paste as the browser delivers it: a ClipboardEvent whose DataTransfer holds text/html
   * and text/plain, dispatched at the editor body. TinyMCE's paste handling (PastePreProcess,
   * the plugin's filter) takes it from there. */
  fuzz.paste = (id, html, text) => {
    const ed = editor(id);
    const data = new DataTransfer();
    data.setData('text/html', html);
    data.setData('text/plain', text);
    const event = new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true });
    ed.getBody().dispatchEvent(event);
    return event.defaultPrevented;
  };

  fuzz.exec = (id, command, value) => {
    const ed = editor(id);
    ed.focus();
    return ed.execCommand(command, false, value);
  };

  fuzz.setContent = (id, html) => {
    editor(id).setContent(html);
  };
})();
