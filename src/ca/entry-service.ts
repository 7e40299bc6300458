/**
 * Registration entries and the workload SVIDs they grant. The identity, DNS
 * names and lifetime of a workload SVID come from its entry; the agent's CSR
 * contributes only the public key.
 */
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError } from '../errors.js';
import type { AgentName } from '../identity/agent-name.js';
import type { DnsName } from '../identity/dns-name.js';
import type { SpiffeId } from '../identity/spiffe-id.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import { writtenAs, type WrittenDuration } from '../time/duration.js';
import type { VerifiedCsr } from '../x509/csr.js';
import type { RandomSource } from '../random/random-source.js';
import type { EntryRecord } from './model.js';
import { entryAfter, entryCursor, pageOf, type Page } from './registration-cursors.js';
import type { RegistrationStore } from './registration-ports.js';
import { assertNoCaName, assertNotReserved } from './reserved-ids.js';
import { assertStandingAfterIssuance, type RequestingAgent, type Revoke } from './standing-after-issuance.js';
import type { IssuedSvid, SvidIssuer } from './svid-issuer.js';
import { ttlAboveMaximum, type LifetimePolicy } from './validity.js';
import { quotedText } from '../quoted-text.js';

/** An entry as a request writes it: its ttl as written, for a refusal to quote; the record keeps the seconds. */
export interface EntryFields {
  readonly agent: AgentName;
  readonly spiffeId: SpiffeId;
  readonly ttl: WrittenDuration | null;
  readonly dnsNames: readonly DnsName[];
}

/** The fields as the record keeps them. */
function recorded(fields: EntryFields): Omit<EntryRecord, 'id' | 'createdAt' | 'updatedAt' | 'revision'> {
  return { agent: fields.agent, spiffeId: fields.spiffeId, ttl: fields.ttl?.seconds ?? null, dnsNames: fields.dnsNames };
}

export interface WorkloadSvidRequest {
  readonly entryId: string;
  readonly csr: VerifiedCsr;
}

export interface EntryServiceDeps {
  readonly store: RegistrationStore;
  readonly issuer: SvidIssuer;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** Revokes what a request was issued when its agent lost its standing while they were signed. */
  readonly revoke: Revoke;
}

/**
 * 'check' runs every check a write would (the CA's rules, and one entry per
 * agent and SPIFFE ID) and stores nothing, as Kubernetes' server-side dry run
 * does: a client applying many changes asks first whether each would be
 * taken, so that a refusal comes before the first change rather than midway.
 */
export type WriteMode = 'write' | 'check';

export class EntryService {
  constructor(
    private readonly deps: EntryServiceDeps,
    private readonly settings: { trustDomain: TrustDomain; lifetimes: Pick<LifetimePolicy, 'maxTtl' | 'maxTtlSetting'>; caDnsNames: readonly DnsName[] },
  ) {}

  async create(fields: EntryFields, by: string, mode: WriteMode = 'write'): Promise<EntryRecord> {
    this.check(fields);
    await this.assertUnique(fields, undefined);
    const now = nowSeconds(this.deps.clock);
    const entry: EntryRecord = { id: this.newId(), ...recorded(fields), createdAt: now, updatedAt: now, revision: 1 };
    if (mode === 'check') return entry;
    await this.deps.store.createEntry(entry, { type: 'entry.created', actor: by, data: entryData(entry) });
    return entry;
  }

  async update(id: string, patch: Partial<EntryFields>, by: string, mode: WriteMode = 'write'): Promise<EntryRecord> {
    const current = await this.get(id);
    const fields: EntryFields = { ...current, ttl: current.ttl === null ? null : writtenAs(current.ttl), ...patch };
    this.check(fields);
    const entry: EntryRecord = {
      ...current,
      ...recorded(fields),
      updatedAt: nowSeconds(this.deps.clock),
      revision: current.revision + 1,
    };
    await this.assertUnique(entry, id);
    if (mode === 'check') return entry;
    await this.deps.store.updateEntry(entry, { type: 'entry.updated', actor: by, data: entryData(entry) });
    return entry;
  }

  async delete(id: string, by: string): Promise<void> {
    const entry = await this.get(id);
    await this.deps.store.deleteEntry(id, { type: 'entry.deleted', actor: by, data: entryData(entry) });
  }

  async get(id: string): Promise<EntryRecord> {
    const entry = await this.deps.store.getEntry(id);
    // An id the caller sent, escaped: a refusal reaches the log, where a newline or a bidi override would mislead.
    if (!entry) throw new NotFoundError(`entry ${quotedText(id)}`);
    return entry;
  }

  list(filter: { agent?: string } = {}): Promise<EntryRecord[]> {
    return this.deps.store.listEntries(filter);
  }

  /** Up to `limit` entries in the order of agent, SPIFFE ID and id, after the cursor's (from the first when null). */
  async page(filter: { agent?: string }, cursor: string | null, limit: number): Promise<Page<EntryRecord>> {
    const rows = await this.deps.store.listEntries(filter, { after: cursor === null ? null : entryAfter(cursor), limit: limit + 1 });
    return pageOf(rows, limit, entryCursor);
  }

  private async grantedEntry(agent: AgentName, entryId: string): Promise<EntryRecord> {
    const entry = await this.deps.store.getEntry(entryId);
    // The same answer for "no such entry" and "someone else's entry": agents learn nothing about others. The id is
    // escaped (quotedText): this refusal is audited, in a log kept for good.
    if (!entry || entry.agent !== agent) {
      throw new ForbiddenError('entry_not_granted', `entry ${quotedText(entryId)} is not granted to agent ${agent}`);
    }
    return entry;
  }

  /**
   * Issues one SVID per request, all or nothing: every entry must be granted to
   * this agent before any certificate is signed.
   */
  async issueWorkloadSvids(
    requester: RequestingAgent,
    requests: readonly WorkloadSvidRequest[],
  ): Promise<Array<{ entry: EntryRecord; svid: IssuedSvid }>> {
    const agent = requester.name;
    // Each entry looked up once, however many CSRs of the batch name it.
    const granted = new Map<string, Promise<EntryRecord>>();
    const grantedEntry = (entryId: string) => {
      let found = granted.get(entryId);
      if (!found) granted.set(entryId, (found = this.grantedEntry(agent, entryId)));
      return found;
    };
    const entries = await Promise.all(requests.map(({ entryId }) => grantedEntry(entryId)));
    const svids = await this.deps.issuer.issueAll(
      entries.map((entry, i) => ({
        csr: requests[i]!.csr,
        spiffeId: entry.spiffeId,
        dnsNames: entry.dnsNames,
        ...(entry.ttl ? { ttl: writtenAs(entry.ttl) } : {}),
        kind: 'workload' as const,
        requestedBy: `agent:${agent}`,
        agent,
        entryId: entry.id,
      })),
    );
    await assertStandingAfterIssuance(this.deps, requester, svids.map((svid) => svid.serial));
    return entries.map((entry, i) => ({ entry, svid: svids[i]! }));
  }

  private check(fields: EntryFields): void {
    if (!fields.spiffeId.memberOf(this.settings.trustDomain)) {
      throw new InvalidInputError('foreign_trust_domain', `${fields.spiffeId} is not in trust domain ${this.settings.trustDomain.name}`);
    }
    assertNotReserved(fields.spiffeId);
    assertNoCaName(fields.dnsNames, this.settings.caDnsNames);
    if (fields.ttl !== null && fields.ttl.seconds > this.settings.lifetimes.maxTtl) throw ttlAboveMaximum(fields.ttl, this.settings.lifetimes);
  }

  /** One entry per (agent, SPIFFE ID): a second would be ambiguous for the agent. */
  private async assertUnique(fields: Pick<EntryFields, 'agent' | 'spiffeId'>, ownId: string | undefined): Promise<void> {
    const clash = (await this.deps.store.listEntries({ agent: fields.agent })).find(
      (e) => e.id !== ownId && e.spiffeId.equals(fields.spiffeId),
    );
    if (clash) throw new ConflictError('already_exists', `agent ${fields.agent} already has entry ${clash.id} for ${fields.spiffeId}`);
  }

  private newId(): string {
    const b = this.deps.random.bytes(16);
    b[6] = (b[6]! & 0x0f) | 0x40; // UUID version 4
    b[8] = (b[8]! & 0x3f) | 0x80; // RFC 4122 variant
    const h = b.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
}

function entryData(e: EntryRecord): Record<string, unknown> {
  return {
    id: e.id,
    agent: e.agent,
    spiffeId: e.spiffeId.toString(),
    ttl: e.ttl,
    dnsNames: e.dnsNames,
    revision: e.revision,
  };
}
