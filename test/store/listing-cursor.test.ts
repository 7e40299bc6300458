/**
 * The certificate listing's cursor: the id of the last record listed. Ids go
 * up to 2^53 - 1 (beyond, they no longer read back exactly: the audit
 * verifier names such a record), and a listing must take back every cursor it
 * hands out, whatever the ids a datastore holds; anything else it refuses.
 */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { decodeCursor, encodeCursor } from '../../src/store/rows.js';

const REFUSED = new InvalidInputError('invalid_request', 'cursor is not one this server gave out');
const cursorOf = (text: string) => Buffer.from(text).toString('base64url');

describe('certificate listing cursor', () => {
  it.each([
    ['the first id', 1],
    ['the largest id of 15 digits', 999_999_999_999_999],
    ['the smallest id of 16 digits (after ids were renumbered from 10^15)', 1_000_000_000_000_000],
    ['the largest id that reads back exactly', Number.MAX_SAFE_INTEGER],
  ])('pass/%s comes back as it was given out', (_name, id) => {
    expect(decodeCursor(encodeCursor(id))).toBe(id);
  });

  it.each([
    ['one past the largest exact id (2^53)', cursorOf('c9007199254740992')],
    ['the largest of 16 digits', cursorOf('c9999999999999999')],
    ['17 digits', cursorOf('c10000000000000000')],
    ['no digits', cursorOf('c')],
    ['a negative id', cursorOf('c-1')],
    ['a fraction', cursorOf('c1.5')],
    ['an exponent', cursorOf('c1e15')],
    ['an identity listing\'s cursor', cursorOf('ispiffe://example.org/a')],
    ['not base64 of a position', 'nonsense'],
  ])('fail/%s: refused', (_name, cursor) => {
    expect(() => decodeCursor(cursor)).toThrow(REFUSED);
  });
});
