/**
 * An agent's every request checks its standing twice: as it arrives
 * (ClientStanding) and once what it was issued is recorded
 * (assertStandingAfterIssuance). Each check is one read of the datastore,
 * its credential and its status together, and refuses as the two reads did.
 */
import { describe, expect, it } from 'vitest';
import { ClientStanding } from '../../src/ca/client-standing.js';
import type { RegistrationStore } from '../../src/ca/registration-ports.js';
import { assertStandingAfterIssuance } from '../../src/ca/standing-after-issuance.js';
import { ForbiddenError, UnauthenticatedError } from '../../src/errors.js';
import { parseAgentName } from '../../src/identity/agent-name.js';
import { SpiffeId } from '../../src/identity/spiffe-id.js';
import { engines } from '../support/datastores.js';
import { FakeClock } from '../support/fake-clock.js';
import { agentRecord, issued } from '../support/store-records.js';

/** The store, with the name of every method called on it, in order. */
function recorded(store: RegistrationStore): { store: RegistrationStore; reads: string[] } {
  const reads: string[] = [];
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        reads.push(String(property));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, reads };
}

describe.each(await engines())("an agent's standing, on the $name datastore", (engine) => {
  async function attested(status: 'active' | 'evicted') {
    const clock = new FakeClock();
    const { store } = await engine.open(clock);
    const now = clock.nowSeconds();
    const svid = issued('a1', now, { kind: 'agent', agent: 'node-1' }).record;
    await store.registrations.createToken({ hash: 'h', agent: 'node-1', createdAt: now, expiresAt: now + 600, createdBy: 'o', creatorSerial: null, usedAt: null }, { type: 'token.created', actor: 'o', data: {} });
    await store.registrations.completeAttestation({ tokenHash: 'h', now, agent: agentRecord('node-1', now), certificate: svid, events: [] });
    if (status !== 'active') await store.registrations.setAgentStatus('node-1', status, now, { type: `agent.${status}`, actor: 'o', data: {} }, false);
    const caller = { role: 'agent', name: 'node-1', spiffeId: SpiffeId.parse('spiffe://example.org/meshca/agent/node-1'), serial: 'a1' } as const;
    return { clock, registrations: store.registrations, caller, presented: { serial: 'a1', certificateDer: svid.certDer } };
  }

  it.each([
    { status: 'active', arriving: 'served', afterIssuance: 'served' },
    { status: 'evicted', arriving: 'agent_evicted', afterIssuance: 'agent_evicted' },
  ] as const)('pass/an agent $status: one read as a request arrives ($arriving) and one after issuance ($afterIssuance)', async ({ status, arriving, afterIssuance }) => {
    const { clock, registrations, caller, presented } = await attested(status);
    const { store, reads } = recorded(registrations);
    const outcome = (p: Promise<unknown>) => p.then(() => 'served', (e: unknown) => (e instanceof ForbiddenError || e instanceof UnauthenticatedError ? e.code : e));

    expect(await outcome(new ClientStanding({ store, clock }).check(caller, presented))).toBe(arriving);
    expect(reads).toEqual(['agentStanding']);

    reads.length = 0;
    expect(await outcome(assertStandingAfterIssuance({ store, revoke: async () => undefined }, { name: parseAgentName('node-1'), serial: 'a1' }, []))).toBe(afterIssuance);
    expect(reads).toEqual(['agentStanding']);
  });
});
