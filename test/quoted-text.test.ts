/** Caller text quoted in a message cannot change how the text around it displays. */
import { describe, expect, it } from 'vitest';
import { quotedText } from '../src/quoted-text.js';

describe('quotedText', () => {
  it.each([
    ['a right-to-left override', 'a\u202eb', String.raw`"a\u202eb"`],
    ['the other bidi embeddings and overrides', '\u202a\u202b\u202c\u202d', String.raw`"\u202a\u202b\u202c\u202d"`],
    ['the bidi isolates', '\u2066\u2067\u2068\u2069', String.raw`"\u2066\u2067\u2068\u2069"`],
    ['the left-to-right and right-to-left marks', '\u200e\u200f\u061c', String.raw`"\u200e\u200f\u061c"`],
    ['the line and paragraph separators', 'a\u2028b\u2029c', String.raw`"a\u2028b\u2029c"`],
    ['zero-width and byte-order characters', '\u200b\u200d\ufeff', String.raw`"\u200b\u200d\ufeff"`],
    ['DEL and the C1 controls (CSI, NEL)', '\u007f\u009b\u0085', String.raw`"\u007f\u009b\u0085"`],
    ['a format character beyond U+FFFF, as its surrogate pair', 'tag\u{e0001}', String.raw`"tag\udb40\udc01"`],
    ['C0 controls, quotes and backslashes, as JSON writes them', 'a\n\u001b"\\', String.raw`"a\n\u001b\"\\"`],
  ])('escapes %s', (_what, text, quoted) => {
    expect(quotedText(text)).toBe(quoted);
  });

  it.each([
    ['letters of other scripts', 'név-שלום-名前'],
    ['a character beyond U+FFFF that is no format character', 'ok-\u{1f512}'],
  ])('keeps %s as they are', (_what, text) => {
    expect(quotedText(text)).toBe(`"${text}"`);
  });
});
