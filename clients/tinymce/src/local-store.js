// The editor's copy of a document on this device (IndexedDB), so that edits made offline — or
// not yet acknowledged when the tab closes — survive a reload or a browser restart.
// docs/security.md: this copy is the document in plaintext, on the user's device; the server
// never sees it. `rtc_offline: false` turns it off; `editor.plugins.rtc.forgetLocal()` erases it.

/**
 * A document's copy on this device (plugin.js saves it).
 * @typedef {object} StoredRecord
 * @property {string | null} sessionId
 * @property {string | null} keyHint
 * @property {string | null} userId
 * @property {string | null} role
 * @property {boolean} pending it holds edits the server has not acknowledged
 * @property {number} savedAt Date.now()
 * @property {Uint8Array} update the Y.Doc's state
 */

const DB = 'tandem-rtc';
const STORE = 'documents';

/**
 * @template T
 * @param {IDBRequest<T>} req
 * @returns {Promise<T>}
 */
function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * @param {unknown} err
 * @returns {string}
 */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

export class LocalStore {
  /** @param {IDBFactory|null} idb */
  constructor(idb) {
    this.idb = idb || null;
    /** @type {Promise<IDBDatabase | null> | null} */
    this._db = null;
  }

  /** @returns {Promise<IDBDatabase | null>} */
  async _open() {
    if (!this.idb) return null;
    if (!this._db) {
      const req = this.idb.open(DB, 1);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
      };
      this._db = request(req).catch((err) => {
        console.warn('[rtc] no local copy (IndexedDB unavailable):', errorText(err));
        return null;
      });
    }
    return this._db;
  }

  /**
   * @template T
   * @param {IDBTransactionMode} mode
   * @param {(store: IDBObjectStore) => IDBRequest<T>} fn
   * @returns {Promise<T | null>}
   */
  async _tx(mode, fn) {
    const db = await this._open();
    if (!db) return null;
    const tx = db.transaction(STORE, mode);
    const result = await request(fn(tx.objectStore(STORE)));
    if (mode === 'readwrite') {
      await new Promise((resolve, reject) => {
        tx.oncomplete = resolve;
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    }
    return result;
  }

  /**
   * The saved record of a document, or null.
   * @param {string} key
   * @returns {Promise<StoredRecord | null>}
   */
  async get(key) {
    try {
      return (await this._tx('readonly', (s) => s.get(key))) || null;
    } catch (err) {
      console.warn('[rtc] could not read the local copy:', errorText(err));
      return null;
    }
  }

  /**
   * @param {string} key
   * @param {StoredRecord} value
   */
  async put(key, value) {
    try {
      await this._tx('readwrite', (s) => s.put(value, key));
      return true;
    } catch (err) {
      console.warn('[rtc] could not save the local copy:', errorText(err));
      return false;
    }
  }

  /** @param {string} key */
  async delete(key) {
    try {
      await this._tx('readwrite', (s) => s.delete(key));
    } catch (err) {
      console.warn('[rtc] could not erase the local copy:', errorText(err));
    }
  }
}
