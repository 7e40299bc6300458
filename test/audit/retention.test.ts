/**
 * Retention: records of certificates that expired longer ago than --retention
 * are pruned on schedule; live and recently expired ones stay. The pruning is
 * itself an audit event, and the chain still verifies afterwards.
 */
import { describe, expect, it } from 'vitest';
import { eventRows, verifyOverApi } from '../support/audit-log.js';
import { FakeClock } from '../support/fake-clock.js';
import { mintSvid } from '../support/svids.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

const DAY = 86400;

function records(ca: TestCa): Array<{ spiffeId: string; notAfter: number }> {
  return ca.store.db
    .prepare<[], { spiffeId: string; notAfter: number }>('SELECT spiffe_id AS spiffeId, not_after AS notAfter FROM certificates ORDER BY id')
    .all();
}

const ids = (ca: TestCa) => records(ca).map((r) => r.spiffeId.replace('spiffe://example.org', ''));

async function caWithHistory() {
  const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
  // A long-lived intermediate, so the CA can still issue after the clock has moved on by days.
  const ca = await startTestCa({ retention: '1d', 'intermediate-ttl': '30d' }, { clock });
  const t0 = clock.nowSeconds();
  await mintSvid(ca.localApp, 'spiffe://example.org/ns/old-1', { ttl: '1h' });
  await mintSvid(ca.localApp, 'spiffe://example.org/ns/old-2', { ttl: '1h' });
  await mintSvid(ca.localApp, 'spiffe://example.org/ns/recent', { ttl: '3h' });
  await ca.core.audit.checkpoint();
  return { ca, clock, t0 };
}

describe('pruning expired certificate records', () => {
  it('pass/removes records expired longer than the retention, keeps live and recently expired ones, and says so in the audit log', async () => {
    const { ca, clock, t0 } = await caWithHistory();
    clock.set((t0 + 3600 + DAY + 1) * 1000); // old-* expired a day and a second ago; recent two hours less
    await mintSvid(ca.localApp, 'spiffe://example.org/ns/live', { ttl: '1h' });
    const headBefore = eventRows(ca.store.db).at(-1)!.seq;

    expect(await ca.core.prune()).toBe(2);

    expect(ids(ca)).toEqual(['/meshca/server', '/ns/recent', '/ns/live']);
    const appended = eventRows(ca.store.db).filter((e) => e.seq > headBefore);
    expect(appended.map((e) => ({ type: e.type, actor: e.actor, data: JSON.parse(e.data) }))).toEqual([
      { type: 'certificates.pruned', actor: 'meshca', data: { count: 2, expiredBefore: clock.nowSeconds() - DAY, retention: '1d' } },
    ]);
    expect(await verifyOverApi(ca)).toMatchObject({ ok: true, checkpoints: 1, events: headBefore + 1 });
    // Pruned records leave the listings too.
    const listed = (await ca.localApp.inject({ method: 'GET', url: '/v1/certificates?prefix=spiffe://example.org/ns' })).json();
    expect(listed.certificates.map((c: { spiffeId: string }) => c.spiffeId)).toEqual(['spiffe://example.org/ns/recent', 'spiffe://example.org/ns/live']);
  });

  it('pass/keeps a record that expired exactly the retention ago, and removes it a second later', async () => {
    const { ca, clock } = await caWithHistory();
    const recent = records(ca).find((r) => r.spiffeId.endsWith('/ns/recent'))!;
    clock.set((recent.notAfter + DAY) * 1000);
    // Not the newest record, which SQLite keeps (its id would be handed out again).
    await mintSvid(ca.localApp, 'spiffe://example.org/ns/live', { ttl: '1h' });
    expect(await ca.core.prune()).toBe(2); // old-1 and old-2, two hours further past
    expect(ids(ca)).toContain('/ns/recent');
    clock.advance(1);
    expect(await ca.core.prune()).toBe(1);
    expect(ids(ca)).not.toContain('/ns/recent');
    const pruned = eventRows(ca.store.db).filter((e) => e.type === 'certificates.pruned').map((e) => JSON.parse(e.data).count);
    expect(pruned).toEqual([2, 1]);
    expect((await verifyOverApi(ca)).ok).toBe(true);
  });

  it('pass/with nothing to remove, removes nothing and appends no event', async () => {
    const { ca, clock, t0 } = await caWithHistory();
    clock.set((t0 + 3600 + DAY - 1) * 1000); // old-* expired, but less than the retention ago
    const before = eventRows(ca.store.db);
    const recordsBefore = records(ca);
    expect(await ca.core.prune()).toBe(0);
    expect(records(ca)).toEqual(recordsBefore);
    expect(eventRows(ca.store.db)).toEqual(before);
  });
});
