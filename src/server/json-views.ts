/** How records look in API responses: ISO times, SPIFFE IDs as strings. */
import type { AgentRecord, AuthorityKind, AuthorityState, EntryRecord } from '../ca/model.js';
import { agentSpiffeId } from '../identity/meshca-identity.js';
import type { AgentName } from '../identity/agent-name.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import { isoTime } from './edge.js';

export function entryJson(e: EntryRecord) {
  return {
    id: e.id,
    agent: e.agent,
    spiffeId: e.spiffeId.toString(),
    ttl: e.ttl,
    dns: e.dnsNames,
    createdAt: isoTime(e.createdAt),
    updatedAt: isoTime(e.updatedAt),
    revision: e.revision,
  };
}

export const entrySchema = {
  type: 'object',
  required: ['id', 'agent', 'spiffeId', 'ttl', 'dns', 'createdAt', 'updatedAt', 'revision'],
  properties: {
    id: { type: 'string' },
    agent: { type: 'string' },
    spiffeId: { type: 'string' },
    ttl: { type: ['integer', 'null'] },
    dns: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
    revision: { type: 'integer' },
  },
} as const;

/**
 * An agent that never attested has no time of attestation. A ban (or evict)
 * of a name the CA has not seen creates its row, and the datastores' NOT NULL
 * attested_at then holds the time of that ban; every attestation records the
 * agent SVID's serial, and nothing clears it, so a row without one never
 * attested, in either datastore and in rows written before this was noticed.
 */
export function agentAttestedAt(a: AgentRecord): number | null {
  return a.svidSerial === null ? null : a.attestedAt;
}

export function agentJson(a: AgentRecord, td: TrustDomain) {
  const attestedAt = agentAttestedAt(a);
  return {
    name: a.name,
    spiffeId: agentSpiffeId(td, a.name as AgentName).toString(),
    status: a.status,
    attestedAt: attestedAt === null ? null : isoTime(attestedAt),
    lastSeen: a.lastSeen === null ? null : isoTime(a.lastSeen),
    svidSerial: a.svidSerial,
    svidExpiresAt: a.svidNotAfter === null ? null : isoTime(a.svidNotAfter),
  };
}

export const agentSchema = {
  type: 'object',
  required: ['name', 'spiffeId', 'status', 'attestedAt', 'lastSeen', 'svidSerial', 'svidExpiresAt'],
  properties: {
    name: { type: 'string' },
    spiffeId: { type: 'string' },
    status: { type: 'string' },
    attestedAt: { type: ['string', 'null'] },
    lastSeen: { type: ['string', 'null'] },
    svidSerial: { type: ['string', 'null'] },
    svidExpiresAt: { type: ['string', 'null'] },
  },
} as const;

/** A root or intermediate as GET /v1/authorities shows it (the CLI and tests read it through this type). */
export interface AuthorityView {
  readonly id: string;
  readonly kind: AuthorityKind;
  readonly state: AuthorityState;
  /** The root new intermediates chain to, or the intermediate that signs SVIDs. */
  readonly signing: boolean;
  readonly inBundle: boolean;
  readonly parent: string | null;
  readonly subject: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly createdAt: string;
  readonly activatedAt: string | null;
  readonly retiredAt: string | null;
  /** When an operator tainted it (a suspected key compromise): it is then retired too, and its root's CRL revokes it. */
  readonly taintedAt: string | null;
  readonly keyHeld: boolean;
  /** Unexpired, unrevoked SVIDs that chain to it. */
  readonly liveSvids: number;
}
