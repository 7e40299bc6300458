/**
 * The lifecycle lock is a lease: a replica frozen while holding it (stopped,
 * paused, swapped out) keeps its database session alive, and PostgreSQL ends
 * that session once it has sat idle past the lease, so another replica can
 * take the lock; the frozen one's commit is then refused.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/errors.js';
import { PgCoordinator } from '../../src/store/postgres/coordinator.js';
import { createPool } from '../../src/store/postgres/connection.js';
import { cleanupLater } from '../support/cleanup.js';
import { startPostgres } from '../support/postgres.js';
import { sleep, waitFor } from '../support/wait.js';

const server = await startPostgres();
const LEASE_MS = 500;

/** A pool of one connection, so that the lock's session is the one it hands out before and after, and that session's PID. */
async function singleSessionPool() {
  const pool = new pg.Pool({ connectionString: await server!.database(), max: 1 });
  pool.on('error', () => undefined);
  cleanupLater(() => pool.end());
  const sessionPid = async () => (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  return { pool, sessionPid };
}

describe.skipIf(!server)('the PostgreSQL lifecycle lock', () => {
  it('is free again once its frozen holder\'s session has idled past the lease, and the holder can no longer commit', { timeout: 30_000 }, async () => {
    const url = await server!.database();
    const [frozenPool, otherPool] = [createPool(url), createPool(url)];
    cleanupLater(() => frozenPool.end());
    cleanupLater(() => otherPool.end());
    const frozen = new PgCoordinator(frozenPool, LEASE_MS);
    const other = new PgCoordinator(otherPool, LEASE_MS);

    let thaw!: () => void;
    let commitAfterThaw: Promise<unknown> | undefined;
    const holding = frozen.exclusive(async () => {
      await new Promise<void>((resolve) => (thaw = resolve)); // frozen: no query on the lock's session
      const tx = await frozenPool.connect();
      try {
        commitAfterThaw = frozen.assertHeld(tx);
        await commitAfterThaw;
      } finally {
        tx.release();
      }
    });
    await waitFor('the frozen replica to hold the lock', () => thaw !== undefined, 5_000);
    expect(await other.exclusive(async () => 'taken')).toBeUndefined();

    await sleep(LEASE_MS * 3);
    expect(await other.exclusive(async () => 'taken')).toBe('taken');
    thaw();
    await expect(holding).rejects.toBeInstanceOf(UnavailableError);
    await expect(commitAfterThaw).rejects.toThrow(/lost the lifecycle lock/);
  });

  it('leaves the session it returns to the pool without the lease, so an idle pool keeps its connections', { timeout: 30_000 }, async () => {
    const { pool, sessionPid } = await singleSessionPool();
    const before = await sessionPid();
    expect(await new PgCoordinator(pool, LEASE_MS).exclusive(async () => 'done')).toBe('done');
    await sleep(LEASE_MS * 3);
    expect(await sessionPid()).toBe(before);
  });

  it('ends, rather than pools, the session of a step that timed out on an unanswering server: the lock is free at once, no unlock waited for', { timeout: 30_000 }, async () => {
    const { pool, sessionPid } = await singleSessionPool();
    const before = await sessionPid();
    // node-postgres's error for a query unanswered within query_timeout, as a step's query on another connection meets it.
    const step = new PgCoordinator(pool, LEASE_MS).exclusive(async () => {
      throw new Error('Query read timeout');
    });
    await expect(step).rejects.toThrow('Query read timeout');
    expect(await sessionPid()).not.toBe(before);
    expect(await new PgCoordinator(pool, LEASE_MS).exclusive(async () => 'taken')).toBe('taken');
  });
});
