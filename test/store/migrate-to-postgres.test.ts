/**
 * The copy `meshca datastore migrate` makes, at the level of the stores: what
 * it refuses before it writes anything, and that a refused or failed
 * migration leaves the target as it found it.
 */
import Database from 'better-sqlite3';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { migrateToPostgres, MigrationRefusedError } from '../../src/store/migrate-to-postgres.js';
import { PgCoordinator } from '../../src/store/postgres/coordinator.js';
import { DATABASE_FILE } from '../../src/store/sqlite/database.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { openSqliteDatastore } from '../../src/store/sqlite/datastore.js';
import { FakeClock } from '../support/fake-clock.js';
import { startPostgres } from '../support/postgres.js';
import { authority, issued } from '../support/store-records.js';
import { tempDir } from '../support/temp-dir.js';

const server = await startPostgres();
const PASSPHRASE = 'migration store test passphrase';

async function tables(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
    return rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}

/** An embedded datastore as an older meshca left it: only its first `version` migrations applied. */
function olderDatastore(version: number): string {
  const dir = tempDir();
  const db = new Database(join(dir, DATABASE_FILE));
  for (const sql of MIGRATIONS.slice(0, version)) db.exec(sql);
  db.pragma(`user_version = ${version}`);
  db.prepare(
    "INSERT INTO authorities (id, kind, state, cert_der, not_before, not_after, key_ref, created_at) VALUES ('r', 'root', 'active', x'00', 0, 1, 'r', 0)",
  ).run();
  db.close();
  return dir;
}

describe.skipIf(!server)('migrating the embedded datastore to PostgreSQL', () => {
  it.each([4, MIGRATIONS.length - 1])('refuses a source at an older schema (version %i), naming what to do, and creates nothing in the target', async (version) => {
    const dataDir = olderDatastore(version);
    const url = await server!.database();
    const migrating = migrateToPostgres({ dataDir, url, passphrase: PASSPHRASE, now: 0 });
    await expect(migrating).rejects.toBeInstanceOf(MigrationRefusedError);
    await expect(migrating).rejects.toThrow(`schema version ${version}`);
    expect(await tables(url)).toEqual([]);
  });

  it('copies a current source, and a second run into the same database is refused', async () => {
    const clock = new FakeClock();
    const dataDir = tempDir();
    const store = openSqliteDatastore(dataDir, clock, { keyPassphrase: PASSPHRASE });
    await store.authorities.applyAuthorityChange({ upserts: [authority('aa', 'active')], bundleSequence: 1, events: [] });
    const { record, event } = issued('01', clock.nowSeconds());
    await store.certificates.recordIssued(record, event);
    // A remote operator's token: the serial of the credential that made it is copied with it, so that it still dies with that credential.
    const token = { hash: 'ab'.repeat(32), agent: 'node-1', createdAt: 0, expiresAt: clock.nowSeconds() + 600, createdBy: 'operator:olga', creatorSerial: '01', usedAt: null };
    await store.registrations.createToken(token, { type: 'token.created', actor: 'operator:olga', data: {} });
    await store.close();
    const url = await server!.database();
    const report = await migrateToPostgres({ dataDir, url, passphrase: PASSPHRASE, now: clock.nowSeconds() });
    expect(report.rows).toMatchObject({ authorities: 1, certificates: 1, audit_events: 2, join_tokens: 1 });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      expect((await client.query('SELECT hash, creator_serial FROM join_tokens')).rows).toEqual([{ hash: token.hash, creator_serial: '01' }]);
    } finally {
      await client.end();
    }
    await expect(migrateToPostgres({ dataDir, url, passphrase: PASSPHRASE, now: clock.nowSeconds() })).rejects.toBeInstanceOf(MigrationRefusedError);
  });

  it('loses nothing the embedded datastore holds: every table, ca_state\'s markers included, reads the same in the target', async () => {
    const clock = new FakeClock();
    const dataDir = tempDir();
    const store = openSqliteDatastore(dataDir, clock, { keyPassphrase: PASSPHRASE });
    await store.authorities.notePkiBegun('import');
    await store.authorities.applyAuthorityChange({ upserts: [authority('aa', 'active')], bundleSequence: 1, events: [] });
    const { record, event } = issued('01', clock.nowSeconds());
    await store.certificates.recordIssued(record, event);
    const token = { hash: 'ab'.repeat(32), agent: 'node-1', createdAt: 0, expiresAt: 600, createdBy: 'operator:olga', creatorSerial: '01', usedAt: null };
    await store.registrations.createToken(token, { type: 'token.created', actor: 'operator:olga', data: {} });
    await store.close();
    // What the stores above do not reach as simply, written as the CA writes them.
    const raw = new Database(join(dataDir, DATABASE_FILE));
    raw.exec(`
      INSERT INTO agents (name, status, attested_at, last_seen, svid_serial, svid_not_after, status_changed_at) VALUES ('node-1', 'active', 5, 6, '02', 7, 5);
      INSERT INTO entries (id, agent, spiffe_id, ttl, dns_names, created_at, updated_at, revision) VALUES ('e1', 'node-1', 'spiffe://example.org/w', 60, '[]', 5, 6, 2);
      INSERT INTO audit_checkpoints (seq, hash, at, signer_id, signature) VALUES (2, 'cd', 9, 'aa', 'sig');
      INSERT INTO write_probe (filler) VALUES (x'00');
    `);
    const tables = raw.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all().map((t) => t.name);
    const source = Object.fromEntries(tables.map((t) => [t, raw.prepare(`SELECT * FROM ${t}`).all() as Array<Record<string, unknown>>]));
    raw.close();
    const url = await server!.database();
    await migrateToPostgres({ dataDir, url, passphrase: PASSPHRASE, now: clock.nowSeconds() });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    /** A value as both engines can be compared on: PostgreSQL's BIGINTs come back as strings, SQLite's integers as numbers. */
    const comparable = (row: Record<string, unknown>, columns: readonly string[]) =>
      JSON.stringify(columns.map((c) => (Buffer.isBuffer(row[c]) ? `hex:${row[c].toString('hex')}` : row[c] === null ? null : String(row[c]))));
    try {
      // Rows the target has besides the copy: the migration's own audit event; a write probe is scratch, never state.
      const added: Record<string, number> = { audit_events: 1 };
      const scratch = new Set(['write_probe']);
      for (const table of tables) {
        const columns = Object.keys(source[table]![0] ?? {});
        const expected = scratch.has(table) ? [] : source[table]!.map((row) => comparable(row, columns)).sort();
        const target = (await client.query<Record<string, unknown>>(`SELECT * FROM ${table}`)).rows.map((row) => comparable(row, columns)).sort();
        expect({ table, rows: source[table]!.length > 0 }).toEqual({ table, rows: true });
        expect({ table, missing: expected.filter((row) => !target.includes(row)), added: target.length - expected.length }).toEqual({ table, missing: [], added: added[table] ?? 0 });
      }
    } finally {
      await client.end();
    }
  });

  it('copies only the CA keys a record names, and says which it left behind', async () => {
    const clock = new FakeClock();
    const dataDir = tempDir();
    const store = openSqliteDatastore(dataDir, clock, { keyPassphrase: PASSPHRASE });
    await store.authorities.applyAuthorityChange({ upserts: [authority('aa', 'active')], bundleSequence: 1, events: [] });
    // 'aa' is the record's; 'bb' is what a CA killed between saving a key and recording it leaves.
    for (const ref of ['aa', 'bb']) await store.custody.save(ref, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    await store.close();
    const url = await server!.database();
    const report = await migrateToPostgres({ dataDir, url, passphrase: PASSPHRASE, now: clock.nowSeconds() });
    expect({ keys: report.keys, keysLeftBehind: report.keysLeftBehind }).toEqual({ keys: 1, keysLeftBehind: ['bb'] });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      expect((await client.query('SELECT ref FROM ca_keys ORDER BY ref')).rows).toEqual([{ ref: 'aa' }]);
    } finally {
      await client.end();
    }
  });

  it('copies under the replicas\' lifecycle lock, so a replica starting against the target meanwhile cannot create a PKI beside the copy', async () => {
    const clock = new FakeClock();
    const dataDir = tempDir();
    const store = openSqliteDatastore(dataDir, clock, { keyPassphrase: PASSPHRASE });
    await store.authorities.applyAuthorityChange({ upserts: [authority('aa', 'active')], bundleSequence: 1, events: [] });
    await store.close();
    const url = await server!.database();
    const pool = new pg.Pool({ connectionString: url });
    try {
      let migrating: Promise<unknown> | undefined;
      // A replica holding the lock (creating its PKI): the migration waits for it rather than copy meanwhile.
      const settled = await new PgCoordinator(pool).exclusive(async () => {
        migrating = migrateToPostgres({ dataDir, url, passphrase: PASSPHRASE, now: clock.nowSeconds() });
        return Promise.race([migrating.then(() => 'finished', () => 'failed'), new Promise((resolve) => setTimeout(() => resolve('waiting'), 2000))]);
      });
      expect(settled).toBe('waiting');
      await expect(migrating).resolves.toMatchObject({ rows: { authorities: 1 } });
    } finally {
      await pool.end();
    }
  });
});
