/** The nesting check that runs before JSON.parse: objects and arrays count, brackets inside strings do not. */
import { describe, expect, it } from 'vitest';
import { nestsDeeperThan } from '../../src/server/json-nesting.js';

describe('nestsDeeperThan(text, 3)', () => {
  it.each([
    ['a flat object', '{"a":1,"b":"x"}', false],
    ['exactly three levels', '{"a":[{"b":1}]}', false],
    ['three levels, twice in a row', '[[[]]],[[[]]]', false],
    ['four levels', '{"a":[{"b":[]}]}', true],
    ['four arrays', '[[[[]]]]', true],
    ['brackets inside a string', '{"a":"[[[[{{{{"}', false],
    ['an escaped quote inside a string, brackets after it still in the string', '{"a":"\\"[[[["}', false],
    ['an escaped backslash closing a string, brackets after it counted', '{"a":"\\\\",' + '"b":[[[1]]]}', true],
    ['not JSON at all (JSON.parse refuses it afterwards)', '[[[[', true],
  ])('%s → %s', (_name, text, expected) => {
    expect(nestsDeeperThan(text, 3)).toBe(expected);
  });

  it('a megabyte of opening brackets', () => {
    const text = '['.repeat(1 << 20);
    expect(nestsDeeperThan(text, 3)).toBe(true);
  });
});
