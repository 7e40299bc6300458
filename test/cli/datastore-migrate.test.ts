/**
 * `meshca datastore migrate --to postgres://...`: an embedded CA with history
 * (SVIDs, a revocation, entries, agent tokens, a ban, a signed checkpoint) moved into
 * PostgreSQL keeps its root, its records and its audit chain, which verifies
 * and continues; migrations that would lose or mix anything are refused.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { cleanupLater } from '../support/cleanup.js';
import { runMeshca } from '../support/cli.js';
import { getOverSocket } from '../support/http-client.js';
import { startPostgres } from '../support/postgres.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

const server = await startPostgres();
const PASSPHRASE = { MESHCA_KEY_PASSPHRASE: 'migration test passphrase' };

async function running(args: string[]): Promise<ServerProcess> {
  const ca = await startServer(args, PASSPHRASE);
  cleanupLater(() => ca.stop());
  return ca;
}

async function meshca(args: string[], dataDir: string): Promise<string> {
  const res = await runMeshca([...args, '--data-dir', dataDir], PASSPHRASE);
  expect(res.code, `meshca ${args.join(' ')}: ${res.stderr}`).toBe(0);
  return res.stdout;
}

/** Every table of the database with its row count: what "changes nothing" is checked against. */
async function tableCounts(url: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1");
    const counts: Record<string, number> = {};
    for (const { name } of tables.rows) counts[name] = Number((await client.query(`SELECT count(*) AS n FROM "${name}"`)).rows[0].n);
    return counts;
  } finally {
    await client.end();
  }
}

interface Listed {
  serial: string;
  spiffeId: string;
  revokedAt: string | null;
}

/** Signed checkpoints in a stopped CA's database: the one the test asks for, and any the 5-minute schedule added meanwhile. */
function checkpointsIn(dataDir: string): number {
  const db = new Database(join(dataDir, 'meshca.db'), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM audit_checkpoints').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** An embedded CA with some history, stopped: what an operator migrates. */
async function embeddedCaWithHistory(): Promise<{ dataDir: string; bundle: string; certs: Listed[]; events: string[]; checkpoints: number }> {
  const dataDir = tempDir();
  const ca = await running(['--data-dir', dataDir]);
  for (const name of ['web', 'db']) await meshca(['mint', '--spiffe-id', `spiffe://example.org/${name}`, '--out', join(dataDir, name)], dataDir);
  const web = JSON.parse(await meshca(['cert', 'list', '--spiffe-id', 'spiffe://example.org/web', '--json'], dataDir)) as Listed[];
  await meshca(['cert', 'revoke', '--serial', web[0]!.serial, '--reason', 'keyCompromise'], dataDir);
  const api = JSON.parse(await meshca(['entry', 'create', '--agent', 'node-1', '--spiffe-id', 'spiffe://example.org/api', '--json'], dataDir)) as { id: string };
  await meshca(['entry', 'update', api.id, '--ttl', '10m', '--dns', 'api.example.org'], dataDir);
  const gone = JSON.parse(await meshca(['entry', 'create', '--agent', 'node-1', '--spiffe-id', 'spiffe://example.org/gone', '--json'], dataDir)) as { id: string };
  await meshca(['entry', 'delete', gone.id], dataDir);
  await meshca(['token', 'create', '--agent', 'node-1'], dataDir);
  // A name banned before it attested: recorded, its token voided (the copy's registration records are held to the log too).
  await meshca(['token', 'create', '--agent', 'node-2'], dataDir);
  await meshca(['agent', 'ban', 'node-2'], dataDir);
  await meshca(['audit', 'checkpoint'], dataDir);
  const bundle = (await getOverSocket(ca.socketPath, '/v1/bundle.pem')).body;
  const certs = JSON.parse(await meshca(['cert', 'list', '--json'], dataDir)) as Listed[];
  const events = (await meshca(['audit', 'export'], dataDir)).trim().split('\n');
  expect(await ca.stop()).toBe(0);
  const checkpoints = checkpointsIn(dataDir);
  expect(checkpoints).toBeGreaterThanOrEqual(1);
  return { dataDir, bundle, certs, events, checkpoints };
}

describe.skipIf(!server)('meshca datastore migrate', () => {
  // Migrating never changes its source, so the refusals share one.
  let sharedSource: Awaited<ReturnType<typeof embeddedCaWithHistory>> | undefined;
  beforeAll(async () => {
    sharedSource = await embeddedCaWithHistory();
  }, 60_000);

  it('copies everything into PostgreSQL, verifies it, and a CA on the copy carries on with the same root and one audit chain', { timeout: 90_000 }, async () => {
    const source = await embeddedCaWithHistory();
    const url = await server!.database();
    // The URL from a file, as the README advises when it holds a password (the refusals below give it in --to).
    const urlFile = join(tempDir(), 'datastore-url');
    writeFileSync(urlFile, `${url}\n`, { mode: 0o600 });

    const migrated = await runMeshca(['datastore', 'migrate', '--to-file', urlFile, '--data-dir', source.dataDir], PASSPHRASE);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain(`copied certificates: ${source.certs.length} rows`);
    expect(migrated.stdout).toContain(`copied audit_events: ${source.events.length} rows`);
    expect(migrated.stdout).toMatch(/copied CA keys: 2 \(encrypted/);
    expect(migrated.stdout).toContain(`copied audit_checkpoints: ${source.checkpoints} rows`);
    expect(migrated.stdout).toContain(`verified: audit log of ${source.events.length + 1} events and ${source.checkpoints} signed checkpoint${source.checkpoints === 1 ? '' : 's'}`);

    const replicaDir = tempDir();
    const ca = await running(['--data-dir', replicaDir, '--datastore', url]);
    expect((await getOverSocket(ca.socketPath, '/v1/bundle.pem')).body).toBe(source.bundle);
    // Every record as it was; then only this CA's own serving certificate, issued as it started.
    const listed = JSON.parse(await meshca(['cert', 'list', '--json'], replicaDir)) as Array<Listed & { kind: string }>;
    expect(listed.slice(0, source.certs.length)).toEqual(source.certs);
    expect(listed.slice(source.certs.length).map((c) => c.kind)).toEqual(['server']);
    expect(JSON.parse(await meshca(['entry', 'list', '--json'], replicaDir))).toHaveLength(1);

    await meshca(['mint', '--spiffe-id', 'spiffe://example.org/after', '--out', join(replicaDir, 'after')], replicaDir);
    const events = (await meshca(['audit', 'export'], replicaDir)).trim().split('\n');
    // The source's events verbatim, then the migration, then the CA on PostgreSQL starting and issuing.
    expect(events.slice(0, source.events.length)).toEqual(source.events);
    const types = events.slice(source.events.length).map((line) => JSON.parse(line).type as string);
    expect(types.slice(0, 2)).toEqual(['datastore.migrated', 'ca.started']);
    expect(types).toContain('certificate.issued');
    expect(await meshca(['audit', 'verify'], replicaDir)).toMatch(/^audit log verified/);
  });

  it('says how to start a CA on the copy, its trust domain included (a start on the default, example.org, is refused)', { timeout: 60_000 }, async () => {
    const dataDir = tempDir();
    const source = await running(['--data-dir', dataDir, '--trust-domain', 'prod.example.com']);
    expect(await source.stop()).toBe(0);
    const url = await server!.database();
    const migrated = await runMeshca(['datastore', 'migrate', '--to', url, '--data-dir', dataDir], PASSPHRASE);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain(
      `start the CA with the PostgreSQL URL in --datastore-file (MESHCA_DATASTORE_FILE) or --datastore, --trust-domain prod.example.com and the same key passphrase; ${dataDir} is left as it was (read only)`,
    );
    const ca = await running(['--data-dir', tempDir(), '--datastore', url, '--trust-domain', 'prod.example.com']);
    expect((await getOverSocket(ca.socketPath, '/readyz')).status).toBe(200);
  });

  it.each([
    {
      name: 'into a database that already holds a CA',
      prepare: async (dataDir: string, url: string) => {
        const first = await runMeshca(['datastore', 'migrate', '--to', url, '--data-dir', dataDir], PASSPHRASE);
        expect(first.code, first.stderr).toBe(0);
      },
      env: PASSPHRASE,
      message: 'the target database already holds a meshca CA',
      code: 1,
    },
    {
      name: 'without a key passphrase',
      prepare: async () => undefined,
      env: { MESHCA_KEY_PASSPHRASE: '' },
      message: 'a key passphrase is required',
      code: 78,
    },
    {
      name: 'with the wrong key passphrase',
      prepare: async () => undefined,
      env: { MESHCA_KEY_PASSPHRASE: 'not the passphrase' },
      message: 'or the passphrase is wrong',
      code: 78,
    },
  ])('refuses to migrate $name (exit $code), and changes nothing in the target', { timeout: 90_000 }, async ({ prepare, env, message, code }) => {
    const source = sharedSource!;
    const url = await server!.database();
    await prepare(source.dataDir, url);
    const before = await tableCounts(url);
    const res = await runMeshca(['datastore', 'migrate', '--to', url, '--data-dir', source.dataDir], env);
    expect(res.code).toBe(code);
    expect(res.stderr).toContain(message);
    expect(await tableCounts(url)).toEqual(before);
  });

  it.each([
    ['both --to and --to-file', (url: string, file: string) => ['--to', url, '--to-file', file]],
    ['neither --to nor --to-file', () => []],
  ])('refuses %s (exit 78)', async (_name, args) => {
    const res = await runMeshca(['datastore', 'migrate', ...args('postgres://meshca@127.0.0.1:1/meshca', '/nonexistent'), '--data-dir', sharedSource!.dataDir], PASSPHRASE);
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('give the PostgreSQL database in --to or in --to-file, one of them');
  });

  it('refuses a data directory whose CA runs on PostgreSQL already (a second CA of the old state, with the same keys), and changes nothing in the target', { timeout: 90_000 }, async () => {
    const dataDir = tempDir();
    await (await running(['--data-dir', dataDir])).stop();
    const first = await server!.database();
    const moved = await runMeshca(['datastore', 'migrate', '--to', first, '--data-dir', dataDir], PASSPHRASE);
    expect(moved.code, moved.stderr).toBe(0);
    // The replica keeps its socket and lock where the embedded CA was.
    await (await running(['--data-dir', dataDir, '--datastore', first])).stop();
    const url = await server!.database();
    const before = await tableCounts(url);
    const again = await runMeshca(['datastore', 'migrate', '--to', url, '--data-dir', dataDir], PASSPHRASE);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('runs on PostgreSQL already');
    expect(await tableCounts(url)).toEqual(before);
  });

  it('refuses while the embedded CA is running', { timeout: 60_000 }, async () => {
    const dataDir = tempDir();
    const ca = await running(['--data-dir', dataDir]);
    const res = await runMeshca(['datastore', 'migrate', '--to', await server!.database(), '--data-dir', dataDir], PASSPHRASE);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`already running on ${ca.socketPath} (pid ${ca.pid}); stop it before migrating`);
  });
});
