/** `cert list` over 100,000 records: the first page, and a full walk with the cursor. */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { AdminClient } from '../../src/cli/admin-client.js';

export async function seedCertificates(dataDir: string, count: number): Promise<void> {
  const db = new Database(join(dataDir, 'meshca.db'));
  db.pragma('busy_timeout = 10000');
  const insert = db.prepare(`INSERT INTO certificates (serial, spiffe_id, dns_names, not_before, not_after, public_key_sha256, key_type,
    issuer_id, kind, requested_by, agent, entry_id, issued_at, cert_der) VALUES (?, ?, '[]', ?, ?, ?, 'ec-p256', 'seed', 'workload', 'agent:seed', 'seed', NULL, ?, x'00')`);
  const now = Math.floor(Date.now() / 1000);
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      insert.run(randomBytes(16).toString('hex'), `spiffe://example.org/seed/${i % 5000}`, now - 3600, now + 3600, randomBytes(32).toString('hex'), now - (count - i));
    }
  })();
  db.close();
}

export async function listingTimes(admin: AdminClient, pageSize: number): Promise<{ firstPageMs: number; walkMs: number; walked: number; duplicates: number }> {
  let t = performance.now();
  await admin.call('GET', '/v1/certificates?limit=100');
  const firstPageMs = performance.now() - t;
  t = performance.now();
  const seen = new Set<string>();
  let duplicates = 0;
  let cursor: string | null = null;
  do {
    const page: { certificates: Array<{ serial: string }>; nextCursor: string | null } = await admin.call(
      'GET',
      `/v1/certificates?limit=${pageSize}${cursor ? `&cursor=${cursor}` : ''}`,
    );
    for (const c of page.certificates) {
      if (seen.has(c.serial)) duplicates++;
      seen.add(c.serial);
    }
    cursor = page.nextCursor;
  } while (cursor);
  return { firstPageMs, walkMs: performance.now() - t, walked: seen.size, duplicates };
}
