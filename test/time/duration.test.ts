import { describe, expect, it } from 'vitest';
import { DurationSyntaxError, formatDuration, parseDuration, seconds } from '../../src/time/duration.js';

/** The text quoted as JSON quotes it (a trailing newline as \n, never a line break in the message). */
const syntaxMessage = (text: string): string =>
  `${JSON.stringify(text)} is not a duration`;

/** What parseDuration throws for `text`: its message, and whether the text was malformed (rather than out of range). */
function refusal(text: string): { message: string; malformed: boolean } {
  try {
    parseDuration(text);
  } catch (err) {
    if (err instanceof DurationSyntaxError) return { message: err.message, malformed: err.malformed };
    throw err;
  }
  throw new Error(`${JSON.stringify(text)} was read as a duration`);
}

describe('parseDuration', () => {
  it.each<[string, number]>([
    ['1s', 1],
    ['30s', 30],
    ['10m', 600],
    ['1h', 3600],
    ['24h', 86_400],
    ['1d', 86_400],
    ['365d', 31_536_000],
    ['999999999s', 999_999_999],
  ])('reads %s as %i seconds', (text, expected) => {
    expect(parseDuration(text)).toBe(expected);
  });

  it.each<[string, string]>([
    ['empty', ''],
    ['a number without unit', '1'],
    ['a unit without number', 'h'],
    ['an unknown unit', '1x'],
    ['weeks', '1w'],
    ['milliseconds', '1ms'],
    ['an uppercase unit', '1H'],
    ['a negative number', '-1s'],
    ['a plus sign', '+1s'],
    ['a fraction', '1.5h'],
    ['an exponent', '1e3s'],
    ['hexadecimal', '0x10s'],
    ['two units', '1h30m'],
    ['a space before the unit', '1 h'],
    ['a leading space', ' 1h'],
    ['a trailing space', '1h '],
    ['a trailing newline', '1h\n'],
    ['ten digits', '1000000000s'],
    ['a word', 'forever'],
  ])('refuses %s (%j) as a syntax error', (_name, text) => {
    expect(refusal(text)).toEqual({ message: syntaxMessage(text), malformed: true });
  });

  it.each(['0s', '0m', '0h', '0d', '000s'])('refuses the zero duration %s', (text) => {
    expect(refusal(text)).toEqual({ message: `"${text}" is not a positive duration`, malformed: false });
  });

  it.each(['36501d', '999999999d', '876625h'])('refuses %s, longer than a century', (text) => {
    expect(refusal(text)).toEqual({ message: `"${text}" is longer than a century (36500d)`, malformed: false });
  });

  it('reads a century, 36500d, the longest duration there is', () => {
    expect(parseDuration('36500d')).toBe(3_153_600_000);
  });

  it('throws DurationSyntaxError instances', () => {
    expect(() => parseDuration('1x')).toThrow(DurationSyntaxError);
    expect(() => parseDuration('0s')).toThrow(DurationSyntaxError);
  });
});

describe('formatDuration', () => {
  it.each<[number, string]>([
    [1, '1s'],
    [59, '59s'],
    [60, '1m'],
    [90, '90s'],
    [600, '10m'],
    [3600, '1h'],
    [5400, '90m'],
    [86_400, '1d'],
    [90_000, '25h'],
    [31_536_000, '365d'],
  ])('renders %i seconds as %s', (n, text) => {
    expect(formatDuration(seconds(n))).toBe(text);
  });

  it.each(['30s', '10m', '1h', '365d', '90s', '25h', '7d'])('round-trips %s', (text) => {
    expect(formatDuration(parseDuration(text))).toBe(text);
  });

  it('parses back to the same number of seconds for every value up to two days', () => {
    const mismatches: number[] = [];
    for (let n = 1; n <= 2 * 86_400; n++) {
      if (parseDuration(formatDuration(seconds(n))) !== n) mismatches.push(n);
    }
    expect(mismatches).toEqual([]);
  });
});

describe('seconds', () => {
  it('accepts a positive whole number', () => {
    expect(seconds(42)).toBe(42);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses %s', (n) => {
    expect(() => seconds(n)).toThrow(new RangeError(`a duration is a positive whole number of seconds, got ${n}`));
  });
});
