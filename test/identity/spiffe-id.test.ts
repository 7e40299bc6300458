/**
 * SpiffeId and TrustDomain follow the SPIFFE-ID specification
 * (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md): each
 * rule is one row, with the exact problem constant it must report.
 */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { InvalidSpiffeIdError, SpiffeIdProblem } from '../../src/identity/errors.js';
import { SpiffeId } from '../../src/identity/spiffe-id.js';
import { TrustDomain } from '../../src/identity/trust-domain.js';

/** The characters the specification allows, written out rather than taken from src/. */
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
const TRUST_DOMAIN_CHARS = new Set(`${LOWER}${DIGITS}.-_`);
const PATH_CHARS = new Set(`${LOWER}${UPPER}${DIGITS}.-_`);

type Problem = (typeof SpiffeIdProblem)[keyof typeof SpiffeIdProblem];

/** The problem an InvalidSpiffeIdError carries, failing the test on any other kind of error. */
function problemIn(err: unknown): string {
  expect(err).toBeInstanceOf(InvalidSpiffeIdError);
  expect((err as InvalidSpiffeIdError).code).toBe('invalid_spiffe_id');
  return (err as InvalidSpiffeIdError).problem;
}

/** The problem `make` reports, failing the test when it succeeds. */
function problemOf(make: () => unknown): string {
  try {
    make();
  } catch (err) {
    return problemIn(err);
  }
  throw new Error('expected an InvalidSpiffeIdError, but the call succeeded');
}

/** "ok" when `make` succeeds, else the problem it reports: one comparable value per input of a walk. */
function outcome(make: () => unknown): string {
  try {
    make();
    return 'ok';
  } catch (err) {
    return problemIn(err);
  }
}

/** The error `make` throws, or undefined. */
function caught(make: () => unknown): unknown {
  try {
    make();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** An ID of exactly `bytes` UTF-8 bytes: spiffe://example.org/aaaa... */
function idOfLength(bytes: number): string {
  const prefix = 'spiffe://example.org/';
  return prefix + 'a'.repeat(bytes - prefix.length);
}

const td = TrustDomain.parse('example.org');

describe('SpiffeId.parse', () => {
  it.each<[string, string, string, string]>([
    ['a workload ID', 'spiffe://example.org/workload', 'example.org', '/workload'],
    ['a trust domain ID (no path)', 'spiffe://example.org', 'example.org', ''],
    ['every allowed path character', 'spiffe://example.org/AZaz09.-_', 'example.org', '/AZaz09.-_'],
    ['several segments', 'spiffe://example.org/ns/prod/sa/web-1', 'example.org', '/ns/prod/sa/web-1'],
    ['a segment of three dots', 'spiffe://example.org/...', 'example.org', '/...'],
    ['segments that start or end with a dot', 'spiffe://example.org/.a/a./a..b', 'example.org', '/.a/a./a..b'],
    ['every allowed trust domain character', 'spiffe://a-z_0.9/w', 'a-z_0.9', '/w'],
    ['a one-character trust domain', 'spiffe://a/b', 'a', '/b'],
    ['an IPv4-like trust domain', 'spiffe://10.0.0.1/w', '10.0.0.1', '/w'],
  ])('accepts %s: %s', (_name, input, trustDomain, path) => {
    const id = SpiffeId.parse(input);
    expect(id.trustDomain.name).toBe(trustDomain);
    expect(id.path).toBe(path);
    expect(id.toString()).toBe(input);
    expect(id.toJSON()).toBe(input);
  });

  it('splits the path into segments', () => {
    expect(SpiffeId.parse('spiffe://example.org/ns/prod/sa/web').segments).toEqual(['ns', 'prod', 'sa', 'web']);
    expect(SpiffeId.parse('spiffe://example.org').segments).toEqual([]);
  });

  it.each<[string, string, Problem]>([
    // length
    ['empty', '', SpiffeIdProblem.empty],
    ['2049 bytes', idOfLength(2049), SpiffeIdProblem.tooLong],
    ['over 2048 bytes though under 2048 characters', `spiffe://example.org/${'\u00e9'.repeat(1100)}`, SpiffeIdProblem.tooLong],
    // scheme
    ['uppercase scheme', 'SPIFFE://example.org/w', SpiffeIdProblem.wrongScheme],
    ['mixed-case scheme', 'Spiffe://example.org/w', SpiffeIdProblem.wrongScheme],
    ['another scheme', 'https://example.org/w', SpiffeIdProblem.wrongScheme],
    ['one slash after the scheme', 'spiffe:/example.org/w', SpiffeIdProblem.wrongScheme],
    ['no slashes after the scheme', 'spiffe:example.org/w', SpiffeIdProblem.wrongScheme],
    ['no scheme', 'example.org/w', SpiffeIdProblem.wrongScheme],
    ['a scheme-relative reference', '//example.org/w', SpiffeIdProblem.wrongScheme],
    ['leading whitespace', ' spiffe://example.org/w', SpiffeIdProblem.wrongScheme],
    // trust domain
    ['scheme only', 'spiffe://', SpiffeIdProblem.missingTrustDomain],
    ['a path but no trust domain', 'spiffe:///w', SpiffeIdProblem.missingTrustDomain],
    ['a 256-byte trust domain', `spiffe://${'a'.repeat(256)}/w`, SpiffeIdProblem.trustDomainTooLong],
    ['an uppercase trust domain', 'spiffe://Example.org/w', SpiffeIdProblem.badTrustDomainChar],
    ['a port', 'spiffe://example.org:8443/w', SpiffeIdProblem.badTrustDomainChar],
    ['userinfo', 'spiffe://user@example.org/w', SpiffeIdProblem.badTrustDomainChar],
    ['userinfo with a password', 'spiffe://user:secret@example.org/w', SpiffeIdProblem.badTrustDomainChar],
    ['a percent-encoded trust domain', 'spiffe://exa%6Dple.org/w', SpiffeIdProblem.badTrustDomainChar],
    ['a query after the trust domain', 'spiffe://example.org?x=1', SpiffeIdProblem.badTrustDomainChar],
    ['a fragment after the trust domain', 'spiffe://example.org#f', SpiffeIdProblem.badTrustDomainChar],
    ['an IPv6 literal', 'spiffe://[::1]/w', SpiffeIdProblem.badTrustDomainChar],
    ['a non-ASCII trust domain', 'spiffe://b\u00fccher.example/w', SpiffeIdProblem.badTrustDomainChar],
    // path segments
    ['a trailing slash after the trust domain', 'spiffe://example.org/', SpiffeIdProblem.emptySegment],
    ['a trailing slash after a segment', 'spiffe://example.org/w/', SpiffeIdProblem.emptySegment],
    ['a leading double slash', 'spiffe://example.org//w', SpiffeIdProblem.emptySegment],
    ['an inner double slash', 'spiffe://example.org/a//b', SpiffeIdProblem.emptySegment],
    ['a "." segment', 'spiffe://example.org/.', SpiffeIdProblem.dotSegment],
    ['a ".." segment', 'spiffe://example.org/..', SpiffeIdProblem.dotSegment],
    ['an inner "." segment', 'spiffe://example.org/a/./b', SpiffeIdProblem.dotSegment],
    ['an inner ".." segment', 'spiffe://example.org/a/../b', SpiffeIdProblem.dotSegment],
    ['a final ".." segment', 'spiffe://example.org/a/..', SpiffeIdProblem.dotSegment],
    ['percent-encoding in the path', 'spiffe://example.org/a%20b', SpiffeIdProblem.badPathChar],
    ['a percent-encoded dot segment', 'spiffe://example.org/%2e%2e', SpiffeIdProblem.badPathChar],
    ['a query', 'spiffe://example.org/w?x=1', SpiffeIdProblem.badPathChar],
    ['a fragment', 'spiffe://example.org/w#frag', SpiffeIdProblem.badPathChar],
    ['a space', 'spiffe://example.org/a b', SpiffeIdProblem.badPathChar],
    ['a backslash', 'spiffe://example.org/a\\b', SpiffeIdProblem.badPathChar],
    ['a colon', 'spiffe://example.org/a:b', SpiffeIdProblem.badPathChar],
    ['a non-ASCII letter', 'spiffe://example.org/caf\u00e9', SpiffeIdProblem.badPathChar],
    ['a trailing newline', 'spiffe://example.org/w\n', SpiffeIdProblem.badPathChar],
  ])('refuses %s: %j', (_name, input, problem) => {
    expect(problemOf(() => SpiffeId.parse(input))).toBe(problem);
  });

  it('accepts exactly 2048 bytes', () => {
    const input = idOfLength(2048);
    expect(Buffer.byteLength(input)).toBe(2048);
    expect(SpiffeId.parse(input).toString()).toBe(input);
  });

  it('accepts a trust domain of exactly 255 bytes', () => {
    const name = 'a'.repeat(255);
    expect(SpiffeId.parse(`spiffe://${name}/w`).trustDomain.name).toBe(name);
  });

  it('reports the error as InvalidSpiffeIdError (an InvalidInputError) quoting the input', () => {
    const err = caught(() => SpiffeId.parse('spiffe://example.org/a b'));
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err).toMatchObject({
      code: 'invalid_spiffe_id',
      input: 'spiffe://example.org/a b',
      problem: SpiffeIdProblem.badPathChar,
      message: `SPIFFE ID "spiffe://example.org/a b" ${SpiffeIdProblem.badPathChar}`,
    });
  });

  it('quotes at most 80 characters of a long input in the message', () => {
    const input = idOfLength(3000);
    expect(caught(() => SpiffeId.parse(input))).toMatchObject({
      input,
      message: `SPIFFE ID "${input.slice(0, 77)}..." ${SpiffeIdProblem.tooLong}`,
    });
  });

  describe('every byte value 0..255', () => {
    const codes = Array.from({ length: 256 }, (_, c) => c);
    const char = (c: number): string => String.fromCharCode(c);

    it('in a path segment: accepted exactly for [A-Za-z0-9._-]', () => {
      const expected = codes.map((c) =>
        PATH_CHARS.has(char(c)) ? 'ok' : c === 0x2f ? SpiffeIdProblem.emptySegment : SpiffeIdProblem.badPathChar,
      );
      expect(codes.map((c) => outcome(() => SpiffeId.parse(`spiffe://example.org/path${char(c)}`)))).toEqual(expected);
    });

    it('in the trust domain: accepted exactly for [a-z0-9._-]', () => {
      // "/" ends the trust domain and would leave an empty segment; the path walk covers it
      const walked = codes.filter((c) => c !== 0x2f);
      const expected = walked.map((c) => (TRUST_DOMAIN_CHARS.has(char(c)) ? 'ok' : SpiffeIdProblem.badTrustDomainChar));
      expect(walked.map((c) => outcome(() => SpiffeId.parse(`spiffe://trustdomain${char(c)}/path`)))).toEqual(expected);
    });

    it('as a one-character segment given to fromSegments: accepted exactly for [A-Za-z0-9._-] except "."', () => {
      const expected = codes.map((c) =>
        c === 0x2e ? SpiffeIdProblem.dotSegment : PATH_CHARS.has(char(c)) ? 'ok' : SpiffeIdProblem.badPathChar,
      );
      expect(codes.map((c) => outcome(() => SpiffeId.fromSegments(td, 'ns', char(c))))).toEqual(expected);
    });
  });
});

describe('SpiffeId.parseWorkload', () => {
  it('accepts an ID with a path', () => {
    expect(SpiffeId.parseWorkload('spiffe://example.org/w').path).toBe('/w');
  });

  it.each<[string, string, Problem]>([
    ['a trust domain ID', 'spiffe://example.org', SpiffeIdProblem.noPath],
    ['a trailing slash', 'spiffe://example.org/', SpiffeIdProblem.emptySegment],
    ['an uppercase scheme', 'SPIFFE://example.org/w', SpiffeIdProblem.wrongScheme],
    ['empty', '', SpiffeIdProblem.empty],
  ])('refuses %s: %j', (_name, input, problem) => {
    expect(problemOf(() => SpiffeId.parseWorkload(input))).toBe(problem);
  });
});

describe('SpiffeId.fromSegments', () => {
  it.each<[string[], string]>([
    [['ns', 'prod', 'sa', 'web'], 'spiffe://example.org/ns/prod/sa/web'],
    [['meshca', 'agent', 'node-1'], 'spiffe://example.org/meshca/agent/node-1'],
    [['...'], 'spiffe://example.org/...'],
    [[], 'spiffe://example.org'],
  ])('builds %j as %s, equal to parsing that string', (segments, expected) => {
    const id = SpiffeId.fromSegments(td, ...segments);
    expect(id.toString()).toBe(expected);
    expect(id.segments).toEqual(segments);
    expect(id.equals(SpiffeId.parse(expected))).toBe(true);
  });

  it.each<[string, string[], Problem]>([
    ['an empty segment', ['ns', ''], SpiffeIdProblem.emptySegment],
    ['a "." segment', ['.'], SpiffeIdProblem.dotSegment],
    ['a ".." segment', ['ns', '..'], SpiffeIdProblem.dotSegment],
    ['a slash inside a segment', ['a/b'], SpiffeIdProblem.badPathChar],
    ['percent-encoding', ['a%2Fb'], SpiffeIdProblem.badPathChar],
    ['a query', ['w?x=1'], SpiffeIdProblem.badPathChar],
    ['a non-ASCII letter', ['caf\u00e9'], SpiffeIdProblem.badPathChar],
    ['a result over 2048 bytes', ['a'.repeat(2048 - 'spiffe://example.org/'.length + 1)], SpiffeIdProblem.tooLong],
  ])('refuses %s', (_name, segments, problem) => {
    expect(problemOf(() => SpiffeId.fromSegments(td, ...segments))).toBe(problem);
  });

  it('accepts a result of exactly 2048 bytes', () => {
    const id = SpiffeId.fromSegments(td, 'a'.repeat(2048 - 'spiffe://example.org/'.length));
    expect(Buffer.byteLength(id.toString())).toBe(2048);
  });
});

describe('SpiffeId.equals', () => {
  it.each<[string, string, boolean]>([
    ['spiffe://example.org/w', 'spiffe://example.org/w', true],
    ['spiffe://example.org', 'spiffe://example.org', true],
    ['spiffe://example.org/w', 'spiffe://example.org/x', false],
    ['spiffe://example.org/w', 'spiffe://example.com/w', false],
    ['spiffe://example.org/w', 'spiffe://example.org/W', false],
    ['spiffe://example.org/a/b', 'spiffe://example.org/a', false],
    ['spiffe://example.org/w', 'spiffe://example.org', false],
  ])('%s vs %s → %s', (a, b, same) => {
    expect(SpiffeId.parse(a).equals(SpiffeId.parse(b))).toBe(same);
    expect(SpiffeId.parse(b).equals(SpiffeId.parse(a))).toBe(same);
  });

  it('compares by value, not by object identity', () => {
    expect(SpiffeId.parse('spiffe://example.org/w').equals(SpiffeId.fromSegments(td, 'w'))).toBe(true);
  });
});

describe('SpiffeId.memberOf', () => {
  it.each<[string, string, boolean]>([
    ['spiffe://example.org/w', 'example.org', true],
    ['spiffe://example.org', 'example.org', true],
    ['spiffe://example.org/w', 'example.com', false],
    ['spiffe://sub.example.org/w', 'example.org', false],
    ['spiffe://example.org/w', 'sub.example.org', false],
    ['spiffe://example.org.evil/w', 'example.org', false],
    ['spiffe://example.org/w', 'example.org.', false],
  ])('%s in %s → %s', (id, trustDomain, member) => {
    expect(SpiffeId.parse(id).memberOf(TrustDomain.parse(trustDomain))).toBe(member);
  });
});

describe('TrustDomain.parse', () => {
  it.each(['example.org', 'a', 'a-z_0.9', 'x'.repeat(255)])('accepts %s', (name) => {
    const parsed = TrustDomain.parse(name);
    expect(parsed.name).toBe(name);
    expect(parsed.toString()).toBe(name);
    expect(parsed.idString()).toBe(`spiffe://${name}`);
  });

  it.each<[string, string, Problem]>([
    ['empty', '', SpiffeIdProblem.missingTrustDomain],
    ['256 bytes', 'x'.repeat(256), SpiffeIdProblem.trustDomainTooLong],
    ['uppercase', 'Example.org', SpiffeIdProblem.badTrustDomainChar],
    ['a port', 'example.org:443', SpiffeIdProblem.badTrustDomainChar],
    ['userinfo', 'user@example.org', SpiffeIdProblem.badTrustDomainChar],
    ['a slash', 'example.org/w', SpiffeIdProblem.badTrustDomainChar],
    ['a SPIFFE ID', 'spiffe://example.org', SpiffeIdProblem.badTrustDomainChar],
    ['percent-encoding', 'exa%6Dple.org', SpiffeIdProblem.badTrustDomainChar],
    ['a space', 'example .org', SpiffeIdProblem.badTrustDomainChar],
  ])('refuses %s with code invalid_spiffe_id', (_name, name, problem) => {
    const err = caught(() => TrustDomain.parse(name));
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err).toMatchObject({ code: 'invalid_spiffe_id', message: `trust domain ${JSON.stringify(name)} ${problem}` });
  });

  it('walks every byte value 0..255: accepted exactly for [a-z0-9._-]', () => {
    const codes = Array.from({ length: 256 }, (_, c) => c);
    const result = (c: number): string => {
      const err = caught(() => TrustDomain.parse(`trustdomain${String.fromCharCode(c)}`));
      if (err === undefined) return 'ok';
      expect(err).toMatchObject({ code: 'invalid_spiffe_id' });
      return (err as Error).message.endsWith(SpiffeIdProblem.badTrustDomainChar) ? 'bad char' : (err as Error).message;
    };
    expect(codes.map(result)).toEqual(codes.map((c) => (TRUST_DOMAIN_CHARS.has(String.fromCharCode(c)) ? 'ok' : 'bad char')));
  });

  it('equals compares names', () => {
    expect(TrustDomain.parse('example.org').equals(TrustDomain.parse('example.org'))).toBe(true);
    expect(TrustDomain.parse('example.org').equals(TrustDomain.parse('example.com'))).toBe(false);
  });
});
