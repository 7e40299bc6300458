/**
 * Thin, typed helpers over node-forge's ASN.1 codec. node-forge is used here
 * for encoding and parsing only; every signature is made and checked by
 * node:crypto. Bytes cross this module as Buffers; forge's binary strings stay
 * inside it.
 */
import { createRequire } from 'node:module';
import type forge from 'node-forge';

// The codec alone: node-forge's index loads all of forge (TLS, ciphers, RSA,
// PKCS#12...), which every meshca process, the agent's included, paid for in
// start-up time and memory without running any of it. Required rather than
// imported, because Node scans a CommonJS module imported from ESM for its
// exports, and for this large file that costs more memory than it saves.
const asn1 = createRequire(import.meta.url)('node-forge/lib/asn1.js') as typeof forge.asn1;

export type Asn1 = forge.asn1.Asn1;
export const Tag = asn1.Type;
export const TagClass = asn1.Class;

/** Deepest nesting accepted from untrusted input; real CSRs and certificates stay under 10. */
const MAX_PARSE_DEPTH = 16;

export class Asn1ParseError extends Error {}

/**
 * Parses strict DER. Rejects BER (non-minimal encodings), trailing bytes and
 * nesting deeper than MAX_PARSE_DEPTH, so a signature over re-encoded parts is
 * a signature over the exact bytes received.
 */
export function parseDer(der: Buffer): Asn1 {
  const binary = der.toString('binary');
  let node: Asn1;
  try {
    node = (asn1.fromDer as unknown as (b: string, o: object) => Asn1)(binary, {
      strict: true,
      parseAllBytes: true,
      decodeBitStrings: false,
      maxDepth: MAX_PARSE_DEPTH,
    });
  } catch (err) {
    throw new Asn1ParseError(`not valid DER: ${(err as Error).message}`, { cause: err });
  }
  if (asn1.toDer(node).getBytes() !== binary) throw new Asn1ParseError('not canonical DER (BER encoding is not accepted)');
  return node;
}

export function toDer(node: Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

export const seq = (children: Asn1[]): Asn1 => asn1.create(TagClass.UNIVERSAL, Tag.SEQUENCE, true, children);
export const set = (children: Asn1[]): Asn1 => asn1.create(TagClass.UNIVERSAL, Tag.SET, true, children);
export const oid = (dotted: string): Asn1 =>
  asn1.create(TagClass.UNIVERSAL, Tag.OID, false, asn1.oidToDer(dotted).getBytes());
export const nul = (): Asn1 => asn1.create(TagClass.UNIVERSAL, Tag.NULL, false, '');
/** An ENUMERATED of a small value (below 128, one content byte), e.g. a CRLReason. */
export const enumerated = (n: number): Asn1 => asn1.create(TagClass.UNIVERSAL, Tag.ENUMERATED, false, String.fromCharCode(n));
export const bool = (value: boolean): Asn1 =>
  asn1.create(TagClass.UNIVERSAL, Tag.BOOLEAN, false, value ? '\xff' : '\x00');
export const octets = (bytes: Buffer): Asn1 =>
  asn1.create(TagClass.UNIVERSAL, Tag.OCTETSTRING, false, bytes.toString('binary'));
export const utf8 = (text: string): Asn1 =>
  asn1.create(TagClass.UNIVERSAL, Tag.UTF8, false, Buffer.from(text, 'utf8').toString('binary'));

/** A BIT STRING holding whole bytes (no unused bits), e.g. a signature. */
export const bitString = (bytes: Buffer): Asn1 =>
  asn1.create(TagClass.UNIVERSAL, Tag.BITSTRING, false, `\x00${bytes.toString('binary')}`);

/** A BIT STRING of named bits (bit 0 first), minimally encoded as DER requires. */
export function namedBits(bits: number[]): Asn1 {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  const unused = 7 - (highest % 8);
  return asn1.create(TagClass.UNIVERSAL, Tag.BITSTRING, false, String.fromCharCode(unused) + bytes.toString('binary'));
}

/** A non-negative INTEGER from big-endian magnitude bytes. */
export function unsignedInt(magnitude: Buffer): Asn1 {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let body = magnitude.subarray(start);
  if (body[0]! & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return asn1.create(TagClass.UNIVERSAL, Tag.INTEGER, false, body.toString('binary'));
}

export const smallInt = (n: number): Asn1 =>
  asn1.create(TagClass.UNIVERSAL, Tag.INTEGER, false, asn1.integerToDer(n).getBytes());

/** [n] EXPLICIT wrapper. */
export const explicit = (n: number, inner: Asn1): Asn1 => asn1.create(TagClass.CONTEXT_SPECIFIC, n, true, [inner]);

/** [n] IMPLICIT primitive value (e.g. GeneralName choices). */
export const implicitPrimitive = (n: number, bytes: Buffer): Asn1 =>
  asn1.create(TagClass.CONTEXT_SPECIFIC, n, false, bytes.toString('binary'));

/** RFC 5280 Time: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(unixSeconds: number): Asn1 {
  const date = new Date(unixSeconds * 1000);
  // GeneralizedTime has four digits for the year; past them forge would write a date no reader parses.
  if (!(date.getUTCFullYear() >= 1950 && date.getUTCFullYear() <= 9999)) throw new RangeError(`a certificate time must fall in the years 1950 to 9999, not ${unixSeconds}s`);
  return date.getUTCFullYear() < 2050
    ? asn1.create(TagClass.UNIVERSAL, Tag.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(TagClass.UNIVERSAL, Tag.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

/** Seconds since the epoch of a UTCTime or GeneralizedTime. */
export function readTime(node: Asn1 | undefined): number {
  if (!node) throw new Asn1ParseError('missing time');
  const read = is(node, TagClass.UNIVERSAL, Tag.UTCTIME) ? asn1.utcTimeToDate : is(node, TagClass.UNIVERSAL, Tag.GENERALIZEDTIME) ? asn1.generalizedTimeToDate : undefined;
  // A constructed encoding of either (DER allows neither) would reach forge as an array, not text.
  if (!read || typeof node.value !== 'string') throw new Asn1ParseError('expected a UTCTime or GeneralizedTime');
  const seconds = read(node.value).getTime() / 1000;
  if (!Number.isFinite(seconds)) throw new Asn1ParseError('a time that is no date');
  return seconds;
}

/**
 * Whether a UTCTime or GeneralizedTime is in the one form DER and RFC 5280
 * 4.1.2.5 allow, YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ, and names a real instant:
 * the only forms OpenSSL's X509_cmp_time takes. readTime reads more (no
 * seconds, an offset, a 13th month rolled into the next year).
 */
export function isDerTime(node: Asn1 | undefined): boolean {
  let date: Date;
  try {
    date = new Date(readTime(node) * 1000);
  } catch {
    return false;
  }
  const canonical = is(node, TagClass.UNIVERSAL, Tag.UTCTIME) ? asn1.dateToUtcTime(date) : asn1.dateToGeneralizedTime(date);
  return node!.value === canonical;
}

/** Raw bytes of a primitive node's value. */
export function valueBytes(node: Asn1): Buffer {
  if (typeof node.value !== 'string') throw new Asn1ParseError('expected a primitive value');
  return Buffer.from(node.value, 'binary');
}

export function children(node: Asn1): Asn1[] {
  if (!Array.isArray(node.value)) throw new Asn1ParseError('expected a constructed value');
  return node.value;
}

/** True when the node exists and has this tag; callers still narrow `undefined` themselves. */
export function is(node: Asn1 | undefined, tagClass: number, type: number): boolean {
  return node !== undefined && node.tagClass === tagClass && node.type === type;
}

export function readOid(node: Asn1 | undefined): string {
  // Primitive only (X.690 8.19.1): forge parses a constructed OID as one, and its decoder then throws a TypeError.
  if (!node || !is(node, TagClass.UNIVERSAL, Tag.OID) || typeof node.value !== 'string') throw new Asn1ParseError('expected an OBJECT IDENTIFIER');
  const bytes = node.value;
  // At least one subidentifier, and the last one ended (its final byte has the high bit clear).
  if (bytes.length === 0 || (bytes.charCodeAt(bytes.length - 1) & 0x80) !== 0) throw new Asn1ParseError('an OBJECT IDENTIFIER that is cut short');
  return asn1.derToOid(bytes);
}

/** Contents of a BIT STRING without the unused-bits byte; only whole-byte strings are accepted. */
export function readBitStringBytes(node: Asn1 | undefined): Buffer {
  if (!node || !is(node, TagClass.UNIVERSAL, Tag.BITSTRING)) throw new Asn1ParseError('expected a BIT STRING');
  const raw = valueBytes(node);
  if (raw.length === 0 || raw[0] !== 0) throw new Asn1ParseError('BIT STRING with unused bits where whole bytes are expected');
  return raw.subarray(1);
}

/** [n] IMPLICIT constructed value (e.g. a CSR's attributes, a SET OF under a context tag). */
export const implicitConstructed = (n: number, items: Asn1[]): Asn1 =>
  asn1.create(TagClass.CONTEXT_SPECIFIC, n, true, items);

/** DER length octets: short form below 128, else the minimal long form. */
function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/**
 * A DER element around contents that are already encoded (`identifier` is
 * the whole identifier octet, e.g. 0x30 for SEQUENCE). For hot paths that
 * splice pre-encoded parts; everything else builds nodes and calls toDer.
 */
export function derElement(identifier: number, contents: readonly Buffer[]): Buffer {
  const length = contents.reduce((n, c) => n + c.length, 0);
  return Buffer.concat([Buffer.from([identifier]), derLength(length), ...contents]);
}

/** Identifier octets derElement is used with. */
export const Identifier = { SEQUENCE: 0x30, BIT_STRING: 0x03, CONTEXT_3: 0xa3 } as const;
