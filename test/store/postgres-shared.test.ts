/**
 * What PostgreSQL adds over the embedded store: several replicas sharing one
 * database. Each handle here is what one `meshca server` replica opens.
 */
import { generateKeyPairSync } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { eventHash, GENESIS_HASH } from '../../src/ca/audit-chain.js';
import type { StoredEvent } from '../../src/ca/audit-verifier.js';
import type { Datastore } from '../../src/store/datastore.js';
import { LOCKS } from '../../src/store/postgres/connection.js';
import { openPostgresDatastore } from '../../src/store/postgres/datastore.js';
import { PG_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { cleanupLater } from '../support/cleanup.js';
import { FakeClock } from '../support/fake-clock.js';
import { startPostgres } from '../support/postgres.js';
import { authority, issued } from '../support/store-records.js';
import { waitFor } from '../support/wait.js';

const server = await startPostgres();
const PASSPHRASE = 'replica test passphrase';

async function replicas(count: number): Promise<{ url: string; stores: Datastore[] }> {
  const url = await server!.database();
  const stores: Datastore[] = [];
  for (let i = 0; i < count; i++) {
    const store = await openPostgresDatastore(url, new FakeClock(), PASSPHRASE);
    cleanupLater(() => store.close());
    stores.push(store);
  }
  return { url, stores };
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

describe.skipIf(!server)('PostgreSQL shared by several replicas', () => {
  it('migrates once when replicas open a new database at the same moment', async () => {
    const url = await server!.database();
    const opened = await Promise.all([1, 2, 3].map(() => openPostgresDatastore(url, new FakeClock(), PASSPHRASE)));
    for (const store of opened) cleanupLater(() => store.close());
    expect(opened.filter((s) => s.created)).toHaveLength(1);
    // Each version recorded exactly once, however many replicas raced to apply it.
    expect(await query(url, 'SELECT version FROM schema_migrations ORDER BY version')).toEqual(PG_MIGRATIONS.map((_, i) => ({ version: i + 1 })));
  });

  it('writes one unbroken audit chain when replicas issue at the same time', async () => {
    const { stores } = await replicas(3);
    await Promise.all(
      stores.flatMap((store, r) =>
        Array.from({ length: 40 }, (_, i) => {
          const { record, event } = issued(`${r}${String(i).padStart(3, '0')}`);
          return store.certificates.recordIssued(record, event);
        }),
      ),
    );
    const events: StoredEvent[] = [];
    for await (const e of stores[0]!.audit.events()) events.push(e);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    let prev = GENESIS_HASH;
    for (const e of events) {
      expect(e.prevHash).toBe(prev);
      expect(e.hash).toBe(eventHash({ seq: e.seq, at: e.at, type: e.type, actor: e.actor, dataJson: e.dataJson, prevHash: e.prevHash }));
      prev = e.hash;
    }
    const page = await stores[1]!.certificates.listCertificates({}, null, 1000);
    expect(new Set(page.items.map((c) => c.serial)).size).toBe(120);
  });

  it('lets one replica at a time hold the lifecycle lock, and frees it when that replica finishes', async () => {
    const { stores } = await replicas(2);
    const [a, b] = stores as [Datastore, Datastore];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const first = a.coordinator.exclusive(async () => {
      entered();
      await held;
      return 'a ran';
    });
    await inside;
    expect(await b.coordinator.exclusive(async () => 'b ran')).toBeUndefined();
    release();
    expect(await first).toBe('a ran');
    expect(await b.coordinator.exclusive(async () => 'b ran')).toBe('b ran');
  });

  it('frees the lifecycle lock when the replica holding it dies', async () => {
    const { url, stores } = await replicas(1);
    const survivor = stores[0]!;
    const doomed = new pg.Client({ connectionString: url });
    await doomed.connect();
    await doomed.query('SELECT pg_advisory_lock($1)', [LOCKS.lifecycle]);
    expect(await survivor.coordinator.exclusive(async () => 'ran')).toBeUndefined();
    // A replica killed with SIGKILL: its connection is cut, never closed politely.
    const pid = (await doomed.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    doomed.on('error', () => undefined);
    await query(url, `SELECT pg_terminate_backend(${pid})`);
    // The lock goes with the session as the backend exits, a moment after it is told to.
    await waitFor('the lock to be free', async () => (await survivor.coordinator.exclusive(async () => 'ran')) === 'ran', 5_000, 20);
  });

  it('keeps CA keys only encrypted with the passphrase, readable by every replica', async () => {
    const { url, stores } = await replicas(2);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await stores[0]!.custody.save('root-1', privateKey);
    const [row] = await query<{ pem: string }>(url, "SELECT pem FROM ca_keys WHERE ref = 'root-1'");
    expect(row!.pem).toMatch(/^meshca-key-kdf: scrypt N=32768 r=8 p=1 salt=\S+\n-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(row!.pem).not.toContain(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n')[1]);
    expect((await stores[1]!.custody.load('root-1')).export({ format: 'jwk' })).toEqual(privateKey.export({ format: 'jwk' }));
  });

  it('commits nothing of a lifecycle change whose replica lost the lock mid-way, so another replica can take the step', async () => {
    const { url, stores } = await replicas(2);
    const [a, b] = stores as [Datastore, Datastore];
    const outcome = await a.coordinator.exclusive(async () => {
      // A's lock session is cut (a network blip, a database failover) while it is still working.
      await query(url, "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = " + LOCKS.lifecycle);
      await waitFor('B to take the freed lock', async () => (await b.coordinator.exclusive(async () => 'b ran')) === 'b ran', 5_000, 20);
      return a.authorities.applyAuthorityChange({ upserts: [authority('aa', 'active')], bundleSequence: 1, events: [] }).then(
        () => 'committed',
        (err: Error) => err.message,
      );
    });
    expect(outcome).toBe('this replica lost the lifecycle lock (its database session ended); the change was not committed');
    expect(await b.authorities.listAuthorities()).toEqual([]);
  });
});
