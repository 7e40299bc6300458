/** The key per-address limits count a client under: an IPv4 address, or an IPv6 /64. */
import { describe, expect, it } from 'vitest';
import { addressKey } from '../../src/server/client-address.js';

describe('addressKey', () => {
  it.each([
    ['an IPv4 address', '192.0.2.7', '192.0.2.7'],
    ['an IPv4-mapped IPv6 address (a dual-stack listener)', '::ffff:192.0.2.7', '192.0.2.7'],
    ['the same, in hex', '::ffff:c000:207', '192.0.2.7'],
    ['an IPv6 address', '2001:db8:1:2::a', '2001:db8:1:2::/64'],
    ['another address of that /64', '2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['that /64 spelt with leading zeros and capitals', '2001:0DB8:0001:0002:0:0:0:1', '2001:db8:1:2::/64'],
    ['the next /64', '2001:db8:1:3::a', '2001:db8:1:3::/64'],
    ['IPv6 loopback', '::1', '0:0:0:0::/64'],
    ['a link-local address with its zone', 'fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['text that is no address (kept as it is)', 'unknown', 'unknown'],
    ['no address (a client of the local socket)', undefined, 'local'],
  ])('%s: %s -> %s', (_name, ip, key) => {
    expect(addressKey(ip)).toBe(key);
  });
});
