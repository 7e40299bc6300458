/** The audit chain in PostgreSQL: appends serialized by an advisory lock, so concurrent replicas write one chain. */
import type pg from 'pg';
import { canonicalJson, eventHash, GENESIS_HASH } from '../../ca/audit-chain.js';
import type { AuditEvent } from '../../ca/model.js';
import { LOCKS } from './connection.js';

/**
 * Appends events inside the caller's transaction. The transaction-scoped lock
 * is held until commit, so chains from concurrent transactions never fork,
 * and every row written after it (certificates too) gets its id in commit
 * order — which keeps cursor pagination from skipping rows.
 */
export async function appendAudit(client: pg.PoolClient, events: readonly AuditEvent[], at: number): Promise<void> {
  await lockAudit(client);
  if (events.length === 0) return;
  const { rows } = await client.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
  let seq = rows[0]?.seq ?? 0;
  let prevHash = rows[0]?.hash ?? GENESIS_HASH;
  for (const event of events) {
    seq++;
    const dataJson = canonicalJson(event.data);
    const hash = eventHash({ seq, at, type: event.type, actor: event.actor, dataJson, prevHash });
    await client.query('INSERT INTO audit_events (seq, at, type, actor, data, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      seq, at, event.type, event.actor, dataJson, prevHash, hash,
    ]);
    prevHash = hash;
  }
}

export async function lockAudit(client: pg.PoolClient): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.audit]);
}
