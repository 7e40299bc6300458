/**
 * The lifecycle lock across replicas: a PostgreSQL session advisory lock,
 * tried (never waited for) on a dedicated connection. If the replica holding
 * it dies, its session ends and the lock is free again; what it was doing
 * commits in one transaction or not at all. A replica that is frozen rather
 * than dead (stopped, swapped out, a VM paused) keeps its session, so the
 * lock is also a lease: the session sits idle while the work runs, and
 * PostgreSQL ends it once idle past the lease (idle_session_timeout), after
 * which the frozen replica's commit is refused (assertHeld).
 */
import type pg from 'pg';
import type { Coordinator } from '../../ca/ports.js';
import { UnavailableError } from '../../errors.js';
import { postgresTimedOut } from '../unavailable.js';
import { LOCKS } from './connection.js';

/** Far longer than any lifecycle step (a key pair, a certificate, one commit), far shorter than an outage. */
export const LIFECYCLE_LEASE_MS = 30_000;

/** PostgreSQL before 14 has no idle_session_timeout: the lock then works as before, without the lease. */
const UNKNOWN_SETTING = '42704';

export class PgCoordinator implements Coordinator {
  /** The database session holding the lock for this replica, while it does. */
  private holder: number | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly leaseMs = LIFECYCLE_LEASE_MS,
  ) {}

  async exclusive<T>(work: () => Promise<T>): Promise<T | undefined> {
    const client = await this.pool.connect();
    // A session cut while `work` runs must not crash the process (assertHeld reports it), and is not reused.
    let broken = false;
    const onError = () => (broken = true);
    // Nor is one whose server stopped answering: ending the session frees the lock without waiting on it.
    const onTimeout = (err: unknown) => {
      if (postgresTimedOut(err)) broken = true;
    };
    client.on('error', onError);
    try {
      const { rows } = await client.query<{ locked: boolean; pid: number }>(
        'SELECT pg_try_advisory_lock($1) AS locked, pg_backend_pid() AS pid',
        [LOCKS.lifecycle],
      );
      if (!rows[0]?.locked) return undefined;
      this.holder = rows[0].pid;
      try {
        await client.query(`SET idle_session_timeout = ${Math.floor(this.leaseMs)}`).catch((err: { code?: string }) => {
          if (err.code !== UNKNOWN_SETTING) throw err;
        });
        return await work();
      } catch (err) {
        onTimeout(err);
        throw err;
      } finally {
        this.holder = undefined;
        // The session goes back to the pool, whose idle connections must not be ended; one that cannot say so is not reused.
        if (!broken) await client.query('SELECT pg_advisory_unlock($1)', [LOCKS.lifecycle]).catch(onTimeout);
        if (!broken) await client.query('RESET idle_session_timeout').catch(onError);
      }
    } catch (err) {
      onTimeout(err);
      throw err;
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
