/**
 * A whole CA in-process on each datastore engine, and what an attacker with
 * write access to that datastore can do to it: SQL straight at its tables,
 * the audit log's append-only guard switched off, the chain re-hashed — and
 * every table put back afterwards. The embedded datastore always; PostgreSQL
 * when a server can be started here (startPostgres says loudly when it
 * cannot, and the cases for it are then not run).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { eventHash } from '../../src/ca/audit-chain.js';
import type { VerificationResult } from '../../src/ca/audit-verifier.js';
import type { CaOverrides } from '../../src/cli/ca-runtime.js';
import { verifyStoredAudit } from '../../src/ca/audit-service.js';
import { verifyDatastoreFile } from '../../src/cli/offline-audit.js';
import { numbered } from '../../src/store/certificate-sql.js';
import { createPool } from '../../src/store/postgres/connection.js';
import { openPostgresDatastore } from '../../src/store/postgres/datastore.js';
import type { Db } from '../../src/store/sqlite/database.js';
import { systemClock } from '../../src/time/clock.js';
import { copyDatastore, type EventRow } from './audit-log.js';
import { cleanupLater } from './cleanup.js';
import { startPostgres, type Postgres } from './postgres.js';
import { tempDir } from './temp-dir.js';
import { asTestCa, startInProcessCa, type InProcessCa, type Settings } from './test-ca.js';

/**
 * The tables a tamper case may change, in the order they are put back; the
 * registration tables too, which verification holds to the log as well.
 */
const TABLES = { certificates: 'id', audit_events: 'seq', audit_checkpoints: 'id', join_tokens: 'hash', agents: 'name', entries: 'id' } as const;
type Table = keyof typeof TABLES;

export type Snapshot = Readonly<Record<Table, readonly Record<string, unknown>[]>>;

/** A running CA and its datastore, open to tampering. */
export interface TamperableCa {
  readonly ca: InProcessCa;
  /** SQL with `?` placeholders straight at the datastore; its rows (integers as numbers, binary as Buffer). */
  sql<T = Record<string, unknown>>(text: string, ...params: unknown[]): Promise<T[]>;
  /** Turns the audit log's append-only guard off (what such an attacker does first), or back on. */
  guardAudit(on: boolean): Promise<void>;
  /**
   * `audit verify` on the datastore without the server: a copy of the SQLite
   * file (`--db`), or another handle on the PostgreSQL database (as `datastore
   * migrate` verifies, and another replica would read it).
   */
  verifyOffline(): Promise<VerificationResult>;
}

export interface CaEngine {
  readonly name: string;
  start(settings?: Settings, overrides?: CaOverrides): Promise<TamperableCa>;
}

const embedded: CaEngine = {
  name: 'sqlite',
  start: async (settings, overrides) => {
    const running = await startInProcessCa(settings, overrides);
    const db = asTestCa(running, running.config, running.bundlePem).store.db;
    const triggers = db
      .prepare<[], { name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'audit_%' ORDER BY name")
      .all();
    return {
      ca: running,
      sql: async <T>(text: string, ...params: unknown[]) => run<T>(db, text, params),
      guardAudit: async (on) => {
        for (const t of triggers) db.exec(`DROP TRIGGER IF EXISTS ${t.name}`);
        if (on) for (const t of triggers) db.exec(t.sql);
      },
      verifyOffline: () => verifyDatastoreFile(copyDatastore(db, tempDir())),
    };
  },
};

function run<T>(db: Db, text: string, params: unknown[]): T[] {
  const statement = db.prepare(text);
  if (statement.reader) return statement.all(...params) as T[];
  statement.run(...params);
  return [];
}

const PASSPHRASE = 'tamper test passphrase';

function postgres(server: Postgres): CaEngine {
  return {
    name: 'postgres',
    start: async (settings, overrides) => {
      const url = await server.database();
      const passphraseFile = join(tempDir(), 'passphrase');
      writeFileSync(passphraseFile, PASSPHRASE, { mode: 0o600 });
      const running = await startInProcessCa({ ...settings, datastore: url, 'key-passphrase-file': passphraseFile }, overrides);
      // The pool meshca itself uses, so that BIGINT columns read back as numbers.
      const pool: pg.Pool = createPool(url);
      cleanupLater(() => pool.end());
      const replica = await openPostgresDatastore(url, systemClock, PASSPHRASE);
      cleanupLater(() => replica.close());
      return {
        ca: running,
        sql: async <T>(text: string, ...params: unknown[]) => (await pool.query(numbered(text), params)).rows as T[],
        guardAudit: async (on) => {
          await pool.query(`ALTER TABLE audit_events ${on ? 'ENABLE' : 'DISABLE'} TRIGGER audit_events_no_update`);
        },
        verifyOffline: () => verifyStoredAudit(replica.authorities, replica.audit),
      };
    },
  };
}

/** The embedded datastore, and PostgreSQL when one can be started (once per test file, stopped after its last test). */
export async function caEngines(): Promise<CaEngine[]> {
  const server = await startPostgres();
  return server ? [embedded, postgres(server)] : [embedded];
}

/** The tables a tamper case may change, as they are now. */
export async function snapshot(t: TamperableCa): Promise<Snapshot> {
  const s: Partial<Record<Table, Record<string, unknown>[]>> = {};
  for (const [table, order] of Object.entries(TABLES) as Array<[Table, string]>) s[table] = await t.sql(`SELECT * FROM ${table} ORDER BY ${order}`);
  return s as Snapshot;
}

/** Puts the tables back as they were in `s`, the audit log's guard on again. */
export async function restore(t: TamperableCa, s: Snapshot): Promise<void> {
  await t.guardAudit(false);
  for (const table of Object.keys(TABLES) as Table[]) {
    await t.sql(`DELETE FROM ${table}`);
    for (const row of s[table]) await insertRow(t, table, row);
  }
  await t.guardAudit(true);
}

/** Inserts `row` as it stands, every column given (the id too). */
export async function insertRow(t: TamperableCa, table: Table, row: Record<string, unknown>): Promise<void> {
  const columns = Object.keys(row);
  await t.sql(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`, ...Object.values(row));
}

export function eventRows(t: TamperableCa): Promise<EventRow[]> {
  return t.sql<EventRow>('SELECT seq, at, type, actor, data, prev_hash, hash FROM audit_events ORDER BY seq');
}

/**
 * Recomputes prev_hash and hash of every event from `fromSeq` on, so that a
 * rewritten tail is a valid chain again: only a signed checkpoint can tell.
 * The append-only guard must be off.
 */
export async function rechainFrom(t: TamperableCa, fromSeq: number): Promise<void> {
  const rows = (await eventRows(t)).filter((r) => r.seq >= fromSeq);
  let prevHash = rows[0]!.prev_hash;
  for (const row of rows) {
    const hash = eventHash({ seq: row.seq, at: row.at, type: row.type, actor: row.actor, dataJson: row.data, prevHash });
    await t.sql('UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?', prevHash, hash, row.seq);
    prevHash = hash;
  }
}
