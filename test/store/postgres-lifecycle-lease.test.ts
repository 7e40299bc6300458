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
    // One connection, so that the lock's session is the one the pool hands out before and after.
    const pool = new pg.Pool({ connectionString: await server!.database(), max: 1 });
    pool.on('error', () => undefined);
    cleanupLater(() => pool.end());
    const sessionPid = async () => (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const before = await sessionPid();
    expect(await new PgCoordinator(pool, LEASE_MS).exclusive(async () => 'done')).toBe('done');
    await sleep(LEASE_MS * 3);
    expect(await sessionPid()).toBe(before);
  });
});
