/**
 * Names compared as OpenSSL's X509_NAME_cmp compares them. crl-reader.test.ts
 * holds each case that matters to agents against `openssl verify`; these are
 * the edges of the canonical form itself.
 */
import { describe, expect, it } from 'vitest';
import { oid, toDer } from '../../src/x509/asn1.js';
import { canonicalName, sameName } from '../../src/x509/name-canon.js';

const CN = '2.5.4.3';

function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  return Buffer.concat([Buffer.from(n < 0x80 ? [tag, n] : [tag, 0x81, n]), body]);
}

/** A Name of one RDN per value, each a commonName of string `tag` holding `content`. */
const name = (...values: Array<[number, Buffer]>) =>
  tlv(0x30, Buffer.concat(values.map(([tag, content]) => tlv(0x31, tlv(0x30, Buffer.concat([toDer(oid(CN)), tlv(tag, content)]))))));
const utf8 = (text: string) => name([0x0c, Buffer.from(text, 'utf8')]);

describe('sameName', () => {
  it.each<[string, Buffer, Buffer, boolean]>([
    ['ASCII letters in another case', utf8('Web Root'), utf8('wEB rOOT'), true],
    ['every kind of ASCII white space, around and in runs within', utf8('\t\n\v\f\r web \t\n root \r'), utf8('web root'), true],
    ['a non-ASCII letter in another case (only ASCII is lowercased)', utf8('Zürich'), utf8('ZÜRICH'), false],
    ['a no-break space where a space is (not ASCII white space)', utf8('web\u00a0root'), utf8('web root'), false],
    ['a T61String read as Latin-1', name([0x14, Buffer.from('Z\xfcrich', 'latin1')]), utf8('zürich'), true],
    ['a BMPString outside ASCII', name([0x1e, Buffer.from('Zürich', 'utf16le').swap16()]), utf8('zürich'), true],
    ['a NumericString against a PrintableString of the same digits (NumericString is not converted)', name([0x12, Buffer.from('42')]), name([0x13, Buffer.from('42')]), false],
    ['two empty Names', tlv(0x30, Buffer.alloc(0)), tlv(0x30, Buffer.alloc(0)), true],
    ['an empty RDN, which OpenSSL drops', tlv(0x30, Buffer.concat([tlv(0x31, Buffer.alloc(0)), utf8('x').subarray(2)])), utf8('x'), true],
  ])('%s', (_name, a, b, same) => {
    expect(sameName(a, b)).toBe(same);
    expect(sameName(b, a)).toBe(same);
  });

  it.each<[string, Buffer]>([
    ['a UTF8String that is not UTF-8', name([0x0c, Buffer.from([0x66, 0xc3])])],
    ['a BMPString of an odd number of octets', name([0x1e, Buffer.from([0, 0x41, 0])])],
    ['a BMPString holding half a surrogate pair', name([0x1e, Buffer.from([0xd8, 0x00])])],
    ['a UniversalString beyond Unicode', name([0x1c, Buffer.from([0, 0x11, 0, 0])])],
    ['an RDN that is a SEQUENCE, not a SET', tlv(0x30, tlv(0x30, tlv(0x30, Buffer.concat([toDer(oid(CN)), tlv(0x0c, Buffer.from('x'))]))))],
  ])('%s has no canonical form, and is no Name to compare (OpenSSL cannot load what holds it)', (_name, bad) => {
    expect(canonicalName(bad)).toBeUndefined();
    expect(sameName(bad, bad)).toBe(false);
  });
});
