/** DNS names for subjectAltNames: what is accepted, as what, and why the rest is refused. */
import { describe, expect, it } from 'vitest';
import { parseDnsName } from '../../src/identity/dns-name.js';

describe('parseDnsName accepts', () => {
  it.each([
    ['web.example.org', 'web.example.org'],
    ['WEB.Example.ORG', 'web.example.org'],
    ['*.example.org', '*.example.org'],
    ['localhost', 'localhost'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['*.xn--nxasmq6b.com', '*.xn--nxasmq6b.com'],
    ['1password.com', '1password.com'],
    ['web.0xide', 'web.0xide'],
    ['web-1.example.org', 'web-1.example.org'],
  ])('%s as %s', (input, name) => {
    expect(parseDnsName(input)).toBe(name);
  });
});

describe('parseDnsName refuses (invalid_dns_name)', () => {
  const SYNTAX = 'labels of a-z, 0-9 and inner hyphens';
  const ADDRESS = 'its last label is a number, so it reads as an IP address';
  it.each([
    ['a non-ASCII letter that lowercases to ASCII (the Kelvin sign)', '\u212Aelvin.example', SYNTAX],
    ['a Unicode name (give its xn-- form)', 'bücher.example', SYNTAX],
    ['an underscore', 'bad_name.example', SYNTAX],
    ['a trailing dot', 'web.example.org.', SYNTAX],
    ['a wildcard not leftmost', 'web.*.example.org', SYNTAX],
    ['a bare wildcard', '*', SYNTAX],
    ['an IPv4 address', '127.0.0.1', ADDRESS],
    ['an out-of-range dotted quad', '999.999.999.999', ADDRESS],
    ['five numbers', '1.2.3.4.5', ADDRESS],
    ['a hex-and-number address form', '0x7f.1', ADDRESS],
    ['a hex last label', '1.2.3.0x4', ADDRESS],
    ['one hex number', '0x7f000001', ADDRESS],
    ['a wildcard on a top-level domain', '*.com', 'a wildcard must stand for a label under a name of at least two'],
    ['an xn-- label that does not decode', 'xn--a.com', 'an xn-- label that is not valid punycode'],
    ['an empty xn-- label', 'web.xn--.com', SYNTAX],
  ])('%s: %s', (_name, input, why) => {
    expect(() => parseDnsName(input)).toThrow(expect.objectContaining({ code: 'invalid_dns_name', message: expect.stringContaining(why) }));
  });
});
