// The content model's vocabulary (docs/content-model.md), read from the JSON file the Python
// SDK reads too (src/tandem/client/content/schema.json): one list of elements, attributes,
// URL schemes and CSS properties for both languages.

import SCHEMA from '../../../../src/tandem/client/content/schema.json' with { type: 'json' };

export { SCHEMA };

/**
 * A lookup table for names that come from content (a collaborator's Yjs element or format, an
 * HTML tag): without a prototype, so that "constructor" or "__proto__" finds nothing.
 * @template T
 * @param {Record<string, T>} entries
 * @returns {Record<string, T | undefined>}
 */
export const table = (entries) => Object.assign(Object.create(null), entries);

/**
 * @param {string[]} list
 * @returns {Set<string>}
 */
export const set = (list) => new Set(list);

/**
 * A prototype-less ``table`` of name -> Set, from the schema's name -> list.
 * @param {Record<string, string[]>} lists
 * @returns {Record<string, Set<string> | undefined>}
 */
export const tableOfSets = (lists) =>
  table(Object.fromEntries(Object.entries(lists).map(([k, v]) => [k, set(v)])));

export const ROOT_NAME = SCHEMA.root;
export const FLOW_BLOCKS = set(SCHEMA.flow_blocks);
/** @type {Record<string, string>} */
export const STRUCTURAL = SCHEMA.structural_blocks; // tag -> default child
// read for structural tags only (isStructural)
export const STRUCTURAL_CHILDREN = /** @type {Record<string, Set<string>>} */ (tableOfSets(SCHEMA.structural_children));
export const VOID_BLOCKS = set(SCHEMA.void_blocks);
// table parts: only inside these parents (elsewhere HTML parsers drop the tag, keep the content)
export const CONTAINED = tableOfSets(SCHEMA.contained_blocks);
export const BLOCKS = new Set([...FLOW_BLOCKS, ...Object.keys(STRUCTURAL), ...VOID_BLOCKS]);
export const MARKS = SCHEMA.marks; // nesting order, outermost first
export const MARK_RANK = new Map(MARKS.map((m, i) => [m, i]));
export const VOID_EMBEDS = set(SCHEMA.void_embeds);
export const MEDIA_EMBEDS = set(SCHEMA.media_embeds);
export const MEDIA_CHILDREN = set(SCHEMA.media_children);
export const NONEDITABLE_CLASSES = SCHEMA.noneditable_classes;
export const DROP_WITH_CONTENT = set(SCHEMA.drop_with_content);
/**
 * Names of the first model version (read, never written). JSON has no tuples: the marks'
 * [tag, attributes or null] pairs are described here (a table: a format name is content).
 * @type {Omit<typeof SCHEMA.legacy, 'marks'> & {marks: Record<string, [string, Record<string, string> | null] | undefined>}}
 */
export const LEGACY = { ...SCHEMA.legacy, marks: table(/** @type {any} */ (SCHEMA.legacy.marks)) };
export const MAX_DEPTH = SCHEMA.max_depth; // deeper content is kept flat (its text stays)
// blocks that hold only inline content in HTML: a block inside one would be split out by
// any HTML parser, so the model never nests one there (headings: no heading inside)
export const PHRASING_BLOCKS = set(SCHEMA.phrasing_blocks);
const HEADINGS = set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']);

/**
 * May block `child` sit in block `parent` without an HTML parser moving it out?
 * @param {string} parent
 * @param {string} child
 */
export function nests(parent, child) {
  if (!PHRASING_BLOCKS.has(parent)) return true;
  return parent !== 'p' && !HEADINGS.has(child);
}

/**
 * Can `tag` sit in `parentTag`, directly or once wrapped in its default children?
 * @param {string | null} parentTag null: the root
 * @param {string} tag
 * @param {number} [depth]
 * @returns {boolean}
 */
export function contained(parentTag, tag, depth = 0) {
  const parents = CONTAINED[tag];
  if (!parents || (parentTag !== null && parents.has(parentTag))) return true;
  return accepts(parentTag, tag, depth);
}

/**
 * @param {string | null} parentTag
 * @param {string} tag
 * @param {number} depth
 * @returns {boolean}
 */
function accepts(parentTag, tag, depth) {
  if (!parentTag || !isStructural(parentTag) || depth > 3) return false;
  if (STRUCTURAL_CHILDREN[parentTag].has(tag)) return true;
  return accepts(STRUCTURAL[parentTag], tag, depth + 1);
}

/**
 * A block element of the model (not an inline element, mark or embed).
 * @param {string} tag
 */
export const isBlockTag = (tag) => BLOCKS.has(tag);
/** @param {string} tag */
export const isFlowBlock = (tag) => FLOW_BLOCKS.has(tag);
/** @param {string} tag */
export const isStructural = (tag) => Object.prototype.hasOwnProperty.call(STRUCTURAL, tag);
/** @param {string} tag */
export const isVoidBlock = (tag) => VOID_BLOCKS.has(tag);
/** @param {string} tag */
export const isMarkTag = (tag) => MARK_RANK.has(tag);

/**
 * Order of marks when nesting (outermost first); unknown names after known ones, by name.
 * @param {string} a
 * @param {string} b
 */
export function compareMarks(a, b) {
  const ra = MARK_RANK.get(a) ?? MARKS.length;
  const rb = MARK_RANK.get(b) ?? MARKS.length;
  if (ra !== rb) return ra - rb;
  return a < b ? -1 : a > b ? 1 : 0;
}
