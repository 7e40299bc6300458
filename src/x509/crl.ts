/** RFC 5280 certificate revocation lists: building them, signed by node:crypto (crl-reader.ts reads them). */
import { bitString, enumerated, explicit, implicitPrimitive, octets, oid, seq, smallInt, time, toDer, unsignedInt, type Asn1 } from './asn1.js';
import { algorithmIdentifier } from './signature-algorithms.js';
import { OID } from './oids.js';
import type { Signer } from './signer.js';

/** CRLReason codes (RFC 5280 5.3.1) meshca uses. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export function isRevocationReason(value: string): value is RevocationReason {
  return Object.hasOwn(REVOCATION_REASONS, value);
}

export interface RevokedEntry {
  /** Lowercase hex. */
  readonly serial: string;
  readonly revokedAt: number;
  readonly reason: RevocationReason;
}

export interface CrlTemplate {
  readonly issuerName: Asn1;
  readonly issuerKeyId: Buffer;
  readonly thisUpdate: number;
  readonly nextUpdate: number;
  readonly crlNumber: number;
  readonly revoked: readonly RevokedEntry[];
}

function extension(id: string, value: Asn1): Asn1 {
  return seq([oid(id), octets(toDer(value))]);
}

/** Big-endian bytes of a non-negative safe integer. */
function uintBytes(n: number): Buffer {
  const hex = n.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
}

export async function signCrl(t: CrlTemplate, signer: Signer): Promise<Buffer> {
  const entries = t.revoked.map((r) => {
    const parts = [unsignedInt(Buffer.from(r.serial.length % 2 ? `0${r.serial}` : r.serial, 'hex')), time(r.revokedAt)];
    if (r.reason !== 'unspecified') parts.push(seq([extension(OID.cRLReason, enumerated(REVOCATION_REASONS[r.reason]))]));
    return seq(parts);
  });
  const tbs = seq([
    smallInt(1),
    algorithmIdentifier(signer.algorithm),
    t.issuerName,
    time(t.thisUpdate),
    time(t.nextUpdate),
    ...(entries.length ? [seq(entries)] : []),
    explicit(0, seq([
      extension(OID.authorityKeyIdentifier, seq([implicitPrimitive(0, t.issuerKeyId)])),
      extension(OID.cRLNumber, unsignedInt(uintBytes(t.crlNumber))),
    ])),
  ]);
  const tbsDer = toDer(tbs);
  const signature = await signer.sign(tbsDer);
  return toDer(seq([tbs, algorithmIdentifier(signer.algorithm), bitString(signature)]));
}
