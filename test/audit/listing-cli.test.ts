/**
 * `meshca cert list` and `meshca identity list` against a running `meshca
 * server` process: every page walked, --limit, --json and --csv, filters, and
 * the options refused before any request.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/cli/admin-client.js';
import { localEndpoint } from '../../src/cli/local-endpoint.js';
import { newKeyAndCsr } from '../support/callers.js';
import { seedCertificates } from '../support/certificate-seed.js';
import { cleanupLater } from '../support/cleanup.js';
import { runMeshca } from '../support/cli.js';
import { csvRecords } from '../support/csv.js';
import { startServer } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

const TD = 'spiffe://example.org';

interface Page {
  certificates: Array<Record<string, unknown> & { serial: string }>;
  nextCursor: string | null;
}

describe('meshca cert list and identity list against a running server', () => {
  let dataDir: string;
  let admin: AdminClient;
  /** Every record, as the API pages them out. */
  let all: Array<Record<string, unknown> & { serial: string }>;

  const meshca = (...args: string[]) => runMeshca([...args, '--data-dir', dataDir]);

  beforeAll(async () => {
    dataDir = tempDir();
    const server = await startServer(['--data-dir', dataDir]);
    cleanupLater(async () => expect(await server.stop()).toBe(0));
    admin = new AdminClient(localEndpoint(dataDir));
    for (const name of ['one', 'two', 'three']) {
      const { csr } = await newKeyAndCsr();
      await admin.call('POST', '/v1/svids/mint', { spiffeId: `${TD}/ns/cli/${name}`, csr, dns: [`${name}.example`, 'shared.example'] });
    }
    // More than one page of the CLI's walk (1,000), written beside the running server as another process would.
    const db = new Database(join(dataDir, 'meshca.db'));
    try {
      db.pragma('busy_timeout = 5000');
      const issuerId = db.prepare<[], { id: string }>("SELECT id FROM authorities WHERE kind = 'intermediate' AND state = 'active'").get()!.id;
      // Issued (and expired) hours ago: no record expires while the tests compare two reads taken moments apart.
      seedCertificates(db, 1200, { now: Math.floor(Date.now() / 1000) - 3 * 3600, issuerId });
      // And more identities than one page of the CLI's walk, one record each.
      const many = Array.from({ length: 1100 }, (_, i) => `${TD}/ns/many/w-${String(i).padStart(4, '0')}`);
      seedCertificates(db, many.length, { now: Math.floor(Date.now() / 1000) - 3 * 3600, issuerId, ids: many, from: 1200 });
    } finally {
      db.close();
    }
    all = [];
    for (let cursor: string | null = null; ; ) {
      const page: Page = await admin.call('GET', `/v1/certificates?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
      all.push(...page.certificates);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(all).toHaveLength(1 + 3 + 1200 + 1100);
  });

  it('pass/--json prints every record across pages, and --limit stops after that many', async () => {
    const [full, limited] = await Promise.all([meshca('cert', 'list', '--json'), meshca('cert', 'list', '--json', '--limit', '1100')]);
    expect(full).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(full.stdout)).toEqual(all);
    expect(limited.code).toBe(0);
    expect(JSON.parse(limited.stdout)).toEqual(all.slice(0, 1100));
  });

  it('pass/--csv prints one row per record with the header, dns names space-separated and nulls empty', async () => {
    const res = await meshca('cert', 'list', '--csv', '--prefix', `${TD}/ns/cli/`, '--limit', '2');
    expect(res.code).toBe(0);
    const [header] = res.stdout.split('\n');
    expect(header).toBe('serial,spiffeId,dns,notBefore,notAfter,issuedAt,kind,requestedBy,agent,entryId,keyType,publicKeySha256,issuer,revokedAt,revocationReason,holder');
    const minted = all.filter((c) => String(c.spiffeId).startsWith(`${TD}/ns/cli/`)).slice(0, 2);
    expect(csvRecords(res.stdout)).toEqual(
      minted.map((c) => ({
        serial: c.serial,
        spiffeId: c.spiffeId,
        dns: (c.dns as string[]).join(' '),
        notBefore: c.notBefore,
        notAfter: c.notAfter,
        issuedAt: c.issuedAt,
        kind: 'mint',
        requestedBy: 'operator:local',
        agent: '',
        entryId: '',
        keyType: 'ec-p256',
        publicKeySha256: c.publicKeySha256,
        issuer: c.issuer,
        revokedAt: '',
        revocationReason: '',
        holder: '',
      })),
    );
    expect(minted.map((c) => c.dns)).toEqual([['one.example', 'shared.example'], ['two.example', 'shared.example']]);
  });

  it('pass/--revoked reaches the server as a filter (--prefix does in the CSV case)', async () => {
    const revoked = await meshca('cert', 'list', '--json', '--revoked');
    expect(revoked.code).toBe(0);
    expect(JSON.parse(revoked.stdout)).toEqual(all.filter((c) => c.revokedAt !== null));
    expect((JSON.parse(revoked.stdout) as unknown[]).length).toBe(24 + 22);
  });

  it('pass/identity list prints every identity across pages, as JSON and as a table; --prefix and --limit narrow it', async () => {
    const [json, table, under, limited] = await Promise.all([
      meshca('identity', 'list', '--json'),
      meshca('identity', 'list'),
      meshca('identity', 'list', '--json', '--prefix', `${TD}/ns/a/`),
      meshca('identity', 'list', '--json', '--limit', '1002'),
    ]);
    const identities: Array<{ spiffeId: string; certificates: number }> = [];
    for (let cursor: string | null = null; ; ) {
      const page: { identities: typeof identities; nextCursor: string | null } = await admin.call('GET', `/v1/identities?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
      identities.push(...page.identities);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(identities).toHaveLength(3 + 8 + 1100 + 1); // minted, seeded, seeded one each, the CA's serving identity
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(identities);
    expect(identities.find((i) => i.spiffeId === `${TD}/ns/a`)?.certificates).toBe(150);
    expect(JSON.parse(limited.stdout)).toEqual(identities.slice(0, 1002));
    expect((JSON.parse(under.stdout) as typeof identities).map((i) => i.spiffeId)).toEqual([`${TD}/ns/a`, `${TD}/ns/a/svc-1`, `${TD}/ns/a/svc-2/deep`]);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SPIFFE ID\s+FIRST ISSUED\s+LAST ISSUED\s+CERTS\s+LIVE\s+REGISTERED$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(identities.map((i) => i.spiffeId));
  });

  // Refused before any request, so exit 78 naming the flags (README, exit codes), not a refusal's 1.
  it.each([
    ['--json and --csv together', ['--json', '--csv'], '--json and --csv: choose one'],
    ['--limit 0', ['--limit', '0'], '--limit: "0" is not a positive integer'],
    ['--limit 1.5', ['--limit', '1.5'], '--limit: "1.5" is not a positive integer'],
  ])('fail/cert list with %s exits 78 naming the flags', async (_name, args, message) => {
    const res = await meshca('cert', 'list', ...args);
    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: 78, stdout: '' });
    expect(res.stderr).toContain(message);
  });

  it.each([
    ['--limit 0', ['--limit', '0'], '--limit: "0" is not a positive integer'],
    ['--limit -3 with --json', ['--json', '--limit', '-3'], '--limit: "-3" is not a positive integer'],
  ])('fail/identity list with %s exits 78 naming the flag', async (_name, args, message) => {
    const res = await meshca('identity', 'list', ...args);
    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: 78, stdout: '' });
    expect(res.stderr).toContain(message);
  });
});
