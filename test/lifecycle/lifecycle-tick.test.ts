/**
 * The scheduled lifecycle check runs its steps each on its own: rotation,
 * writing agents' last-seen times, renewing the serving certificate, warning
 * of expiry. A step the datastore refuses (another connection holding its
 * write lock, a full disk) is not reported as a failed rotation, and the
 * steps after it still run.
 */
import { describe, expect, it } from 'vitest';
import { attestAgent, callCa } from '../support/callers.js';
import { clockNearNow, startLifecycleCa } from '../support/lifecycle-ca.js';

describe('the scheduled lifecycle check', () => {
  it("does not report agents' last-seen times it could not write as a failed rotation, and writes them at the next check", async () => {
    const clock = clockNearNow();
    const ca = await startLifecycleCa({}, clock);
    const agent = await attestAgent(ca, 'node-1');
    clock.advance(60);
    expect((await callCa(ca, agent, 'GET', '/v1/agent/entries')).status).toBe(200);
    const lastSeen = () => (ca.store.db.prepare('SELECT last_seen FROM agents WHERE name = ?').get('node-1') as { last_seen: number | null }).last_seen;
    const seenBefore = lastSeen();
    const failedChecks = async () =>
      (await ca.localApp.inject({ method: 'GET', url: '/v1/doctor' })).json<{ findings: Array<{ status: string; check: string }> }>()
        .findings.filter((f) => f.status === 'fail').map((f) => f.check);

    ca.store.db.exec("CREATE TRIGGER sightings_down BEFORE UPDATE OF last_seen ON agents BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
    await ca.tick();
    expect({ failedChecks: await failedChecks(), lastSeen: lastSeen() }).toEqual({ failedChecks: [], lastSeen: seenBefore });

    ca.store.db.exec('DROP TRIGGER sightings_down');
    await ca.tick();
    expect(lastSeen()).toBe(seenBefore! + 60);
  });
});
