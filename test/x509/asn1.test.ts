/**
 * derElement, which the SVID encoder splices pre-encoded parts with, writes
 * what node-forge writes, across short and long length forms; and of
 * node-forge, only the ASN.1 codec is ever loaded.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Asn1ParseError, derElement, Identifier, octets, readOid, readTime, seq, Tag, TagClass, time, toDer, type Asn1 } from '../../src/x509/asn1.js';

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

describe('time', () => {
  it.each<[string, number]>([
    ['the last second of 2049 (UTCTime)', Date.UTC(2049, 11, 31, 23, 59, 59) / 1000],
    ['the first second of 2050 (GeneralizedTime)', Date.UTC(2050, 0, 1) / 1000],
    ['the last second of 9999', Date.UTC(9999, 11, 31, 23, 59, 59) / 1000],
  ])('writes %s so that it reads back', (_name, seconds) => {
    expect(readTime(time(seconds))).toBe(seconds);
  });

  it.each<[string, number]>([
    ['the year 10000', Date.UTC(10000, 0, 1) / 1000],
    ['1949', Date.UTC(1949, 11, 31) / 1000],
    ['not a number', Number.NaN],
  ])('refuses %s, which neither time type can hold', (_name, seconds) => {
    expect(() => time(seconds)).toThrow(RangeError);
  });
});

describe('readers of untrusted DER', () => {
  const primitive = (type: number, value: string): Asn1 => ({ tagClass: TagClass.UNIVERSAL, type, constructed: false, composed: false, value });
  const constructed = (inner: Asn1): Asn1 => ({ ...inner, constructed: true, composed: true, value: [inner] });
  const utcTime = primitive(Tag.UTCTIME, '491231235959Z');

  it.each<[string, () => unknown]>([
    ['a constructed UTCTime', () => readTime(constructed(utcTime))],
    ['a UTCTime that is no date', () => readTime(primitive(Tag.UTCTIME, 'not a time'))],
    ['a constructed OBJECT IDENTIFIER', () => readOid(constructed(primitive(Tag.OID, '\x2a\x03')))],
    ['an empty OBJECT IDENTIFIER', () => readOid(primitive(Tag.OID, ''))],
    ['an OBJECT IDENTIFIER whose last subidentifier is cut short', () => readOid(primitive(Tag.OID, '\x2a\x86'))],
  ])('refuse %s with Asn1ParseError, which callers turn into a 400', (_what, read) => {
    expect(read).toThrow(Asn1ParseError);
  });

  it('read what DER writes', () => {
    expect(readTime(utcTime)).toBe(Date.UTC(2049, 11, 31, 23, 59, 59) / 1000);
    expect(readOid(primitive(Tag.OID, '\x2a\x86\x48'))).toBe('1.2.840');
  });
});

describe('node-forge', () => {
  it('is loaded as its ASN.1 codec alone, without its RSA, TLS or ciphers, by everything that encodes or parses X.509', () => {
    // A fresh process of the built code (npm test builds first), so that nothing else this test runner loaded counts.
    const dist = resolve(import.meta.dirname, '../../dist/src');
    const script = `
      for (const m of ['x509/csr.js', 'x509/certificate-reader.js', 'x509/crl.js', 'x509/svid-encoder.js', 'x509/certificate.js', 'agent/sidecar.js', 'server/app.js']) await import('${dist}/' + m);
      const { createRequire } = await import('node:module');
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((f) => f.includes('/node-forge/'));
      console.log(JSON.stringify(loaded.map((f) => f.slice(f.lastIndexOf('/') + 1)).sort()));`;
    const loaded = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
    expect(loaded).toEqual(['asn1.js', 'baseN.js', 'forge.js', 'oids.js', 'util.js']);
  });
});
