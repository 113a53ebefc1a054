// Defence in depth at the DOM boundary: HTML rendered from a collaborator's document passes
// DOMPurify (a maintained sanitiser), configured with the model's own allow-lists, before it
// reaches the editing DOM. The model's checks (sanitize.js) already hold; this catches what a
// bug in them would let through.

import createDOMPurify from 'dompurify';
import { SCHEMA } from './schema.js';

const TAGS = [
  ...SCHEMA.flow_blocks,
  ...Object.keys(SCHEMA.structural_blocks),
  ...SCHEMA.void_blocks,
  ...SCHEMA.marks,
  ...SCHEMA.void_embeds,
  ...SCHEMA.media_embeds,
  ...SCHEMA.media_children,
  'br',
  '#comment',
];
const ATTRS = [...new Set([...SCHEMA.global_attributes, ...Object.values(SCHEMA.element_attributes).flat()])];
const SCHEMES = SCHEMA.safe_schemes.join('|');
// an allowed scheme, or no scheme at all (relative URL)
const URI = new RegExp(`^(?:(?:${SCHEMES}):|[^a-z]|[a-z+.\\-]+(?:[^a-z+.\\-:]|$))`, 'i');

export const PURIFY_CONFIG = {
  ALLOWED_TAGS: TAGS,
  ALLOWED_ATTR: ATTRS,
  ALLOW_DATA_ATTR: true,
  ALLOW_ARIA_ATTR: true,
  ALLOWED_URI_REGEXP: URI,
  ADD_DATA_URI_TAGS: Object.keys(SCHEMA.image_data_attributes),
  FORBID_TAGS: SCHEMA.drop_with_content,
  KEEP_CONTENT: true,
  WHOLE_DOCUMENT: false,
  RETURN_TRUSTED_TYPE: false,
  SAFE_FOR_XML: true,
};

/**
 * A sanitiser for HTML strings in `win` (a window: the editor's, or jsdom's).
 * @param {import('dompurify').WindowLike} win
 * @returns {(html: string) => string}
 */
export function makePurifier(win) {
  const purify = createDOMPurify(win);
  return (html) => purify.sanitize(html, PURIFY_CONFIG);
}
