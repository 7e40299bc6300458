/**
 * Agents: join-token attestation, agent SVID renewal, and the operator's
 * evict / ban / unban (client-standing.ts refuses them on every request
 * afterwards). Like SPIRE's node attestation, a token proves who an agent is
 * exactly once.
 */
import { ConflictError, ForbiddenError, NotFoundError, UnauthenticatedError } from '../errors.js';
import type { AgentName } from '../identity/agent-name.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import { writtenAs, type Duration } from '../time/duration.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import type { VerifiedCsr } from '../x509/csr.js';
import type { RandomSource } from '../random/random-source.js';
import { VOIDS_TOKENS } from './audit-registration.js';
import { hashJoinToken, joinTokenId, looksLikeJoinToken } from './join-tokens.js';
import type { AgentRecord, AgentStatus } from './model.js';
import type { RecordingHealth } from './recording-health.js';
import { agentAfter, agentCursor, pageOf, type Page } from './registration-cursors.js';
import type { RegistrationStore } from './registration-ports.js';
import { agentSpiffeId } from '../identity/meshca-identity.js';
import type { RequestingAgent } from './standing-after-issuance.js';
import type { IssuedSvid, SvidIssuer } from './svid-issuer.js';

export interface AgentServiceDeps {
  readonly store: RegistrationStore;
  readonly issuer: SvidIssuer;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** Told when an eviction or ban revoked certificates (the CRLs must be refreshed). */
  readonly onRevocation?: () => void;
  /** Told whether the datastore took each agent SVID (readiness, doctor). */
  readonly recording?: RecordingHealth;
}

export interface AgentSettings {
  readonly trustDomain: TrustDomain;
  /** Lifetime of agent SVIDs; undefined: the issuer's default, like any SVID that names none. */
  readonly agentSvidTtl?: Duration | undefined;
}

const INVALID_TOKEN = 'the join token is unknown, already used, revoked or expired';
const MAKER_REVOKED = 'the join token was made with an operator credential that has since been revoked; ask an operator for a new one';

export class AgentService {
  constructor(
    private readonly deps: AgentServiceDeps,
    private readonly settings: AgentSettings,
  ) {}

  /**
   * Exchanges a join token and a CSR for an agent SVID; the token is spent in
   * the same transaction, which also refuses it (unspent) when the remote
   * operator's credential that made it is revoked: a stolen operator
   * credential, once revoked, leaves no token that admits an agent.
   */
  async attest(token: string, csr: VerifiedCsr): Promise<IssuedSvid> {
    if (!looksLikeJoinToken(token)) throw new UnauthenticatedError('invalid_token', INVALID_TOKEN);
    const now = nowSeconds(this.deps.clock);
    const hash = hashJoinToken(token);
    const record = await this.deps.store.findToken(hash);
    if (!record || record.usedAt !== null || record.expiresAt <= now) throw new UnauthenticatedError('invalid_token', INVALID_TOKEN);
    // Asked before signing, to spare the signature; completeAttestation asks again where it spends the token.
    if (await this.makerRevoked(record.creatorSerial)) throw new UnauthenticatedError('invalid_token', MAKER_REVOKED);
    const name = record.agent as AgentName;
    const previous = await this.deps.store.getAgent(name);
    if (previous?.status === 'banned') throw new ForbiddenError('agent_banned', `agent ${name} is banned`);
    const label = `agent:${name}`;
    const started = performance.now();
    const signed = await this.deps.issuer.sign({
      csr,
      spiffeId: agentSpiffeId(this.settings.trustDomain, name),
      kind: 'agent',
      ...(this.settings.agentSvidTtl === undefined ? {} : { ttl: writtenAs(this.settings.agentSvidTtl) }),
      requestedBy: label,
      agent: name,
    });
    const agent: AgentRecord = {
      name,
      status: 'active',
      attestedAt: now,
      lastSeen: now,
      svidSerial: signed.record.serial,
      svidNotAfter: signed.record.notAfter,
      statusChangedAt: now,
    };
    const committed = await this.recorded((spent) => spent, () => this.deps.store.completeAttestation({
      tokenHash: hash,
      now,
      agent,
      certificate: signed.record,
      events: [
        { type: 'token.used', actor: label, data: { agent: name, tokenHash: joinTokenId(hash) } },
        { type: 'agent.attested', actor: label, data: { agent: name, serial: signed.record.serial, previousStatus: previous?.status ?? null } },
        signed.event,
      ],
    }));
    // Spent meanwhile, or its maker's credential revoked meanwhile: the second is told as such.
    if (!committed) throw new UnauthenticatedError('invalid_token', (await this.makerRevoked(record.creatorSerial)) ? MAKER_REVOKED : INVALID_TOKEN);
    // Attesting under an active name revoked the agent SVIDs held under it before.
    if (previous?.status === 'active') this.deps.onRevocation?.();
    await this.deps.issuer.confirm([signed], started);
    return signed.svid;
  }

  /** Whether the admin credential that made a token (its serial; null: the local operator's) is revoked. */
  private async makerRevoked(creatorSerial: string | null): Promise<boolean> {
    if (creatorSerial === null) return false;
    return ((await this.deps.store.credential(creatorSerial))?.revocation ?? null) !== null;
  }

  async renew(requester: RequestingAgent, csr: VerifiedCsr): Promise<IssuedSvid> {
    const agentName = requester.name;
    const started = performance.now();
    const signed = await this.deps.issuer.sign({
      csr,
      spiffeId: agentSpiffeId(this.settings.trustDomain, agentName),
      kind: 'agent',
      ...(this.settings.agentSvidTtl === undefined ? {} : { ttl: writtenAs(this.settings.agentSvidTtl) }),
      requestedBy: `agent:${agentName}`,
      agent: agentName,
    });
    // The agent's status and the presented SVID are checked again in the recording transaction (an eviction or a
    // revocation may have committed while this was signed), so nothing needs revoking after.
    await this.recorded(() => true, () => this.deps.store.recordAgentRenewal(agentName, requester.serial, signed.record, signed.event));
    await this.deps.issuer.confirm([signed], started);
    return signed.svid;
  }

  private recorded<T>(wrote: (result: T) => boolean, write: () => Promise<T>): Promise<T> {
    return this.deps.recording ? this.deps.recording.track(() => nowSeconds(this.deps.clock), write, wrote) : write();
  }

  list(): Promise<AgentRecord[]> {
    return this.deps.store.listAgents();
  }

  /** Up to `limit` agents by name, after the cursor's (from the first when null). */
  async page(cursor: string | null, limit: number): Promise<Page<AgentRecord>> {
    const rows = await this.deps.store.listAgents({ after: cursor === null ? null : agentAfter(cursor), limit: limit + 1 });
    return pageOf(rows, limit, agentCursor);
  }

  /**
   * Also spends the agent's unused join tokens (setAgentStatus): an evicted
   * agent attests again only with one made after this. So evicting a name
   * that never attested, or one already evicted, voids the tokens made for it.
   */
  async evict(name: AgentName, by: string): Promise<AgentRecord> {
    return (await this.recordUnattested(name, 'evicted', by)) ?? this.changeStatus(name, 'evicted', by, ['active', 'evicted']);
  }

  async ban(name: AgentName, by: string): Promise<AgentRecord> {
    return (await this.recordUnattested(name, 'banned', by)) ?? this.changeStatus(name, 'banned', by, ['active', 'evicted']);
  }

  /**
   * A name that never attested, recorded with `status` (which voids its
   * tokens); undefined for a name already recorded. What the agent holds is
   * revoked all the same: an attestation may commit between the look and the
   * change.
   */
  private async recordUnattested(name: AgentName, status: 'evicted' | 'banned', by: string): Promise<AgentRecord | undefined> {
    if (await this.deps.store.getAgent(name)) return undefined;
    const now = nowSeconds(this.deps.clock);
    // Recorded meanwhile (an attestation, another operator's change): the caller decides again on the record.
    if (!(await this.deps.store.setAgentStatus(name, status, now, { type: `agent.${status}`, actor: by, data: statusData(name, status) }, true, null))) return undefined;
    this.deps.onRevocation?.();
    return (await this.deps.store.getAgent(name))!;
  }

  async unban(name: AgentName, by: string): Promise<AgentRecord> {
    return this.changeStatus(name, 'evicted', by, ['banned'], 'agent.unbanned');
  }

  private async changeStatus(
    name: AgentName,
    to: AgentStatus,
    by: string,
    from: readonly AgentStatus[],
    eventType = `agent.${to}`,
  ): Promise<AgentRecord> {
    // Decided on the status read, and written only if it still holds: another change that came first is read, and
    // decided on, again (a ban after a racing eviction stands; an eviction after a racing ban is refused).
    for (let attempt = 1; ; attempt++) {
      const agent = await this.deps.store.getAgent(name);
      if (!agent) throw new NotFoundError(`agent ${name}`);
      if (!from.includes(agent.status)) throw new ConflictError('precondition_failed', `agent ${name} is ${agent.status}`);
      const now = nowSeconds(this.deps.clock);
      const event = { type: eventType, actor: by, data: statusData(name, to, agent.status) };
      if (await this.deps.store.setAgentStatus(name, to, now, event, to !== 'active', agent.status)) {
        if (to !== 'active') this.deps.onRevocation?.();
        return (await this.deps.store.getAgent(name))!;
      }
      if (attempt === STATUS_ATTEMPTS) {
        throw new ConflictError('precondition_failed', `agent ${name} kept changing while this change was being made; read it again and retry`);
      }
    }
  }
}

/** How often a status change is decided again when others keep changing the agent first. */
const STATUS_ATTEMPTS = 3;

/**
 * A status event's data. A change to any status but active spends the
 * agent's unused join tokens with it (setAgentStatus), and says so: audit
 * verification then holds those tokens to staying spent. Earlier builds did
 * not always spend them, and their events do not say so.
 */
function statusData(agent: AgentName, to: AgentStatus, from?: AgentStatus): Record<string, unknown> {
  return { agent, ...(from ? { from } : {}), ...(to !== 'active' ? { [VOIDS_TOKENS]: true } : {}) };
}
