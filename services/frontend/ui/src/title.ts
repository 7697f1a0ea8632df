/**
 * C0 (U+0000-U+001F: tabs, line breaks…), DEL (U+007F) and C1 (U+0080-U+009F): the backend
 * refuses a title with any of them (contract's TITLE_PATTERN).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters to replace
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/g;

/**
 * A title as typed or pasted, made one the server accepts: a control character (a pasted tab or
 * line break) becomes a space, rather than the whole todo being refused; trimmed.
 */
export function cleanTitle(text: string): string {
  return text.replace(CONTROL, ' ').trim();
}
