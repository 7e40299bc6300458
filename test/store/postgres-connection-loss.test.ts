/**
 * What a replica does when PostgreSQL drops its connections (a restart, a
 * failover, an administrator's pg_terminate_backend, a proxy timing out idle
 * sessions): the writes in flight fail (store_unavailable, nothing
 * acknowledged), the process keeps running, and the next request uses a new
 * connection. It must never take the replica down. A statement the database
 * gives up on (its timeouts) is the datastore unavailable too.
 *
 * Sessions are ended with pg_terminate_backend, which sends each one what a
 * fast shutdown (`pg_ctl stop -m fast`, and so a restart) sends: FATAL 57P01,
 * then closes the socket.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { UnavailableError } from '../../src/errors.js';
import { describe, expect, it } from 'vitest';
import { CONNECT_TIMEOUT_MS, createPool, LOCKS, QUERY_TIMEOUT_MS } from '../../src/store/postgres/connection.js';
import { openPostgresDatastore } from '../../src/store/postgres/datastore.js';
import { cleanupLater } from '../support/cleanup.js';
import { PROJECT_ROOT, runMeshca } from '../support/cli.js';
import { FakeClock } from '../support/fake-clock.js';
import { startPostgres } from '../support/postgres.js';
import { issued } from '../support/store-records.js';
import { startServer } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';
import { sleep, waitFor } from '../support/wait.js';

const server = await startPostgres();
const PASSPHRASE = 'connection loss test passphrase';

/** Ends every session on the database but the caller's own; resolves how many it ended. */
async function terminateOthers(admin: pg.Client): Promise<number> {
  const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
  for (const { pid } of rows) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  return rows.length;
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  cleanupLater(() => client.end().catch(() => undefined));
  return client;
}

/**
 * A process holding the PostgreSQL datastore as a replica does (the built
 * adapter from dist/), driven line by line over stdin: `append` appends an
 * audit event and answers `ok N` or `failed N CODE`, where N counts commands.
 */
const REPLICA_SCRIPT = `
import { createInterface } from 'node:readline';
const { openPostgresDatastore } = await import(process.env.ADAPTER);
const store = await openPostgresDatastore(process.env.URL, { nowMs: () => Date.now() }, process.env.PASSPHRASE);
let n = 0;
console.log('ready');
for await (const line of createInterface({ input: process.stdin })) {
  const id = ++n;
  if (line === 'append') {
    store.audit.append({ type: 'test.note', actor: 'test', data: { id } }).then(
      () => console.log('ok ' + id),
      (err) => console.log('failed ' + id + ' ' + (err.code ?? err.message) + (store.unavailable(err) ? ' (store unavailable)' : '')),
    );
  } else if (line === 'exit') {
    await store.close();
    process.exit(0);
  }
}
`;

interface Replica {
  send(line: string): void;
  /** Resolves the first stdout line matching, after any seen so far. */
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves the exit code (null: a signal) once the process has exited. */
  exited: Promise<number | null>;
  output(): string;
  readonly pid: number;
}

function startReplica(url: string): Replica {
  const adapter = pathToFileURL(resolve(PROJECT_ROOT, 'dist/src/store/postgres/datastore.js')).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e', REPLICA_SCRIPT], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ADAPTER: adapter, URL: url, PASSPHRASE },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  cleanupLater(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    send: (line) => child.stdin.write(`${line}\n`),
    line: async (pattern, timeoutMs = 10_000) => {
      let found: string | undefined;
      await waitFor(`a line matching ${pattern} (output so far: ${out})`, () => {
        found = out.split('\n').find((l) => pattern.test(l));
        return found !== undefined || child.exitCode !== null;
      }, timeoutMs, 20);
      if (found === undefined) throw new Error(`the replica exited (${child.exitCode}) before printing ${pattern}:\n${out}`);
      return found;
    },
    exited,
    output: () => out,
    pid: child.pid!,
  };
}

describe.skipIf(!server)('a PostgreSQL replica when the database drops its connections', () => {
  it('is reachable (readiness) while the database answers, not within seconds once it refuses connections, and again after', async () => {
    const url = await server!.database();
    const store = await openPostgresDatastore(url, new FakeClock(Date.now()), PASSPHRASE);
    cleanupLater(() => store.close());
    await expect(store.reachable()).resolves.toBeUndefined();
    // From another database: a database refuses to stop taking connections from its own sessions.
    const elsewhere = new URL(url);
    const database = elsewhere.pathname.slice(1);
    elsewhere.pathname = '/postgres';
    const admin = await connect(elsewhere.toString());
    await admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS false`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [database]);
    const started = Date.now();
    await expect(store.reachable()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(3000);
    await admin.query(`ALTER DATABASE "${database}" ALLOW_CONNECTIONS true`);
    await expect(store.reachable()).resolves.toBeUndefined();
  });

  it('survives losing its idle connections, and its next write opens a new one', async () => {
    const url = await server!.database();
    const replica = startReplica(url);
    await replica.line(/^ready$/);
    replica.send('append');
    await replica.line(/^ok 1$/);

    // The pool now holds idle connections; the server ends them.
    const admin = await connect(url);
    expect(await terminateOthers(admin)).toBeGreaterThan(0);
    await sleep(300);

    replica.send('append');
    await replica.line(/^ok 2$/);
    replica.send('exit');
    expect(await replica.exited, replica.output()).toBe(0);
  });

  it('survives losing the connection of a transaction in flight: that write fails, nothing of it is committed, the next one succeeds', async () => {
    const url = await server!.database();
    const replica = startReplica(url);
    await replica.line(/^ready$/);

    // Hold the audit lock so the replica's append waits inside its transaction, on a checked-out connection.
    const admin = await connect(url);
    await admin.query('BEGIN');
    await admin.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.audit]);
    replica.send('append');
    await waitFor('the replica waiting for the audit lock', async () =>
      (await admin.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rowCount === 1, 10_000, 20);
    expect(await terminateOthers(admin)).toBeGreaterThan(0);
    await admin.query('COMMIT');

    expect(await replica.line(/^failed 1 /)).toMatch(/^failed 1 57P01 \(store unavailable\)$/);
    await sleep(300);
    replica.send('append');
    await replica.line(/^ok 2$/);
    replica.send('exit');
    expect(await replica.exited, replica.output()).toBe(0);
    // Only the second append was committed.
    const { rows } = await admin.query<{ data: string }>('SELECT data FROM audit_events ORDER BY seq');
    expect(rows.map((r) => JSON.parse(r.data))).toEqual([{ id: 2 }]);
  });

  it('keeps a meshca server replica running through it, issuing again on new connections', { timeout: 60_000 }, async () => {
    const url = await server!.database();
    const dataDir = tempDir();
    const env = { MESHCA_KEY_PASSPHRASE: PASSPHRASE };
    const ca = await startServer(['--data-dir', dataDir, '--datastore', url], env);
    cleanupLater(() => ca.stop().catch(() => undefined));
    const mint = (name: string) => runMeshca(['mint', '--spiffe-id', `spiffe://example.org/${name}`, '--out', join(dataDir, name), '--data-dir', dataDir], env);
    expect((await mint('before')).code).toBe(0);

    const admin = await connect(url);
    expect(await terminateOthers(admin)).toBeGreaterThan(0);
    await sleep(500);

    // Still the same process, and it issues (and records) again.
    expect(() => process.kill(ca.pid, 0), ca.output()).not.toThrow();
    const after = await mint('after');
    expect(after.code, `${after.stderr}\n${ca.output()}`).toBe(0);
    const { rows } = await admin.query<{ spiffe_id: string }>("SELECT spiffe_id FROM certificates WHERE kind = 'mint' ORDER BY id");
    expect(rows.map((r) => r.spiffe_id)).toEqual(['spiffe://example.org/before', 'spiffe://example.org/after']);
    expect(await ca.stop()).toBe(0);
  });

  it('gives up on a query the server does not answer (frozen, or cut off by a network that drops packets): store_unavailable within query_timeout, and the next write succeeds', async () => {
    const url = await server!.database();
    const defaults = createPool(url);
    await defaults.end();
    expect(defaults.options).toMatchObject({ query_timeout: QUERY_TIMEOUT_MS, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    const withTimeout = new URL(url);
    withTimeout.searchParams.set('query_timeout', '1000');
    const store = await openPostgresDatastore(withTimeout.toString(), new FakeClock(), PASSPHRASE);
    cleanupLater(() => store.close());

    // Another session holds the audit table: the server answers none of the store's queries on it, as if frozen.
    const admin = await connect(url);
    await admin.query('BEGIN');
    await admin.query('LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE');
    const started = Date.now();
    const failure = await store.audit.append({ type: 'test.unanswered', actor: 'test', data: {} }).then(() => undefined, (err: unknown) => err);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(store.unavailable(failure)).toBe(true);

    // Answering again: the write that timed out was not committed, and the next one succeeds on a new connection.
    await admin.query('COMMIT');
    await store.audit.append({ type: 'test.answered', actor: 'test', data: {} });
    const { rows } = await admin.query<{ type: string }>('SELECT type FROM audit_events ORDER BY seq');
    expect(rows.map((r) => r.type)).toEqual(['test.answered']);
  });

  it('says that a COMMIT the server never confirmed may have been made, rather than that nothing was', async () => {
    const url = await server!.database();
    const withTimeout = new URL(url);
    withTimeout.searchParams.set('query_timeout', '1000');
    const store = await openPostgresDatastore(withTimeout.toString(), new FakeClock(), PASSPHRASE);
    cleanupLater(() => store.close());
    // Issuances in a database of their own: the append below holds its database's audit lock until the standby is given up.
    const other = new URL(await server!.database());
    other.searchParams.set('query_timeout', '1000');
    const issuances = await openPostgresDatastore(other.toString(), new FakeClock(), PASSPHRASE);
    cleanupLater(() => issuances.close());

    // COMMIT waits for a synchronous standby that does not exist: committed here, never confirmed.
    const admin = await connect(url);
    const standby = async (names: string) => {
      await admin.query(names ? `ALTER SYSTEM SET synchronous_standby_names = '${names}'` : 'ALTER SYSTEM RESET synchronous_standby_names');
      await admin.query('SELECT pg_reload_conf()');
    };
    await admin.query('CREATE TABLE probe (n INTEGER)');
    await standby('nobody');
    cleanupLater(() => standby(''));
    // The server's checkpointer applies the setting some moments after the reload: probe until a commit waits.
    await waitFor('commits to wait for the standby', async () => {
      const probe = new pg.Client({ connectionString: url, query_timeout: 200 });
      probe.on('error', () => undefined);
      await probe.connect();
      const waited = await probe.query('INSERT INTO probe VALUES (1)').then(() => false, () => true);
      void probe.end().catch(() => undefined);
      return waited;
    }, 10_000, 50);

    const failure = await store.audit.append({ type: 'test.unconfirmed', actor: 'test', data: {} }).then(() => undefined, (err: unknown) => err);
    expect(failure).toBeInstanceOf(UnavailableError);
    expect(failure).toMatchObject({ code: 'store_unavailable', message: expect.stringContaining('may or may not have been made') });
    expect(store.unavailable(failure)).toBe(true);
    // An issuance so recorded is not handed out, and the caller is not told that no record was made.
    const { record, event } = issued('a1');
    const issuance = await issuances.certificates.recordIssued(record, event).then(() => undefined, (err: unknown) => err);
    expect(issuance).toMatchObject({ code: 'store_unavailable', message: expect.stringContaining('(it may have been made); the certificate was not handed out') });

    // Released once the setting is gone, the commit the store gave up on is there: it had been made.
    await standby('');
    await waitFor('the unconfirmed commit to be released', async () => (await admin.query('SELECT 1 FROM audit_events')).rowCount === 1, 10_000, 50);
    const { rows } = await admin.query<{ type: string }>('SELECT type FROM audit_events ORDER BY seq');
    expect(rows.map((r) => r.type)).toEqual(['test.unconfirmed']);
  });

  it('frees the audit lock of a replica that stalls in mid-transaction (frozen, or its host gone), so the others keep writing', { timeout: 60_000 }, async () => {
    const url = await server!.database();
    const stalled = startReplica(url);
    await stalled.line(/^ready$/);
    const other = await openPostgresDatastore(url, new FakeClock(), PASSPHRASE);
    cleanupLater(() => other.close());

    // Hold the stalled replica's append after it took the audit lock: its INSERT waits for this table lock.
    const admin = await connect(url);
    await admin.query('BEGIN');
    await admin.query('LOCK TABLE audit_events IN SHARE MODE');
    stalled.send('append');
    await waitFor('the replica inserting under the audit lock', async () =>
      (await admin.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rowCount === 1, 10_000, 20);
    // Frozen as a replica whose host vanished is: its socket stays open, it sends nothing more (no COMMIT).
    process.kill(stalled.pid, 'SIGSTOP');
    cleanupLater(() => process.kill(stalled.pid, 'SIGCONT'));
    await admin.query('COMMIT');

    // Another replica's write must not wait for TCP to notice (hours, with default keepalives).
    const started = Date.now();
    const appended = other.audit.append({ type: 'test.other', actor: 'test', data: {} }).then(() => Date.now() - started);
    const waited = await Promise.race([appended, sleep(30_000).then(() => 'still waiting after 30 s')]);
    expect(waited).toBeLessThan(20_000);

    // The stalled replica, thawed, finds its transaction gone: the datastore unavailable for that write (503, not a 500),
    // nothing of it committed, and it carries on.
    process.kill(stalled.pid, 'SIGCONT');
    expect(await stalled.line(/^failed 1 /)).toMatch(/ \(store unavailable\)$/);
    stalled.send('append');
    await stalled.line(/^ok 2$/);
    const { rows } = await admin.query<{ type: string }>('SELECT type FROM audit_events ORDER BY seq');
    expect(rows.map((r) => r.type)).toEqual(['test.other', 'test.note']);
  });
});

describe.skipIf(!server)('a PostgreSQL replica whose statements the database gives up on (settings its administrator gave the role)', () => {
  it.each(['statement_timeout', 'lock_timeout'])('refuses a change that waited past %s for the audit lock as store unavailable (503), committing nothing', async (setting) => {
    const url = await server!.database();
    const admin = await connect(url);
    await admin.query(`ALTER DATABASE "${new URL(url).pathname.slice(1)}" SET ${setting} = '300ms'`);
    const store = await openPostgresDatastore(url, new FakeClock(), PASSPHRASE);
    cleanupLater(() => store.close());

    // Another replica holds the audit lock (a long change, or a stall shorter than idle_in_transaction_session_timeout).
    await admin.query('BEGIN');
    await admin.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.audit]);
    const token = { hash: 'ab'.repeat(32), agent: 'node-1', createdAt: 0, expiresAt: 600, createdBy: 'operator:local', creatorSerial: null, usedAt: null };
    const failure = await store.registrations.createToken(token, { type: 'token.created', actor: 'operator:local', data: {} }).then(() => undefined, (err: unknown) => err);
    await admin.query('COMMIT');
    expect(store.unavailable(failure)).toBe(true);
    expect((await admin.query('SELECT 1 FROM join_tokens')).rowCount).toBe(0);
  });
});
