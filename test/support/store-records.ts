/** Records as the CA hands them to its datastore, for store tests that need no real certificates. */
import type { AgentRecord, AuditEvent, AuthorityRecord, IssuedCertificateRecord } from '../../src/ca/model.js';

export function issued(
  serial: string,
  at = 0,
  o: Partial<Pick<IssuedCertificateRecord, 'spiffeId' | 'agent' | 'kind' | 'issuerId' | 'notAfter'>> = {},
): { record: IssuedCertificateRecord; event: AuditEvent } {
  const record: IssuedCertificateRecord = {
    serial,
    spiffeId: o.spiffeId ?? 'spiffe://example.org/w',
    dnsNames: ['w.example.org'],
    notBefore: at - 30,
    notAfter: o.notAfter ?? at + 3600,
    publicKeySha256: 'ab'.repeat(32),
    keyType: 'ec-p256',
    issuerId: o.issuerId ?? 'cd'.repeat(20),
    kind: o.kind ?? 'workload',
    requestedBy: 'agent:node-1',
    agent: o.agent === undefined ? 'node-1' : o.agent,
    entryId: null,
    issuedAt: at,
    certDer: Buffer.from(`certificate ${serial}`),
  };
  return { record, event: { type: 'certificate.issued', actor: record.requestedBy, data: { serial, spiffeId: record.spiffeId } } };
}

export function authority(id: string, state: AuthorityRecord['state']): AuthorityRecord {
  return {
    id,
    kind: 'root',
    state,
    parentId: null,
    certDer: Buffer.from(`root ${id}`),
    upstreamChainDer: [Buffer.from('upstream')],
    notBefore: 1_000,
    notAfter: 2_000,
    keyRef: id,
    createdAt: 1_000,
    activatedAt: state === 'active' ? 1_000 : null,
    retiredAt: null,
    taintedAt: null,
  };
}

/** An agent as attestation records it, at `at`. */
export function agentRecord(name: string, at: number): AgentRecord {
  return { name, status: 'active', attestedAt: at, lastSeen: null, svidSerial: null, svidNotAfter: null, statusChangedAt: at };
}
