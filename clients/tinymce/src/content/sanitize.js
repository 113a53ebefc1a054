// Allow-lists for attributes, URLs and CSS (docs/content-model.md §5). Every value that enters
// the model — from the editor, from pasted HTML, or from a collaborator's Yjs document — goes
// through these functions; nothing else decides what is safe. The Python twin is
// tandem.client.content.sanitize; both read schema.json.

import { SCHEMA, set, tableOfSets } from './schema.js';

/** @typedef {import('./model.js').Attrs} Attrs */

const GLOBAL_ATTRS = set(SCHEMA.global_attributes);
const ELEMENT_ATTRS = tableOfSets(SCHEMA.element_attributes);
const URL_ATTRS = set(SCHEMA.url_attributes);
const URL_LIST_ATTRS = set(SCHEMA.url_list_attributes);
const SAFE_SCHEMES = set(SCHEMA.safe_schemes);
const IMAGE_TYPES = set(SCHEMA.image_data_types);
const IMAGE_DATA_ATTRS = tableOfSets(SCHEMA.image_data_attributes);
const ENUMS = tableOfSets(SCHEMA.enumerated_attributes);
const BOOLEANS = set(SCHEMA.boolean_attributes);
const CSS = set(SCHEMA.css_properties);
const DISPLAY = set(SCHEMA.css_display_values);
const CSS_FORBIDDEN = SCHEMA.css_forbidden;
const ID_RE = new RegExp(SCHEMA.id_pattern);
const DATA_RE = new RegExp(SCHEMA.data_attribute_pattern);
const ARIA_RE = new RegExp(SCHEMA.aria_attribute_pattern);
const CLOBBER = set(SCHEMA.clobber_names);
const IFRAME_HOSTS = set(SCHEMA.iframe.hosts);
export const IFRAME_SANDBOX = SCHEMA.iframe.sandbox;
const LANG_RE = /^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8}){0,4}$/;
// values that could end a comment or a raw-text element if markup were ever re-parsed (mXSS)
const VALUE_BREAKOUT = new RegExp(SCHEMA.attribute_value_forbidden, 'i');
const CLASS_RE = /^[^\s"'<>`=]{1,100}$/;
// Characters browsers ignore inside a URL scheme ("jav\tascript:"): tabs, newlines, controls.
// eslint-disable-next-line no-control-regex
const URL_NOISE = /[\u0000-\u0020\u007f-\u009f\u00ad\u200b-\u200f\u2028\u2029\ufeff]+/g;
const SCHEME = /^([a-z][a-z0-9+.-]*):/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

export const STYLE_PREFIX = 'style:';

/**
 * Python's str.strip() for the ASCII whitespace that matters in attribute values.
 * @param {string} v
 */
export const strip = (v) => v.replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, '');

/**
 * The host of an absolute or protocol-relative URL, lower case, or null.
 * @param {string} url
 */
function urlHost(url) {
  const m = /^(?:https:)?\/\/([^/?#\\]*)/i.exec(url);
  if (!m) return null;
  let host = m[1];
  const at = host.lastIndexOf('@');
  if (at >= 0) return null; // credentials in an embed URL: refuse
  host = host.replace(/:\d{1,5}$/, '').toLowerCase();
  return host || null;
}

/**
 * A URL that is safe in `attr` of `tag`, trimmed; null when it must be dropped.
 * @param {string} tag
 * @param {string} attr
 * @param {string} value
 * @returns {string | null}
 */
export function cleanUrl(tag, attr, value) {
  const v = strip(value);
  if (!v || v.length > SCHEMA.data_url_max || CONTROL.test(v)) return null;
  const squashed = v.replace(URL_NOISE, '').toLowerCase();
  const m = SCHEME.exec(squashed);
  if (tag === 'iframe' && attr === 'src') {
    if (!(squashed.startsWith('https://') || squashed.startsWith('//'))) return null;
    const host = urlHost(v);
    return host && IFRAME_HOSTS.has(host) ? v : null;
  }
  if (!m) {
    // relative URL: a colon before any / ? # would make it a scheme in some parsers
    return v.length <= SCHEMA.url_max ? v : null;
  }
  const scheme = m[1];
  if (scheme === 'data') {
    const allowed = IMAGE_DATA_ATTRS[tag];
    if (!allowed || !allowed.has(attr)) return null;
    const type = /^data:([a-z0-9.+-]+\/[a-z0-9.+-]+)[;,]/.exec(squashed);
    return type && IMAGE_TYPES.has(type[1]) ? v : null;
  }
  if (v.length > SCHEMA.url_max) return null;
  return SAFE_SCHEMES.has(scheme) ? v : null;
}

/**
 * @param {string} tag
 * @param {string} attr
 * @param {string} value
 * @returns {string | null}
 */
function cleanSrcset(tag, attr, value) {
  const out = [];
  for (const part of value.split(',')) {
    const p = strip(part);
    if (!p) continue;
    const [url, ...desc] = p.split(/\s+/);
    const clean = cleanUrl(tag, attr, url);
    if (clean === null) return null;
    if (desc.length > 1 || (desc.length && !/^\d+(\.\d+)?[wx]$/.test(desc[0]))) return null;
    out.push([clean, ...desc].join(' '));
  }
  return out.length ? out.join(', ') : null;
}

/**
 * One CSS declaration value, normalised; null when refused.
 * @param {string} prop
 * @param {string} value
 * @returns {string | null}
 */
export function cleanCss(prop, value) {
  let v = strip(value).replace(/\s+/g, ' ');
  v = v.replace(/\s*!important$/i, '');
  if (!v || v.length > SCHEMA.css_value_max || CONTROL.test(v)) return null;
  const lower = v.toLowerCase();
  for (const bad of CSS_FORBIDDEN) if (lower.includes(bad)) return null;
  if (prop === 'display' && !DISPLAY.has(lower)) return null;
  if (/[;{}]/.test(v)) return null;
  return v;
}

/**
 * CSS declarations of a style attribute: [[prop, value]] in source order (last one wins).
 * @param {string | null | undefined} style
 * @returns {[string, string][]}
 */
export function parseStyle(style) {
  /** @type {Map<string, string>} */
  const out = new Map();
  for (const decl of String(style || '').split(';')) {
    const i = decl.indexOf(':');
    if (i < 0) continue;
    const prop = strip(decl.slice(0, i)).toLowerCase();
    if (!prop) continue;
    out.delete(prop);
    out.set(prop, decl.slice(i + 1));
  }
  return [...out];
}

/**
 * The style attribute text for `style:` keys of a clean attribute object (sorted by property).
 * @param {Attrs} attrs
 */
export function styleText(attrs) {
  const props = Object.keys(attrs)
    .filter((k) => k.startsWith(STYLE_PREFIX))
    .sort();
  return props.map((k) => `${k.slice(STYLE_PREFIX.length)}: ${attrs[k]};`).join(' ');
}

/**
 * @param {string} tag
 * @param {string} name
 */
function isAllowedName(tag, name) {
  if (GLOBAL_ATTRS.has(name)) return true;
  const el = ELEMENT_ATTRS[tag];
  if (el && el.has(name)) return true;
  if (name.startsWith('data-mce-') || name.startsWith('data-rtc-')) return false;
  return DATA_RE.test(name) || ARIA_RE.test(name);
}

/**
 * One HTML attribute of `tag`: its clean value, or null when dropped. `style` is handled by
 * cleanAttributes (it becomes several `style:` keys).
 * @param {string} tag
 * @param {string} name
 * @param {unknown} value
 * @returns {string | null}
 */
export function cleanAttribute(tag, name, value) {
  if (typeof value !== 'string') return null;
  if (!isAllowedName(tag, name) || name === 'style') return null;
  if (value.length > SCHEMA.attribute_value_max || value.includes('\u0000') || VALUE_BREAKOUT.test(value)) return null;
  if (URL_ATTRS.has(name)) return cleanUrl(tag, name, value);
  if (URL_LIST_ATTRS.has(name)) return cleanSrcset(tag, name, value);
  if (BOOLEANS.has(name)) return '';
  if (name === 'contenteditable') {
    const v = strip(value).toLowerCase();
    return v === '' || v === 'true' ? 'true' : v === 'false' ? 'false' : null;
  }
  const allowed = ENUMS[name];
  if (allowed) {
    const v = strip(value).toLowerCase();
    return allowed.has(v) ? v : null;
  }
  if (name === 'id' || name === 'name' || name === 'for') {
    const v = strip(value);
    return ID_RE.test(v) && !CLOBBER.has(v) ? v : null;
  }
  if (name === 'class') {
    const tokens = strip(value).split(/[\t\n\f\r ]+/).filter(Boolean);
    const clean = tokens.filter((t) => CLASS_RE.test(t));
    return clean.length ? clean.join(' ') : null;
  }
  if (name === 'lang') {
    const v = strip(value);
    return v === '' || LANG_RE.test(v) ? v : null;
  }
  if (name === 'sandbox') return IFRAME_SANDBOX;
  return value;
}

/**
 * Clean attributes of an element: `raw` is [[name, value]] (DOM order). Returns the model's
 * attribute object (HTML attributes by name, CSS properties as `style:PROP`) and the names of
 * what was dropped.
 * @param {string} tag
 * @param {Iterable<[string, string]>} raw
 * @returns {{attrs: Attrs, dropped: string[]}}
 */
export function cleanAttributes(tag, raw) {
  /** @type {Attrs} */
  const attrs = {};
  /** @type {string[]} */
  const dropped = [];
  for (const [rawName, value] of raw) {
    const name = rawName.toLowerCase();
    if (name === 'style') {
      for (const [prop, pv] of parseStyle(value)) {
        const clean = CSS.has(prop) ? cleanCss(prop, pv) : null;
        if (clean === null) dropped.push(`style ${prop}`);
        else attrs[STYLE_PREFIX + prop] = clean;
      }
      continue;
    }
    if (name.startsWith('data-mce-')) continue; // the editor's own bookkeeping
    const clean = cleanAttribute(tag, name, value);
    if (clean === null) dropped.push(name);
    else attrs[name] = clean;
  }
  if (tag === 'iframe') attrs.sandbox = IFRAME_SANDBOX;
  return { attrs, dropped };
}

/**
 * Re-check an attribute object that came from a Yjs document (untrusted): keys are HTML
 * attribute names or `style:PROP`. Returns a new clean object (canonical key order).
 * @param {string} tag
 * @param {unknown} obj
 * @returns {Attrs}
 */
export function checkAttrs(tag, obj) {
  /** @type {Attrs} */
  const attrs = {};
  if (!obj || typeof obj !== 'object') return tag === 'iframe' ? { sandbox: IFRAME_SANDBOX } : attrs;
  const fields = /** @type {Record<string, unknown>} */ (obj);
  for (const key of Object.keys(fields).sort()) {
    const value = fields[key];
    if (typeof value !== 'string') continue;
    if (key.startsWith(STYLE_PREFIX)) {
      const prop = key.slice(STYLE_PREFIX.length);
      const clean = CSS.has(prop) ? cleanCss(prop, value) : null;
      if (clean !== null) attrs[key] = clean;
    } else {
      const clean = cleanAttribute(tag, key, value);
      if (clean !== null) attrs[key] = clean;
    }
  }
  if (tag === 'iframe') attrs.sandbox = IFRAME_SANDBOX;
  return attrs;
}

/**
 * An iframe is kept only with an allowed src.
 * @param {Attrs} attrs
 */
export const iframeAllowed = (attrs) => typeof attrs.src === 'string';
