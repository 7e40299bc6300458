/**
 * The audit log as a test sees it: its rows read straight from SQLite, the
 * attacker's tools (dropping the append-only triggers, re-chaining a rewritten
 * tail so it is internally consistent) and verification over the API.
 */
import { join } from 'node:path';
import type { VerificationResult } from '../../src/ca/audit-verifier.js';
import { eventHash } from '../../src/ca/audit-chain.js';
import type { Db } from '../../src/store/sqlite/database.js';
import type { InProcessCa, TestCa } from './test-ca.js';

/** One row of audit_events, as stored. */
export interface EventRow {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly actor: string;
  readonly data: string;
  readonly prev_hash: string;
  readonly hash: string;
}

export function eventRows(db: Db): EventRow[] {
  return db.prepare<[], EventRow>('SELECT seq, at, type, actor, data, prev_hash, hash FROM audit_events ORDER BY seq').all();
}

export function eventRow(db: Db, seq: number): EventRow {
  const row = db.prepare<[number], EventRow>('SELECT seq, at, type, actor, data, prev_hash, hash FROM audit_events WHERE seq = ?').get(seq);
  if (!row) throw new Error(`no audit event ${seq}`);
  return row;
}

/** The datastore file of a CA, for `meshca audit verify --db`. */
export function databaseFile(ca: TestCa): string {
  return join(ca.config.dataDir, 'meshca.db');
}

/** What an attacker with write access to the file does first. */
export function dropAppendOnlyTriggers(db: Db): void {
  db.exec('DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;');
}

/**
 * Recomputes prev_hash and hash of every event from `fromSeq` on, so that a
 * rewritten tail is a valid chain again: only a signed checkpoint can tell.
 */
export function rechainFrom(db: Db, fromSeq: number): void {
  const update = db.prepare('UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?');
  db.transaction(() => {
    let prevHash = eventRow(db, fromSeq).prev_hash;
    for (const row of eventRows(db).filter((r) => r.seq >= fromSeq)) {
      const hash = eventHash({ seq: row.seq, at: row.at, type: row.type, actor: row.actor, dataJson: row.data, prevHash });
      update.run(prevHash, hash, row.seq);
      prevHash = hash;
    }
  })();
}

/** POST /v1/audit/verify as the local operator, optionally pinning a trust bundle. */
export async function verifyOverApi(ca: InProcessCa, trustBundle?: string): Promise<VerificationResult> {
  const res = await ca.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: trustBundle ? { trustBundle } : {} });
  if (res.statusCode !== 200) throw new Error(`verify -> ${res.statusCode} ${res.body}`);
  return res.json<VerificationResult>();
}

/**
 * The audit tables and their triggers as they were, to put back after a tamper
 * case; and the registration tables, which verification holds to the log.
 */
export interface AuditSnapshot {
  readonly events: readonly EventRow[];
  readonly checkpoints: readonly Record<string, unknown>[];
  readonly triggers: readonly string[];
  readonly registration: ReadonlyMap<string, readonly Record<string, unknown>[]>;
}

const REGISTRATION_TABLES = ['join_tokens', 'agents', 'entries'];

export function snapshotAudit(db: Db): AuditSnapshot {
  return {
    events: eventRows(db),
    checkpoints: db.prepare<[], Record<string, unknown>>('SELECT * FROM audit_checkpoints ORDER BY id').all(),
    triggers: db
      .prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events' ORDER BY name")
      .all()
      .map((t) => t.sql),
    registration: new Map(REGISTRATION_TABLES.map((table) => [table, db.prepare<[], Record<string, unknown>>(`SELECT * FROM ${table}`).all()])),
  };
}

export function restoreAudit(db: Db, s: AuditSnapshot): void {
  db.transaction(() => {
    db.exec('DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete;');
    db.prepare('DELETE FROM audit_events').run();
    const event = db.prepare('INSERT INTO audit_events (seq, at, type, actor, data, prev_hash, hash) VALUES (@seq, @at, @type, @actor, @data, @prev_hash, @hash)');
    for (const e of s.events) event.run(e);
    db.prepare('DELETE FROM audit_checkpoints').run();
    const checkpoint = db.prepare('INSERT INTO audit_checkpoints (id, seq, hash, at, signer_id, signature) VALUES (@id, @seq, @hash, @at, @signer_id, @signature)');
    for (const c of s.checkpoints) checkpoint.run(c);
    for (const sql of s.triggers) db.exec(sql);
    for (const table of REGISTRATION_TABLES) {
      db.prepare(`DELETE FROM ${table}`).run();
      for (const row of s.registration.get(table)!) {
        const columns = Object.keys(row);
        db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`).run(row);
      }
    }
  })();
}

/** A consistent copy of a live datastore, as an auditor would take one, for `meshca audit verify --db`. */
export function copyDatastore(db: Db, dir: string): string {
  const file = join(dir, 'copy.db');
  db.prepare('VACUUM INTO ?').run(file);
  return file;
}
