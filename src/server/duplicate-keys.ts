/**
 * JSON that names a key twice in one object means whatever the parser that
 * reads it decides (RFC 8259 4: "the behavior is unpredictable"): JSON.parse
 * keeps the last, other parsers the first. A proxy, an audit log and the CA
 * could then each see a different request, so meshca refuses such a body.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Index of the quote that closes the string opening at `start`. */
function stringEnd(json: string, start: number): number {
  for (let from = start + 1; ; ) {
    const quote = json.indexOf('"', from);
    let slashes = 0;
    while (json.charCodeAt(quote - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

/** A string token, decoded: escapes such as \u0061 name the same key as "a". */
function decoded(json: string, start: number, end: number): string {
  const raw = json.slice(start + 1, end);
  return raw.includes('\\') ? (JSON.parse(json.slice(start, end + 1)) as string) : raw;
}

/**
 * The first key that appears twice in one object of `json`, or undefined.
 * `json` must be text JSON.parse accepted: the scan trusts its structure.
 */
export function firstDuplicateKey(json: string): string | undefined {
  // One entry per open container: the keys seen so far in an object, null in an array.
  const open: Array<Set<string> | null> = [];
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(json, i);
      const keys = open[open.length - 1];
      if (keys) {
        let next = end + 1;
        while (isJsonSpace(json.charCodeAt(next))) next++;
        if (json.charCodeAt(next) === COLON) {
          const key = decoded(json, i, end);
          if (keys.has(key)) return key;
          keys.add(key);
        }
      }
      i = end;
    } else if (c === 0x7b) open.push(new Set());
    else if (c === 0x5b) open.push(null);
    else if (c === 0x7d || c === 0x5d) open.pop();
  }
  return undefined;
}
