/**
 * IP address text to iPAddress SAN octets (RFC 5280 4.2.1.6: 4 for IPv4, 16
 * for IPv6), by the RFC 4291 2.2 text forms; anything else is refused.
 */
import { describe, expect, it } from 'vitest';
import { looksLikeIpAddress, parseIpAddress } from '../../src/x509/ip-address.js';

describe('parseIpAddress', () => {
  it.each<[string, string]>([
    ['0.0.0.0', '00000000'],
    ['255.255.255.255', 'ffffffff'],
    ['10.0.0.7', '0a000007'],
    ['2001:db8:0:0:1:0:0:1', '20010db8000000000001000000000001'],
    ['2001:0DB8:0000:0000:0001:0000:0000:0001', '20010db8000000000001000000000001'],
    ['2001:db8::1:0:0:1', '20010db8000000000001000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['fe80::', 'fe800000000000000000000000000000'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
    ['::10.0.0.1', '0000000000000000000000000a000001'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255', 'ffffffffffffffffffffffffffffffff'],
  ])('pass/%s', (text, hex) => {
    const ip = parseIpAddress(text);
    expect(ip.octets.toString('hex')).toBe(hex);
    expect(ip.text).toBe(text);
  });

  it.each([
    '', '1.2.3', '1.2.3.4.5', '1.2.3.256', '01.2.3.4', '1.2.3.-4', '1.2.3.4 ', ' 1.2.3.4', '0x1.2.3.4',
    ':', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8',
    ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', '12345::', 'g::1', 'fe80::1%eth0', '[::1]',
    '1.2.3.4::', '1.2.3.4:1::', '::1.2.3.4:1', '1:2:3:4:5:6:7:1.2.3.4', '::ffff:1.2.3', '::ffff:1.2.3.256',
    `${'0'.repeat(40)}::1`,
  ])('fail/%j', (text) => {
    expect(() => parseIpAddress(text)).toThrow(`${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
  });

  it.each([['0.0.0.0', true], ['::', true], ['0:0:0:0:0:0:0:0', true], ['::1', false], ['::ffff:0.0.0.0', false]] as const)(
    'pass/%s is unspecified: %s',
    (text, unspecified) => {
      expect(parseIpAddress(text).unspecified).toBe(unspecified);
    },
  );
});

describe('looksLikeIpAddress', () => {
  it.each([['10.0.0.256', true], ['1.2.3', true], ['::1', true], ['fe80::1%eth0', true], ['ca.example', false], ['10.0.0.7.nip.io', false], ['host-1', false]] as const)(
    '%s: %s',
    (text, looks) => {
      expect(looksLikeIpAddress(text)).toBe(looks);
    },
  );
});
