/**
 * Whether a client that completed the TLS handshake may still be served, on
 * every request: its certificate must be, byte for byte, one this CA issued
 * and recorded — so a certificate made with a stolen intermediate key is
 * refused, even one copying an issued serial, key and SPIFFE ID with a later
 * expiry — and not revoked; an agent must not have been evicted or banned
 * since it connected. Agents' last-seen times are noted here and
 * written in batches rather than on every request.
 */
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import type { Caller } from './caller.js';
import type { AgentStatus } from './model.js';
import type { RevocationReason } from '../x509/crl.js';
import type { PresentedCredential, RegistrationStore } from './registration-ports.js';

/**
 * The refusal of an agent that is no longer active (unknown counts as
 * evicted), wherever it is found: on a request, or while one was being served.
 */
export function agentNotActive(name: string, status: AgentStatus | undefined): ForbiddenError {
  return status === 'banned'
    ? new ForbiddenError('agent_banned', `agent ${name} is banned`)
    : new ForbiddenError('agent_evicted', `agent ${name} was evicted; it must attest again with a new join token`);
}

/**
 * The refusal of a client whose certificate was revoked, wherever it is found:
 * on a request, or while one was being served. One revoked as superseded (an
 * agent that attested again under the same name revokes the SVID of the one
 * before) says so, so that an agent can tell it from an eviction.
 */
export function presentedRevoked(reason?: RevocationReason | null): UnauthenticatedError {
  return reason === 'superseded'
    ? new UnauthenticatedError('certificate_superseded', 'the client certificate was superseded: a newer one was issued under the same name, which revoked it')
    : new UnauthenticatedError('certificate_revoked', 'the client certificate was revoked');
}

export class ClientStanding {
  /** Last request time per agent, not yet written to the datastore. */
  private readonly seen = new Map<string, number>();

  constructor(private readonly deps: { store: RegistrationStore; clock: Clock }) {}

  /** Throws a 401 or 403 error for a caller that may not be served. */
  async check(caller: Caller, presented: PresentedCredential): Promise<void> {
    // An agent's credential and status are read together (one read, where two cost twice as much on every request).
    const { credential: record, agentStatus } =
      caller.role === 'agent' ? await this.deps.store.agentStanding(presented.serial, caller.name) : { credential: await this.deps.store.credential(presented.serial), agentStatus: undefined };
    if (!record || !record.certificateDer.equals(presented.certificateDer)) {
      throw new UnauthenticatedError('certificate_untrusted', 'the client certificate was not issued by this CA');
    }
    if (caller.role === 'agent' && agentStatus !== 'active') throw agentNotActive(caller.name, agentStatus);
    if (record.revocation) throw presentedRevoked(record.revocation);
    // Only a request that will be served counts: operators read "last seen" as "still syncing".
    if (caller.role === 'agent') this.seen.set(caller.name, nowSeconds(this.deps.clock));
  }

  /** True for a certificate, byte for byte, this CA issued and revoked (whether or not it still chains to the bundle). */
  async revoked(presented: PresentedCredential): Promise<boolean> {
    const record = await this.deps.store.credential(presented.serial);
    return record !== undefined && record.revocation !== null && record.certificateDer.equals(presented.certificateDer);
  }

  /**
   * Writes the last-seen times noted since the previous flush. Refused (the
   * write lock held elsewhere past the wait, a full disk), they are kept for
   * the next flush, as the root runbook's check reads them.
   */
  async flushSeen(): Promise<void> {
    if (this.seen.size === 0) return;
    const batch = new Map(this.seen);
    this.seen.clear();
    try {
      await this.deps.store.touchAgents(batch);
    } catch (err) {
      // A sighting noted meanwhile is the later one.
      for (const [name, at] of batch) if (!this.seen.has(name)) this.seen.set(name, at);
      throw err;
    }
  }
}
