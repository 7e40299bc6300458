/**
 * The migration that records which admin credential made each join token,
 * from the schema before it, on each engine: tokens made before it record
 * none (null), as the local operator's do, and still admit their agent.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Datastore } from '../../src/store/datastore.js';
import { openPostgresDatastore } from '../../src/store/postgres/datastore.js';
import { PG_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { DATABASE_FILE } from '../../src/store/sqlite/database.js';
import { openSqliteDatastore } from '../../src/store/sqlite/datastore.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { verifyDatastoreFile } from '../../src/cli/offline-audit.js';
import { cleanupLater } from '../support/cleanup.js';
import { FakeClock } from '../support/fake-clock.js';
import { startPostgres } from '../support/postgres.js';
import { agentRecord, issued } from '../support/store-records.js';
import { tempDir } from '../support/temp-dir.js';

/** A token an older meshca made, in the columns its schema had. */
const OLD_TOKEN = { hash: 'old-token-hash', agent: 'node-old', createdAt: 100, expiresAt: 200, createdBy: 'operator:olga' };
const INSERT_OLD_TOKEN =
  `INSERT INTO join_tokens (hash, agent, created_at, expires_at, created_by, used_at) ` +
  `VALUES ('${OLD_TOKEN.hash}', '${OLD_TOKEN.agent}', ${OLD_TOKEN.createdAt}, ${OLD_TOKEN.expiresAt}, '${OLD_TOKEN.createdBy}', NULL)`;

interface OlderEngine {
  readonly name: string;
  /** A datastore the meshca before this migration left, holding OLD_TOKEN, opened (so migrated) by this one. */
  openMigrated(clock: FakeClock): Promise<Datastore>;
}

/** A data directory as the meshca before this migration left it, its datastore holding `rows`. */
function olderSqlite(...rows: string[]): string {
  const dir = tempDir();
  const db = new Database(join(dir, DATABASE_FILE));
  for (const sql of MIGRATIONS.slice(0, -1)) db.exec(sql);
  db.pragma(`user_version = ${MIGRATIONS.length - 1}`);
  for (const row of rows) db.exec(row);
  db.close();
  return dir;
}

const sqlite: OlderEngine = {
  name: 'sqlite',
  openMigrated: async (clock) => {
    const dir = olderSqlite(INSERT_OLD_TOKEN);
    const store = openSqliteDatastore(dir, clock, {});
    cleanupLater(() => store.close().catch(() => undefined));
    return store;
  },
};

function postgres(server: { database(): Promise<string> }): OlderEngine {
  return {
    name: 'postgres',
    openMigrated: async (clock) => {
      const url = await server.database();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        // As connection.ts's migrate leaves a database, one migration short.
        await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
        for (const [i, sql] of PG_MIGRATIONS.slice(0, -1).entries()) {
          await client.query(sql);
          await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
        }
        await client.query(INSERT_OLD_TOKEN);
      } finally {
        await client.end();
      }
      const store = await openPostgresDatastore(url, clock, 'migration test passphrase');
      cleanupLater(() => store.close().catch(() => undefined));
      return store;
    },
  };
}

it('audit verify --db reads a datastore file the meshca before this migration left, which it opens read-only and so does not migrate', async () => {
  const result = await verifyDatastoreFile(join(olderSqlite(), DATABASE_FILE));
  expect({ ok: result.ok, problem: result.problem }).toEqual({ ok: true, problem: undefined });
});

const server = await startPostgres();
const ENGINES = server ? [sqlite, postgres(server)] : [sqlite];

describe.each(ENGINES)('the $name datastore, migrated from the schema before join tokens recorded their maker', (engine) => {
  it('records no creator serial for the tokens made before (null), and they still admit their agent', async () => {
    const store = await engine.openMigrated(new FakeClock());
    const old = { ...OLD_TOKEN, creatorSerial: null, usedAt: null };
    expect(await store.registrations.findToken(OLD_TOKEN.hash)).toEqual(old);
    expect(await store.registrations.listOutstandingTokens(150, undefined, null, 10)).toEqual([old]);

    const admitted = await store.registrations.completeAttestation({
      tokenHash: OLD_TOKEN.hash,
      now: 150,
      agent: agentRecord(OLD_TOKEN.agent, 150),
      certificate: issued('0a', 150, { kind: 'agent', agent: OLD_TOKEN.agent }).record,
      events: [{ type: 'agent.attested', actor: `agent:${OLD_TOKEN.agent}`, data: { agent: OLD_TOKEN.agent } }],
    });
    expect(admitted).toBe(true);
    expect(await store.registrations.findToken(OLD_TOKEN.hash)).toEqual({ ...old, usedAt: 150, spentBy: 'attestation' });
  });
});
