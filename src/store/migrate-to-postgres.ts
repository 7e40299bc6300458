/**
 * Moving an embedded CA to PostgreSQL: every table copied row for row (the
 * audit chain verbatim, so its hashes still hold), CA keys re-encrypted into
 * the database, all in one transaction that commits only when the copy
 * matches the source. The migration itself is the next event in the chain.
 */
import { join } from 'node:path';
import type pg from 'pg';
import type { AuditEvent } from '../ca/model.js';
import { LOCAL_OPERATOR_NAME } from '../ca/reserved-ids.js';
import { FileKeyCustody, KEYS_DIR } from './file-key-custody.js';
import { appendAudit } from './postgres/audit.js';
import { createPool, inTransaction, LOCKS, migrate } from './postgres/connection.js';
import { PgKeyCustody } from './postgres/key-custody.js';
import { openDatabase, type Db } from './sqlite/database.js';
import { MIGRATIONS } from './sqlite/migrations.js';

/** Tables in copy order, with the columns both engines share; `serial` names a BIGSERIAL to move past the copied ids. */
const TABLES: ReadonlyArray<{ name: string; columns: readonly string[]; order: string; serial?: string }> = [
  { name: 'authorities', order: 'created_at, id', columns: ['id', 'kind', 'state', 'parent_id', 'cert_der', 'upstream_chain', 'not_before', 'not_after', 'key_ref', 'created_at', 'activated_at', 'retired_at', 'tainted_at'] },
  { name: 'certificates', order: 'id', serial: 'id', columns: ['id', 'serial', 'spiffe_id', 'dns_names', 'not_before', 'not_after', 'public_key_sha256', 'key_type', 'issuer_id', 'kind', 'requested_by', 'agent', 'entry_id', 'issued_at', 'cert_der', 'revoked_at', 'revocation_reason'] },
  { name: 'audit_events', order: 'seq', columns: ['seq', 'at', 'type', 'actor', 'data', 'prev_hash', 'hash'] },
  { name: 'audit_checkpoints', order: 'id', serial: 'id', columns: ['id', 'seq', 'hash', 'at', 'signer_id', 'signature'] },
  { name: 'join_tokens', order: 'hash', columns: ['hash', 'agent', 'created_at', 'expires_at', 'created_by', 'creator_serial', 'used_at', 'spent_by'] },
  { name: 'agents', order: 'name', columns: ['name', 'status', 'attested_at', 'last_seen', 'svid_serial', 'svid_not_after', 'status_changed_at'] },
  { name: 'entries', order: 'id', columns: ['id', 'agent', 'spiffe_id', 'ttl', 'dns_names', 'created_at', 'updated_at', 'revision'] },
];

/** Rows per INSERT: few round trips, far below PostgreSQL's 65,535 parameters. */
const BATCH = 500;

export interface MigrationReport {
  /** Rows copied per table. */
  readonly rows: Readonly<Record<string, number>>;
  readonly keys: number;
  /** Key files no authority record names (a CA killed between saving a key and recording it): not copied. */
  readonly keysLeftBehind: readonly string[];
  /** The source's audit head, which the target now continues. */
  readonly sourceHead: { readonly seq: number; readonly hash: string } | null;
}

export class MigrationRefusedError extends Error {}

export async function migrateToPostgres(o: { dataDir: string; url: string; passphrase: string; now: number }): Promise<MigrationReport> {
  const { db } = openDatabase(o.dataDir, { readonly: true });
  const pool = createPool(o.url);
  try {
    refuseUnlessCurrent(db);
    const fileKeys = new FileKeyCustody(join(o.dataDir, KEYS_DIR), o.passphrase);
    const dbKeys = new PgKeyCustody(pool, o.passphrase);
    // Only the keys a record names: the embedded CA's next start would set the others aside, which replicas could not.
    const named = new Set(db.prepare<[], { ref: string }>('SELECT key_ref AS ref FROM authorities WHERE key_ref IS NOT NULL').all().map((r) => r.ref));
    const refs = await fileKeys.list();
    const keysLeftBehind = refs.filter((ref) => !named.has(ref));
    const copiedRefs = refs.filter((ref) => named.has(ref));
    // Decrypt every key before touching the target, even its schema: a wrong passphrase fails here, with nothing written.
    const keys = await Promise.all(copiedRefs.map(async (ref) => ({ ref, pem: await dbKeys.encrypt(await fileKeys.load(ref)) })));
    await migrate(pool);
    const sourceHead = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').get() ?? null;

    const rows = await inTransaction(pool, async (client) => {
      // The replicas' lifecycle lock, until commit: a replica started against the target meanwhile would see it
      // empty and create a PKI of its own beside the copy; it waits for the copy instead, and then loads it.
      await client.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.lifecycle]);
      await refuseUnlessEmpty(client);
      const copied: Record<string, number> = {};
      for (const table of TABLES) copied[table.name] = await copyTable(db, client, table);
      // Every marker, not only those the target's migrations made: pki_begun (noted before the first key is saved) is
      // written only at a first start, and without it keys found with no records would be taken for a first start.
      for (const { name, value } of db.prepare<[], { name: string; value: number }>('SELECT name, value FROM ca_state').all()) {
        await client.query('INSERT INTO ca_state (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value', [name, value]);
      }
      for (const key of keys) await client.query('INSERT INTO ca_keys (ref, pem) VALUES ($1, $2)', [key.ref, key.pem]);
      await checkCopy(db, client, copied, sourceHead);
      const event: AuditEvent = {
        type: 'datastore.migrated',
        actor: `operator:${LOCAL_OPERATOR_NAME}`,
        data: { from: 'sqlite', to: 'postgres', rows: copied, keys: keys.length, sourceHead },
      };
      await appendAudit(client, [event], o.now);
      return copied;
    });
    return { rows, keys: keys.length, keysLeftBehind, sourceHead };
  } finally {
    db.close();
    await pool.end();
  }
}

/**
 * The columns copied are this meshca's. A source an older meshca left lacks
 * some (the copy would fail on them, or invent their defaults), and one a
 * newer meshca wrote may hold some this one would drop. Opened read-only, it
 * is not brought up to date here: the source is never changed.
 */
function refuseUnlessCurrent(db: Db): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version < MIGRATIONS.length) {
    throw new MigrationRefusedError(
      `the embedded datastore is at schema version ${version}, older than this meshca's (${MIGRATIONS.length}): ` +
        'start the embedded CA once with this meshca, which brings it up to date, stop it, then migrate',
    );
  }
  if (version > MIGRATIONS.length) {
    throw new MigrationRefusedError(`the embedded datastore is at schema version ${version}, newer than this meshca (${MIGRATIONS.length}); migrate with the meshca that wrote it`);
  }
}

async function refuseUnlessEmpty(client: pg.PoolClient): Promise<void> {
  const { rows } = await client.query<{ n: number }>(
    'SELECT (SELECT count(*) FROM authorities) + (SELECT count(*) FROM audit_events) + (SELECT count(*) FROM certificates) + (SELECT count(*) FROM ca_keys) AS n',
  );
  if (Number(rows[0]!.n) > 0) {
    throw new MigrationRefusedError('the target database already holds a meshca CA; migrate only into an empty database');
  }
}

async function copyTable(db: Db, client: pg.PoolClient, table: (typeof TABLES)[number]): Promise<number> {
  const select = db.prepare(`SELECT ${table.columns.join(', ')} FROM ${table.name} ORDER BY ${table.order}`).raw(true);
  let batch: unknown[][] = [];
  let count = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const width = table.columns.length;
    const tuples = batch.map((_, r) => `(${table.columns.map((__, c) => `$${r * width + c + 1}`).join(', ')})`);
    await client.query(`INSERT INTO ${table.name} (${table.columns.join(', ')}) VALUES ${tuples.join(', ')}`, batch.flat());
    count += batch.length;
    batch = [];
  };
  for (const row of select.iterate() as Iterable<unknown[]>) {
    batch.push(row);
    if (batch.length === BATCH) await flush();
  }
  await flush();
  if (table.serial) {
    await client.query(`SELECT setval(pg_get_serial_sequence('${table.name}', '${table.serial}'), GREATEST((SELECT max(${table.serial}) FROM ${table.name}), 1))`);
  }
  return count;
}

/** Row counts and the audit head, read back inside the transaction: a copy that differs never commits. */
async function checkCopy(db: Db, client: pg.PoolClient, copied: Record<string, number>, sourceHead: { seq: number; hash: string } | null): Promise<void> {
  for (const table of TABLES) {
    const source = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${table.name}`).get()!.n;
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table.name}`);
    if (Number(rows[0]!.n) !== source || copied[table.name] !== source) {
      throw new Error(`the copy of ${table.name} has ${rows[0]!.n} rows, the source ${source}; nothing was committed`);
    }
  }
  const { rows } = await client.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
  if ((rows[0]?.hash ?? null) !== (sourceHead?.hash ?? null)) {
    throw new Error('the copied audit log does not end where the source does; nothing was committed');
  }
}
