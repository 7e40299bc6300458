/**
 * How deeply a JSON text nests, looked at before JSON.parse: parsing a
 * megabyte of "[[[[…" costs the main thread about 0.4 s (and the duplicate-key
 * scan more), while no request meshca takes nests deeper than a few levels.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Deepest nesting of objects and arrays a request body may have. */
export const MAX_JSON_NESTING = 16;

/** True when `text` opens more than `max` objects or arrays inside one another; brackets inside strings do not count. */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip the string: to the next quote not escaped by a backslash.
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}
