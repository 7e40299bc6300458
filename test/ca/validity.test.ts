/** A leaf's validity: the lifetime asked for, backdated for slow clocks, always inside its issuer's validity. */
import { describe, expect, it } from 'vitest';
import { decideValidity } from '../../src/ca/validity.js';
import { InvalidInputError } from '../../src/errors.js';
import { parseWrittenDuration, seconds, writtenAs } from '../../src/time/duration.js';

const NOW = 1_800_000_000;
const POLICY = { defaultTtl: seconds(3600), maxTtl: seconds(86_400), maxTtlSetting: 'svidMaxTtl in ca.yaml' };
const LONG_LIVED_ISSUER = { notBefore: NOW - 86_400, notAfter: NOW + 30 * 86_400 };

describe('decideValidity', () => {
  it.each([
    ['the default lifetime, backdated 30 s', undefined, LONG_LIVED_ISSUER, { notBefore: NOW - 30, notAfter: NOW + 3600 }],
    ['a 100 s lifetime, backdated a tenth of it', writtenAs(seconds(100)), LONG_LIVED_ISSUER, { notBefore: NOW - 10, notAfter: NOW + 100 }],
    ['an issuer expiring sooner: cut at its notAfter', undefined, { notBefore: NOW - 86_400, notAfter: NOW + 600 }, { notBefore: NOW - 30, notAfter: NOW + 600 }],
    ['an issuer valid since 5 s ago: backdated only to its notBefore', undefined, { notBefore: NOW - 5, notAfter: NOW + 86_400 }, { notBefore: NOW - 5, notAfter: NOW + 3600 }],
  ])('%s', (_name, ttl, issuer, expected) => {
    expect(decideValidity(NOW, ttl, POLICY, issuer)).toEqual(expected);
  });

  it('refuses a lifetime above the maximum rather than clamping it', () => {
    expect(() => decideValidity(NOW, writtenAs(seconds(86_401)), POLICY, LONG_LIVED_ISSUER)).toThrow(InvalidInputError);
  });

  it('quotes the refused lifetime as it was written, and names the maximum by the setting its embedding gave', () => {
    expect(() => decideValidity(NOW, parseWrittenDuration('1500m'), POLICY, LONG_LIVED_ISSUER)).toThrow(
      "ttl: 1500m is above this CA's maximum certificate lifetime of 1d (its svidMaxTtl in ca.yaml)",
    );
  });

  it.each([
    { name: 'ends before the ceiling: as asked', ttl: writtenAs(seconds(600)), ceiling: NOW + 601, notAfter: NOW + 600 },
    { name: 'ends past the ceiling: cut there', ttl: writtenAs(seconds(600)), ceiling: NOW + 599, notAfter: NOW + 599 },
    { name: 'the default lifetime past the ceiling: cut there', ttl: undefined, ceiling: NOW + 60, notAfter: NOW + 60 },
  ])('with a ceiling, a lifetime that $name', ({ ttl, ceiling, notAfter }) => {
    expect(decideValidity(NOW, ttl, POLICY, LONG_LIVED_ISSUER, ceiling).notAfter).toBe(notAfter);
  });

  it('still refuses a lifetime above the maximum under a ceiling, rather than cut it', () => {
    expect(() => decideValidity(NOW, writtenAs(seconds(86_401)), POLICY, LONG_LIVED_ISSUER, NOW + 60)).toThrow(InvalidInputError);
  });
});
