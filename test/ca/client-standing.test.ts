/**
 * Agents' last-seen times are noted on each request served and written in
 * batches (flushSeen). A batch the datastore refused (another connection
 * holding its write lock past the wait, a full disk) is written with the
 * next one, not lost: the root runbook's check reads them.
 */
import { describe, expect, it } from 'vitest';
import type { Caller } from '../../src/ca/caller.js';
import { ClientStanding } from '../../src/ca/client-standing.js';
import type { RegistrationStore } from '../../src/ca/registration-ports.js';
import { StoreBusyError } from '../../src/errors.js';
import { SpiffeId } from '../../src/identity/spiffe-id.js';
import { FakeClock } from '../support/fake-clock.js';

const CERTIFICATE = Buffer.from('agent svid');

/** The datastore as ClientStanding reads and writes it: every agent active, each flush failing while `refusing`. */
function datastore() {
  const written: Array<Record<string, number>> = [];
  const state = { refusing: false };
  const store = {
    agentStanding: async () => ({ credential: { certificateDer: CERTIFICATE, revocation: null }, agentStatus: 'active' }),
    touchAgents: async (seen: ReadonlyMap<string, number>) => {
      if (state.refusing) throw new StoreBusyError(1, 5000);
      written.push(Object.fromEntries(seen));
    },
  } as unknown as RegistrationStore;
  return { store, written, state };
}

const agent = (name: string): Caller => ({ role: 'agent', name, spiffeId: SpiffeId.parse(`spiffe://example.org/meshca/agent/${name}`), serial: name });

describe('ClientStanding last-seen times', () => {
  it('keeps a batch the datastore refused and writes it with the next, a later sighting of the same agent winning', async () => {
    const clock = new FakeClock(1_000_000);
    const { store, written, state } = datastore();
    const standing = new ClientStanding({ store, clock });
    const served = (name: string) => standing.check(agent(name), { serial: name, certificateDer: CERTIFICATE });

    await served('node-1');
    await served('node-2');
    state.refusing = true;
    await expect(standing.flushSeen()).rejects.toBeInstanceOf(StoreBusyError);

    clock.advance(60);
    await served('node-2');
    state.refusing = false;
    await standing.flushSeen();
    expect(written).toEqual([{ 'node-1': 1000, 'node-2': 1060 }]);
  });
});
