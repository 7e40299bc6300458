/**
 * Request fields become typed values at the edge. Query times: RFC 3339 or
 * epoch seconds, nothing the server's timezone or Date's leniency could
 * reinterpret. Lifetimes: a duration string or a JSON integer of seconds, and
 * a refusal says how to write the kind of value that was sent. Serials: the
 * form the CA records, however they were typed.
 */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { serialField, timeField, ttlField } from '../../src/server/edge.js';
import { DURATION_SYNTAX } from '../../src/time/duration.js';

const at = (iso: string) => Date.parse(iso) / 1000;

describe('timeField', () => {
  it.each([
    ['a date (midnight UTC)', '2026-11-25', at('2026-11-25T00:00:00Z')],
    ['a UTC time', '2026-11-25T12:00:00Z', at('2026-11-25T12:00:00Z')],
    ['lower-case t and z, as RFC 3339 allows', '2026-11-25t12:00:00z', at('2026-11-25T12:00:00Z')],
    ['an offset and a fraction (rounded down to the second)', '2026-11-25T12:00:00.999+01:00', at('2026-11-25T11:00:00Z')],
    ['29 February of a leap year', '2024-02-29', at('2024-02-29T00:00:00Z')],
    ['epoch seconds', '1764072000', 1764072000],
  ])('pass/%s: %s', (_name, value, expected) => {
    expect(timeField('since', value)).toBe(expected);
  });

  it.each([
    ['a day the month does not have', '2026-11-31'],
    ['29 February of a common year', '2026-02-29'],
    ['hour 24', '2026-11-25T24:00:00Z'],
    ['minute 60', '2026-11-25T12:60:00Z'],
    ['a time without a zone (it would be read in the server\'s timezone)', '2026-11-25T12:00:00'],
    ['a zone abbreviation', '2099-11-25 PST'],
    ['a time without seconds', '2026-11-25T12:00Z'],
    ['words', 'yesterday'],
    ['negative seconds', '-5'],
  ])('fail/%s: %s -> 400 invalid_request naming the field', (_name, value) => {
    expect(() => timeField('since', value)).toThrow(InvalidInputError);
    expect(() => timeField('since', value)).toThrow(expect.objectContaining({ code: 'invalid_request', message: expect.stringMatching(/^since: .* is not a time \(use RFC 3339/) }));
  });

  it('fail/the refusal names every form a time may take: RFC 3339, a bare date, seconds since the epoch', () => {
    expect(() => timeField('since', '2026-11-31')).toThrow(
      'since: "2026-11-31" is not a time (use RFC 3339, e.g. 2026-11-25T12:00:00Z, a date, 2026-11-25 for its midnight UTC, or seconds since the epoch)',
    );
  });

  it('pass/absent stays absent', () => {
    expect(timeField('since', undefined)).toBeUndefined();
  });
});

describe('ttlField', () => {
  it.each([
    ['a duration string', '90s', { seconds: 90, written: '90s' }],
    ['minutes, kept as written for a refusal to quote', '300m', { seconds: 18_000, written: '300m' }],
    ['an integer: whole seconds', 300, { seconds: 300, written: '300s' }],
  ])('pass/%s: %j', (_name, value, expected) => {
    expect(ttlField(value)).toEqual(expected);
  });

  // A string of bare seconds is no duration, so a string is never told "or whole seconds"; an integer is never told about units.
  const forAString = `(a string is ${DURATION_SYNTAX}; whole seconds are sent as a JSON integer)`;
  it.each([
    ['a string of bare seconds', '300', `ttl: "300" is not a duration ${forAString}`],
    ['an unknown unit', '5x', `ttl: "5x" is not a duration ${forAString}`],
    ['a zero duration', '0s', `ttl: "0s" is not a positive duration ${forAString}`],
    ['a newline, an escape and a bidi override, escaped', '1\n\u001b\u202eh', String.raw`ttl: "1\n\u001b\u202eh" is not a duration ` + forAString],
    ['zero seconds', 0, 'ttl: 0 is not a positive whole number of seconds'],
    ['a fraction of a second', 1.5, 'ttl: 1.5 is not a positive whole number of seconds'],
  ])('fail/%s: %j -> 400 invalid_ttl worded for what was sent', (_name, value, message) => {
    expect(() => ttlField(value)).toThrow(InvalidInputError);
    expect(() => ttlField(value)).toThrow(expect.objectContaining({ code: 'invalid_ttl', message }));
  });

  it('pass/absent stays absent', () => {
    expect(ttlField(undefined)).toBeUndefined();
  });
});

describe('serialField', () => {
  it.each([
    ['a serial as stored', '05ab', '05ab'],
    ['its leading zero digit dropped', '5ab', '05ab'],
    ['in capitals, with zero bytes in front', '0005AB', '05ab'],
    ['an even number of digits without zeros', '7fab', '7fab'],
    ['zero', '0', '00'],
  ])('pass/%s (%s) is the serial the CA records (%s)', (_what, typed, recorded) => {
    expect(serialField(typed)).toBe(recorded);
  });
});
