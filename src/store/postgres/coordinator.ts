/**
 * The lifecycle lock across replicas: a PostgreSQL session advisory lock,
 * tried (never waited for) on a dedicated connection. If the replica holding
 * it dies, its session ends and the lock is free again; what it was doing
 * commits in one transaction or not at all.
 */
import type pg from 'pg';
import type { Coordinator } from '../../ca/ports.js';
import { UnavailableError } from '../../errors.js';
import { LOCKS } from './connection.js';

export class PgCoordinator implements Coordinator {
  /** The database session holding the lock for this replica, while it does. */
  private holder: number | undefined;

  constructor(private readonly pool: pg.Pool) {}

  async exclusive<T>(work: () => Promise<T>): Promise<T | undefined> {
    const client = await this.pool.connect();
    // A session cut while `work` runs must not crash the process (assertHeld reports it), and is not reused.
    let broken = false;
    const ignore = () => undefined;
    const onError = () => (broken = true);
    client.on('error', onError);
    try {
      const { rows } = await client.query<{ locked: boolean; pid: number }>(
        'SELECT pg_try_advisory_lock($1) AS locked, pg_backend_pid() AS pid',
        [LOCKS.lifecycle],
      );
      if (!rows[0]?.locked) return undefined;
      this.holder = rows[0].pid;
      try {
        return await work();
      } finally {
        this.holder = undefined;
        await client.query('SELECT pg_advisory_unlock($1)', [LOCKS.lifecycle]).catch(ignore);
      }
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /**
   * Called inside the transaction that commits lifecycle work: refuses it if
   * this replica's session lost the lock meanwhile (its connection dropped),
   * since another replica may now be doing the same step.
   */
  async assertHeld(tx: pg.PoolClient): Promise<void> {
    if (this.holder === undefined) return;
    const { rowCount } = await tx.query(
      "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $1 AND classid = 0 AND objid = $2 AND objsubid = 1",
      [this.holder, LOCKS.lifecycle],
    );
    if (!rowCount) {
      throw new UnavailableError('store_unavailable', 'this replica lost the lifecycle lock (its database session ended); the change was not committed');
    }
  }
}
