/** One entity tag of an If-Match / If-None-Match list: its opaque value (no quotes) and weakness. */
interface EntityTag {
  weak: boolean;
  value: string;
}

const TAG = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/;

/**
 * An If-Match or If-None-Match header (RFC 9110 section 8.8.3): '*', the list of entity tags, or
 * undefined when absent. Unparsable members are left out, so they match nothing.
 */
function parseEntityTags(header: string | string[] | undefined): '*' | EntityTag[] | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  // Splitting on commas breaks a tag that holds one; none that this API sends does (base64url, a dot).
  for (const part of text.split(',')) {
    const match = TAG.exec(part.trim());
    if (match) tags.push({ weak: match[1] !== undefined, value: match[2] ?? '' });
  }
  return tags;
}

/** Whether If-None-Match holds `value` (weak comparison: W/ is ignored, RFC 9110 section 13.1.2). */
export function noneMatchHits(header: string | string[] | undefined, value: string): boolean {
  const tags = parseEntityTags(header);
  if (tags === undefined) return false;
  return tags === '*' || tags.some((tag) => tag.value === value);
}

/**
 * The If-Match condition for the store: undefined (none), '*', or the strong tags' values. A weak
 * tag never matches for If-Match (strong comparison, RFC 9110 section 13.1.1), so it is dropped;
 * a header with no usable tag becomes an empty list, which matches nothing (412).
 */
export function ifMatchCondition(header: string | string[] | undefined): '*' | string[] | undefined {
  const tags = parseEntityTags(header);
  if (tags === undefined || tags === '*') return tags;
  return tags.filter((tag) => !tag.weak).map((tag) => tag.value);
}
