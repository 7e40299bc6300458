/**
 * derElement, which the SVID encoder splices pre-encoded parts with, writes
 * what node-forge writes, across short and long length forms.
 */
import { describe, expect, it } from 'vitest';
import { derElement, Identifier, octets, seq, toDer } from '../../src/x509/asn1.js';

const CHILD_SIZES: Array<[string, number[]]> = [
  ['short lengths', [0, 1, 127]],
  ['one-octet long lengths', [128, 255]],
  ['two-octet long lengths', [256, 4000]],
  ['three-octet long lengths', [70_000]],
];

describe('derElement', () => {
  it.each(CHILD_SIZES)('%s: a SEQUENCE around encoded parts is what node-forge encodes', (_what, sizes) => {
    const children = sizes.map((n) => octets(Buffer.alloc(n, 9)));
    expect(derElement(Identifier.SEQUENCE, children.map(toDer)).toString('hex')).toBe(toDer(seq(children)).toString('hex'));
  });
});
