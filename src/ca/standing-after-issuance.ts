/**
 * An agent's request for workload SVIDs is authenticated as it arrives, but an
 * eviction, a ban, or the revocation of the very certificate it presented may
 * commit while they are signed, after that change's sweep of the agent's
 * certificates. They are recorded by group commit, where no such check fits
 * (an agent's own renewal makes it in its recording transaction), so standing
 * is checked again once they are recorded, so that either the sweep
 * saw them or this check sees the change: what the request was issued is then
 * revoked, for the reason the change gave, and the request refused as its next
 * one would be.
 */
import type { AgentName } from '../identity/agent-name.js';
import type { RevocationReason } from '../x509/crl.js';
import type { RevocationSelector } from './certificate-query.js';
import { agentNotActive, presentedRevoked } from './client-standing.js';
import type { RegistrationStore } from './registration-ports.js';

/** The agent a request came from, and the serial of the agent SVID it presented. */
export interface RequestingAgent {
  readonly name: AgentName;
  readonly serial: string;
}

/** Revokes, on the CA's own authority, what the selector matches. */
export type Revoke = (selector: RevocationSelector, reason: RevocationReason) => Promise<unknown>;

/** Why the certificates of an agent that lost its standing are revoked, as an eviction revokes them. */
const LOST_STANDING: RevocationReason = 'cessationOfOperation';

export async function assertStandingAfterIssuance(
  deps: { readonly store: Pick<RegistrationStore, 'agentStanding'>; readonly revoke: Revoke },
  agent: RequestingAgent,
  issuedSerials: readonly string[],
): Promise<void> {
  const { agentStatus, credential: presented } = await deps.store.agentStanding(agent.serial, agent.name);
  if (agentStatus !== 'active') {
    await deps.revoke({ agent: agent.name }, LOST_STANDING);
    throw agentNotActive(agent.name, agentStatus);
  }
  if (presented?.revocation) {
    // For the reason the credential that asked for them was revoked (superseded, when a new token re-attested its agent).
    for (const serial of issuedSerials) await deps.revoke({ serial }, presented.revocation);
    throw presentedRevoked(presented.revocation);
  }
}
