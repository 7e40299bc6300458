/**
 * Strict DER read in place: where each element of a buffer starts and ends,
 * its values left undecoded. For structures too long for the tree node-forge
 * builds (asn1.ts), such as a CRL of tens of thousands of entries, which the
 * agent's interpreter-only V8 (cli/agent-v8-flags.ts) took seconds to build.
 * The rules are parseDer's: one-byte tags, definite lengths in their
 * shortest form, INTEGERs in theirs, nothing past the end, nesting at most
 * MAX_DEPTH deep.
 */
import { Asn1ParseError } from './asn1.js';

/** One element, by offsets into the buffer it was read from. */
export interface DerElement {
  readonly tag: number;
  readonly start: number;
  /** Where its value starts, after tag and length. */
  readonly valueStart: number;
  readonly end: number;
}

export const DER_TAG = {
  INTEGER: 0x02,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  /** [0] constructed, context-specific. */
  CONTEXT_0: 0xa0,
} as const;

const CONSTRUCTED = 0x20;
const MAX_DEPTH = 16;
/** Four length octets are more than any buffer this reads: a longer length is refused rather than computed past 2^53. */
const MAX_LENGTH_OCTETS = 4;

/** The element starting at `offset`, which must end by `limit`. */
export function elementAt(der: Buffer, offset: number, limit: number): DerElement {
  if (offset + 2 > limit) throw new Asn1ParseError('not valid DER: an element is cut short');
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new Asn1ParseError('not valid DER: a multi-byte tag');
  const first = der[offset + 1]!;
  let length = first;
  let valueStart = offset + 2;
  if (first & 0x80) {
    const octets = first & 0x7f;
    if (octets === 0) throw new Asn1ParseError('not valid DER: an indefinite length');
    if (octets > MAX_LENGTH_OCTETS || valueStart + octets > limit) throw new Asn1ParseError('not valid DER: a length that is cut short or too long');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + der[valueStart + i]!;
    // The shortest form only: no leading zero octet, and the long form only past 127.
    if (der[valueStart] === 0 || length < 0x80) throw new Asn1ParseError('not canonical DER (BER encoding is not accepted)');
    valueStart += octets;
  }
  const end = valueStart + length;
  if (end > limit) throw new Asn1ParseError('not valid DER: an element runs past its end');
  if (tag === DER_TAG.INTEGER && !minimalInteger(der, valueStart, end)) throw new Asn1ParseError('not canonical DER: an INTEGER not in its shortest form');
  return { tag, start: offset, valueStart, end };
}

/**
 * At least one octet, and no first octet that only repeats the sign of the
 * next: OpenSSL refuses any other INTEGER (zero content, illegal padding), so
 * no proxy could load a CRL holding one; parseDer refused the padded ones too
 * (node-forge re-encodes them an octet shorter).
 */
function minimalInteger(der: Buffer, valueStart: number, end: number): boolean {
  if (end - valueStart < 2) return end > valueStart;
  const first = der[valueStart]!;
  const nextIsNegative = (der[valueStart + 1]! & 0x80) !== 0;
  return !(first === 0x00 && !nextIsNegative) && !(first === 0xff && nextIsNegative);
}

/** The one element `der` holds, with nothing after it. */
export function wholeElement(der: Buffer): DerElement {
  const element = elementAt(der, 0, der.length);
  if (element.end !== der.length) throw new Asn1ParseError('not valid DER: bytes after the end');
  return element;
}

/** The elements a constructed element holds, each read to its end (not into its own children). */
export function childrenOf(der: Buffer, parent: DerElement): DerElement[] {
  if (!(parent.tag & CONSTRUCTED)) throw new Asn1ParseError('expected a constructed value');
  const found: DerElement[] = [];
  for (let offset = parent.valueStart; offset < parent.end; ) {
    const child = elementAt(der, offset, parent.end);
    found.push(child);
    offset = child.end;
  }
  return found;
}

/** Refuses `element` unless every element nested in it is well formed by the rules above. */
export function checkNested(der: Buffer, element: DerElement, depth = 1): void {
  if (!(element.tag & CONSTRUCTED)) return;
  if (depth >= MAX_DEPTH) throw new Asn1ParseError('not valid DER: nested too deep');
  for (let offset = element.valueStart; offset < element.end; ) {
    const child = elementAt(der, offset, element.end);
    checkNested(der, child, depth + 1);
    offset = child.end;
  }
}

/** The bytes of an element, tag and length included. */
export const bytesOf = (der: Buffer, element: DerElement): Buffer => der.subarray(element.start, element.end);
