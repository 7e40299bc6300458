/**
 * The `certificate.issued` audit event: written with every certificate record
 * in one transaction, and what verification holds the record to afterwards,
 * so both sides build its data here.
 */
import type { IssuedCertificateRecord } from './model.js';

export const ISSUANCE_EVENT = 'certificate.issued';

type Described = Pick<
  IssuedCertificateRecord,
  'serial' | 'spiffeId' | 'agent' | 'entryId' | 'publicKeySha256' | 'keyType' | 'notBefore' | 'notAfter' | 'issuerId'
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
  };
}
