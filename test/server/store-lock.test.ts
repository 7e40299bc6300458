/**
 * Another connection holding SQLite's write lock (a backup, `meshca audit
 * verify`, an operator's sqlite3 shell) holds up the CA's own changes, and
 * nothing else: health checks, TLS handshakes and issuance are served while
 * a change waits for the lock; the change commits once the lock is free, or
 * is refused with a retryable 503 when it stays held past the wait.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DATABASE_FILE } from '../../src/store/sqlite/database.js';
import { LOCK_WAIT_MS } from '../../src/store/sqlite/write-queue.js';
import { callCa, newKeyAndCsr } from '../support/callers.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

/** Far under the old busy timeout (5 s) the event loop stood still for, far over a TLS handshake here. */
const PROMPT_MS = 1500;

const CHANGES = [
  { what: 'a revocation', url: '/v1/certificates/revoke', payload: { spiffeId: 'spiffe://example.org/ns/gone', reason: 'superseded' }, ok: 200 },
  { what: 'a join token', url: '/v1/tokens', payload: { agent: 'node-9' }, ok: 201 },
  { what: 'an entry', url: '/v1/entries', payload: { agent: 'node-9', spiffeId: 'spiffe://example.org/ns/new' }, ok: 201 },
] as const;

/** A second connection holding the write lock, as sqlite3's BEGIN IMMEDIATE does. */
function holdWriteLock(ca: TestCa): Database.Database {
  const other = new Database(join(ca.config.dataDir, DATABASE_FILE));
  onTestFinished(() => {
    if (other.inTransaction) other.exec('ROLLBACK');
    other.close();
  });
  other.exec('BEGIN IMMEDIATE');
  return other;
}

async function timedHealth(ca: TestCa): Promise<{ status: number; prompt: boolean }> {
  const started = performance.now();
  const res = await callCa(ca, undefined, 'GET', '/healthz');
  return { status: res.status, prompt: performance.now() - started < PROMPT_MS };
}

function settledFlag(p: Promise<unknown>): () => boolean {
  let settled = false;
  void p.finally(() => (settled = true));
  return () => settled;
}

const count = (ca: TestCa, table: string) => (ca.store.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;

describe('a write lock held by another connection', () => {
  it.each(CHANGES)('holds up $what, not health checks over TLS; it and an issuance queued meanwhile commit once the lock is free', async ({ url, payload, ok }) => {
    const ca = await startTestCa();
    const other = holdWriteLock(ca);
    const change = ca.localApp.inject({ method: 'POST', url, payload });
    const changeSettled = settledFlag(change);

    const health = await timedHealth(ca);
    const mint = ca.localApp.inject({ method: 'POST', url: '/v1/svids/mint', payload: { spiffeId: 'spiffe://example.org/ns/web', csr: (await newKeyAndCsr()).csr } });
    expect({ ...health, waitingForTheLock: !changeSettled() }).toEqual({ status: 200, prompt: true, waitingForTheLock: true });

    other.exec('ROLLBACK');
    const released = performance.now();
    const [changed, minted] = await Promise.all([change, mint]);
    expect({ change: changed.statusCode, mint: minted.statusCode, prompt: performance.now() - released < PROMPT_MS }).toEqual({ change: ok, mint: 200, prompt: true });
  });

  it('refuses a change with a retryable 503 once the lock stays held past the wait, having changed nothing, and takes it once the lock is free', async () => {
    const ca = await startTestCa();
    const other = holdWriteLock(ca);
    const before = count(ca, 'audit_events');
    const started = performance.now();
    const change = ca.localApp.inject({ method: 'POST', url: '/v1/entries', payload: CHANGES[2].payload });

    const health = await timedHealth(ca);
    expect(health).toEqual({ status: 200, prompt: true });
    const refused = await change;
    expect({
      status: refused.statusCode,
      retryAfter: refused.headers['retry-after'],
      body: refused.json(),
      waitedTheWholeWait: performance.now() - started >= LOCK_WAIT_MS - 50,
    }).toEqual({
      status: 503,
      retryAfter: '1',
      body: { error: { code: 'store_unavailable', message: expect.stringMatching(/write lock was not free within 5000 ms.*nothing was changed; retry after 1s/) } },
      waitedTheWholeWait: true,
    });

    other.exec('ROLLBACK');
    expect({ entries: count(ca, 'entries'), events: count(ca, 'audit_events') }).toEqual({ entries: 0, events: before });
    expect((await ca.localApp.inject({ method: 'POST', url: '/v1/entries', payload: CHANGES[2].payload })).statusCode).toBe(201);
  }, LOCK_WAIT_MS + 10_000);

  // With the issuance writer thread: sqlite-store.test.ts, and in the built server: test/cli/server-store-lock.test.ts.
  it('refuses an issuance with the same retryable 503 once the lock stays held, within the one wait from when it was asked, though a change queued before it waited its own', async () => {
    const ca = await startTestCa();
    const { csr } = await newKeyAndCsr();
    const certificates = count(ca, 'certificates');
    const other = holdWriteLock(ca);
    const change = ca.localApp.inject({ method: 'POST', url: '/v1/entries', payload: CHANGES[2].payload });
    const asked = performance.now();
    const refused = await ca.localApp.inject({ method: 'POST', url: '/v1/svids/mint', payload: { spiffeId: 'spiffe://example.org/ns/web', csr } });
    const waited = performance.now() - asked;

    expect({ status: refused.statusCode, retryAfter: refused.headers['retry-after'], code: refused.json().error.code, withinTheWait: waited < LOCK_WAIT_MS + 2500 }).toEqual({
      status: 503, retryAfter: '1', code: 'store_unavailable', withinTheWait: true,
    });
    expect((await change).statusCode).toBe(503);
    other.exec('ROLLBACK');
    expect(count(ca, 'certificates')).toBe(certificates);
  }, 2 * LOCK_WAIT_MS + 15_000);
});
