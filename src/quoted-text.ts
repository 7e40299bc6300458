/**
 * Text from outside (a caller, a file) quoted inside a message: JSON-escaped,
 * and then with every character that changes how text around it displays
 * written as \uXXXX too. JSON.stringify escapes only U+0000–U+001F, '"' and
 * '\'; it leaves bidi overrides and isolates (U+202A–U+202E, U+2066–U+2069),
 * marks (U+200E, U+200F), the line and paragraph separators (U+2028, U+2029),
 * the other format characters (Cf) and the C1 controls (U+007F–U+009F) as they
 * are, and those reorder or break a refusal read with `jq -r`, in a terminal,
 * or in the audit log that keeps it.
 */
export function quotedText(text: string): string {
  return JSON.stringify(text).replace(DISPLAY_CHANGING, escapedUnits);
}

/** Controls, format characters (bidi marks, overrides, isolates, zero-width ones) and the two separators. */
const DISPLAY_CHANGING = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** Each UTF-16 unit as \uXXXX, so a character beyond U+FFFF is written as its surrogate pair, as JSON does. */
function escapedUnits(character: string): string {
  let escaped = '';
  for (let i = 0; i < character.length; i++) escaped += `\\u${character.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return escaped;
}
