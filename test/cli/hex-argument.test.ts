import { describe, expect, it } from 'vitest';
import { hexArgument } from '../../src/cli/hex-argument.js';

describe('a serial or authority id as typed, as the CA takes it', () => {
  it.each([
    ['as the CA lists it', '4e11e6e05b181ed5', '4e11e6e05b181ed5'],
    ['in capitals', '4E11E6E05B181ED5', '4e11e6e05b181ed5'],
    ['as openssl prints a serial', '4e:11:e6:e0', '4e11e6e0'],
    ['as openssl prints a subject key identifier', 'A5:F0:92:90', 'a5f09290'],
    ['one byte', '0A', '0a'],
    ['colons not between bytes: left for the CA to refuse', '4e1:1e6', '4e1:1e6'],
    ['a trailing colon: left for the CA to refuse', '4e:11:', '4e:11:'],
    ['not hex: left for the CA to refuse', 'nope', 'nope'],
  ])('%s', (_name, typed, sent) => {
    expect(hexArgument(typed)).toBe(sent);
  });
});
