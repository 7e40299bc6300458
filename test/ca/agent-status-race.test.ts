/**
 * Two operators changing one agent's status at once (an eviction and a ban):
 * each decides on the status it read, and the store writes it only if the
 * agent still has that status. The change that loses the race decides again
 * on what the other left, so a ban is never overwritten by an eviction that
 * read the agent before it, on any engine.
 */
import { describe, expect, it } from 'vitest';
import { AgentService } from '../../src/ca/agent-service.js';
import type { RegistrationStore } from '../../src/ca/registration-ports.js';
import type { SvidIssuer } from '../../src/ca/svid-issuer.js';
import { ConflictError } from '../../src/errors.js';
import { parseAgentName, type AgentName } from '../../src/identity/agent-name.js';
import { TrustDomain } from '../../src/identity/trust-domain.js';
import { cryptoRandom } from '../../src/random/random-source.js';
import { engines } from '../support/datastores.js';
import { FakeClock } from '../support/fake-clock.js';
import { agentRecord, issued } from '../support/store-records.js';

const NODE = parseAgentName('node-1');

type Change = 'evict' | 'ban';

function agentService(store: RegistrationStore, clock: FakeClock): AgentService {
  // Eviction and ban sign nothing: no issuer is reached.
  const issuer = {} as SvidIssuer;
  return new AgentService({ store, issuer, clock, random: cryptoRandom }, { trustDomain: TrustDomain.parse('example.org') });
}

/** The store, but its read number `nth` of the agent lets `other` commit before the reader gets its answer. */
function racedBy(store: RegistrationStore, nth: number, other: () => Promise<unknown>): RegistrationStore {
  let reads = 0;
  return Object.create(store, {
    getAgent: {
      value: async (name: AgentName) => {
        const read = await store.getAgent(name);
        if (++reads === nth) await other();
        return read;
      },
    },
  }) as RegistrationStore;
}

describe.each(await engines())('an eviction and a ban of one agent racing, on the $name datastore', (engine) => {
  it.each<{ attested: boolean; first: Change; overtaken: Change; outcome: 'done' | 'refused' }>([
    { attested: true, first: 'ban', overtaken: 'evict', outcome: 'refused' },
    { attested: true, first: 'evict', overtaken: 'ban', outcome: 'done' },
    { attested: false, first: 'ban', overtaken: 'evict', outcome: 'refused' },
    { attested: false, first: 'evict', overtaken: 'ban', outcome: 'done' },
  ])('fail/attested $attested: a $first committed after the $overtaken read the agent -> the $overtaken is $outcome, and the agent stays banned', async ({ attested, first, overtaken, outcome }) => {
    const clock = new FakeClock();
    const { store } = await engine.open(clock);
    const registrations = store.registrations;
    if (attested) {
      const now = clock.nowSeconds();
      await registrations.createToken({ hash: 'h', agent: NODE, createdAt: now, expiresAt: now + 600, createdBy: 'o', creatorSerial: null, usedAt: null }, { type: 'token.created', actor: 'o', data: {} });
      await registrations.completeAttestation({ tokenHash: 'h', now, agent: agentRecord(NODE, now), certificate: issued('a1', now, { kind: 'agent' }).record, events: [] });
    }
    const plain = agentService(registrations, clock);
    // The read the change decides on: an attested agent's second (the first only asks whether the name was ever recorded).
    const raced = agentService(racedBy(registrations, attested ? 2 : 1, () => plain[first](NODE, 'operator:alice')), clock);

    const result = raced[overtaken](NODE, 'operator:bob');
    if (outcome === 'refused') await expect(result).rejects.toSatisfy((e: unknown) => e instanceof ConflictError && e.message === `agent ${NODE} is banned`);
    else expect(await result).toMatchObject({ name: NODE, status: 'banned' });
    expect((await registrations.getAgent(NODE))?.status).toBe('banned');
    // The attempt that lost the race logged nothing: one status event per change made, each from the status it changed.
    const changes = [];
    for await (const e of store.audit.events()) if (e.type.startsWith('agent.')) changes.push([e.type, JSON.parse(e.dataJson).from]);
    const made = [[`agent.${first === 'ban' ? 'banned' : 'evicted'}`, attested ? 'active' : undefined]];
    expect(changes).toEqual(outcome === 'refused' ? made : [...made, ['agent.banned', 'evicted']]);
  });
});
