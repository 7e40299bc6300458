/** How records look in API responses: ISO times, SPIFFE IDs as strings. */
import type { AgentRecord, EntryRecord } from '../ca/model.js';
import { agentSpiffeId } from '../ca/reserved-ids.js';
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

export function agentJson(a: AgentRecord, td: TrustDomain) {
  return {
    name: a.name,
    spiffeId: agentSpiffeId(td, a.name as AgentName).toString(),
    status: a.status,
    attestedAt: isoTime(a.attestedAt),
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
    attestedAt: { type: 'string' },
    lastSeen: { type: ['string', 'null'] },
    svidSerial: { type: ['string', 'null'] },
    svidExpiresAt: { type: ['string', 'null'] },
  },
} as const;
