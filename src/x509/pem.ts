/** PEM (RFC 7468) encoding and a strict, bounded decoder. */

export interface PemBlock {
  readonly label: string;
  readonly der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]{1,64})-----\r?\n([A-Za-z0-9+/=\r\n\t ]*?)-----END \1-----/g;
/** Any encapsulation boundary that opens a block, read or not; a BLOCK holds exactly one. */
const BEGIN = /-----BEGIN ([^\r\n]{0,64}?)-----/g;

export class PemError extends Error {}

export function encodePem(label: string, der: Buffer): string {
  const base64 = der.toString('base64');
  let body = '';
  for (let at = 0; at < base64.length; at += 64) body += `${base64.slice(at, at + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/**
 * Every PEM block in the text, in order. Text between blocks (comments) is
 * ignored, but a BEGIN line that opens no block this reader takes (RFC 1421
 * headers, as an encrypted traditional key has; no END line) is refused: passed
 * over, it would hide from a caller that refuses what else a file holds.
 */
export function decodePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const starts = new Set<number>();
  for (const match of text.matchAll(BLOCK)) {
    starts.add(match.index);
    const base64 = match[2]!.replace(/[\r\n\t ]/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) {
      throw new PemError(`the ${match[1]} block is not valid base64`);
    }
    blocks.push({ label: match[1]!, der: Buffer.from(base64, 'base64') });
  }
  const unread = [...text.matchAll(BEGIN)].find((begin) => !starts.has(begin.index));
  if (unread) throw new PemError(`the ${unread[1]} block is not PEM this reader takes (RFC 7468: no headers, and an END line of the same label)`);
  return blocks;
}

/** Exactly one block with one of the given labels, or a PemError saying what was found instead. */
export function decodeSinglePem(text: string, labels: readonly string[]): PemBlock {
  const blocks = decodePemBlocks(text);
  if (blocks.length === 0) throw new PemError(`expected a PEM block (${labels.join(' or ')}), found none`);
  if (blocks.length > 1) throw new PemError(`expected one PEM block, found ${blocks.length}`);
  const block = blocks[0]!;
  if (!labels.includes(block.label)) throw new PemError(`expected ${labels.join(' or ')}, found ${block.label}`);
  return block;
}

export function certificatesToPem(ders: readonly Buffer[]): string {
  return ders.map((der) => encodePem('CERTIFICATE', der)).join('');
}

/** CA certificates go into every chain and bundle served: each is encoded once, while its DER buffer lives. */
const caPem = new WeakMap<Buffer, string>();

export function caCertificatesToPem(ders: readonly Buffer[]): string {
  let pem = '';
  for (const der of ders) {
    let one = caPem.get(der);
    if (one === undefined) caPem.set(der, (one = encodePem('CERTIFICATE', der)));
    pem += one;
  }
  return pem;
}

/** All CERTIFICATE blocks in the text; other blocks are refused. */
export function decodeCertificates(text: string): Buffer[] {
  return decodePemBlocks(text).map((b) => {
    if (b.label !== 'CERTIFICATE') throw new PemError(`expected CERTIFICATE blocks, found ${b.label}`);
    return b.der;
  });
}
