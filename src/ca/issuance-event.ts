/**
 * The `certificate.issued` audit event: written with every certificate record
 * in one transaction, and what verification holds the record to afterwards,
 * so both sides build its data here.
 */
import { createHash } from 'node:crypto';
import type { IssuedCertificateRecord } from './model.js';

export const ISSUANCE_EVENT = 'certificate.issued';

/**
 * The field that binds the certificate itself: without it the stored DER could
 * be replaced by another that says the same serial, validity, SPIFFE ID and
 * key (other DNS names, another signature). Events written by earlier builds
 * have none.
 */
export const CERTIFICATE_HASH = 'certificateSha256';

/** When the record says it was issued, which the listings filter on (`--issued-after`); events of earlier builds have none. */
export const ISSUED_AT = 'issuedAt';

type Described = Pick<
  IssuedCertificateRecord,
  'serial' | 'spiffeId' | 'agent' | 'entryId' | 'publicKeySha256' | 'keyType' | 'notBefore' | 'notAfter' | 'issuerId' | 'certDer' | 'issuedAt'
> & { readonly kind: string };

/** What the event says of a record; the requester is the event's actor. */
export function issuanceEventData(record: Described): Record<string, string | number | null> {
  return {
    serial: record.serial,
    spiffeId: record.spiffeId,
    kind: record.kind,
    agent: record.agent,
    entryId: record.entryId,
    publicKeySha256: record.publicKeySha256,
    keyType: record.keyType,
    notBefore: record.notBefore,
    notAfter: record.notAfter,
    issuer: record.issuerId,
    [CERTIFICATE_HASH]: sha256Hex(record.certDer),
    [ISSUED_AT]: record.issuedAt,
  };
}

/** Lowercase hex, as the event's hashes are written. */
export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
