/**
 * PostgreSQL as the datastore several CA replicas share: the same ports as the
 * embedded one, CA keys in the database (encrypted with the passphrase), and a
 * coordinator so one replica at a time makes lifecycle changes.
 */
import type { Pool } from 'pg';
import { joinedWithin } from '../../platform/joined-within.js';
import type { Clock } from '../../time/clock.js';
import type { Datastore } from '../datastore.js';
import { WRITE_PROBE } from '../certificate-sql.js';
import { postgresUnavailable } from '../unavailable.js';
import { PgAuditStore } from './audit-store.js';
import { PgAuthorityStore } from './authority-store.js';
import { PgCertificateStore } from './certificate-store.js';
import { createPool, migrate } from './connection.js';
import { PgCoordinator } from './coordinator.js';
import { PgKeyCustody } from './key-custody.js';
import { PgRegistrationStore } from './registration-store.js';

export async function openPostgresDatastore(url: string, clock: Clock, keyPassphrase: string): Promise<Datastore> {
  const pool = createPool(url);
  try {
    const created = await migrate(pool);
    const coordinator = new PgCoordinator(pool);
    return {
      kind: 'postgres',
      created,
      authorities: new PgAuthorityStore(pool, clock, coordinator),
      certificates: new PgCertificateStore(pool, clock),
      registrations: new PgRegistrationStore(pool, clock),
      audit: new PgAuditStore(pool, clock),
      custody: new PgKeyCustody(pool, keyPassphrase),
      coordinator,
      reachable: answersWithin(pool, 'SELECT 1'),
      // Several statements in one simple query run as one transaction, rolled back whole if one fails.
      // md5 of 256 numbers, 4 KiB PostgreSQL cannot compress (4 KiB of zeros it stores in 56 bytes).
      writable: answersWithin(pool, WRITE_PROBE("(SELECT decode(string_agg(md5(i::text), ''), 'hex') FROM generate_series(1, 256) AS i)").join('; ')),
      unavailable: postgresUnavailable,
      close: () => pool.end(),
    };
  } catch (err) {
    await pool.end();
    throw err;
  }
}

/** How long readiness waits for PostgreSQL: well within a readiness probe's own timeout. */
const REACHABLE_TIMEOUT_MS = 2000;

/**
 * `SELECT 1` answered within REACHABLE_TIMEOUT_MS. Probes share one query
 * while it is pending, so that connection attempts to a host that does not
 * answer do not pile up in the pool, one per probe.
 */
function answersWithin(pool: Pool, sql: string): () => Promise<void> {
  const joined = joinedWithin(() => pool.query(sql), REACHABLE_TIMEOUT_MS, () => new Error(`PostgreSQL did not answer within ${REACHABLE_TIMEOUT_MS} ms`));
  return async () => void (await joined());
}
