/**
 * `cert list` over 100,000 records: its first page, asked for as `meshca cert
 * list` asks (GET /v1/certificates?limit=1000 over the local admin socket),
 * timed several times (the first cold, just after seeding); and a full walk
 * with the cursor, in the CLI's pages of 1,000.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { AdminClient } from '../../src/cli/admin-client.js';
import { answeredWithin } from './load.js';

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

/** The page size `meshca cert list` asks for (src/cli/commands/cert.ts). */
export const CLI_PAGE = 1000;

export interface ListingTimes {
  readonly pageSize: number;
  /** Every timing of the first page, in order: the first is cold. */
  readonly firstPageMs: readonly number[];
  readonly firstPageColdMs: number;
  readonly firstPageMedianMs: number;
  readonly firstPageMaxMs: number;
  readonly walkMs: number;
  readonly walked: number;
  readonly duplicates: number;
}

/** The CLI's query for a page: URLSearchParams with limit, then cursor, as its walk() builds it. */
function pageQuery(cursor: string | null): string {
  const query = new URLSearchParams();
  query.set('limit', String(CLI_PAGE));
  if (cursor) query.set('cursor', cursor);
  return `/v1/certificates?${query}`;
}

export async function listingTimes(admin: AdminClient, repeats: number): Promise<ListingTimes> {
  const firstPageMs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    const page: { certificates: unknown[] } = await answeredWithin('the first page of cert list', admin.call('GET', pageQuery(null)));
    firstPageMs.push(performance.now() - t);
    if (page.certificates.length !== CLI_PAGE) throw new Error(`the first page held ${page.certificates.length} certificates, not ${CLI_PAGE}`);
  }
  const sorted = [...firstPageMs].sort((a, b) => a - b);
  const t = performance.now();
  const seen = new Set<string>();
  let duplicates = 0;
  let cursor: string | null = null;
  do {
    const page: { certificates: Array<{ serial: string }>; nextCursor: string | null } = await answeredWithin(
      'a page of the cert list walk',
      admin.call('GET', pageQuery(cursor)),
    );
    for (const c of page.certificates) {
      if (seen.has(c.serial)) duplicates++;
      seen.add(c.serial);
    }
    cursor = page.nextCursor;
  } while (cursor);
  return {
    pageSize: CLI_PAGE,
    firstPageMs,
    firstPageColdMs: firstPageMs[0]!,
    // The lower middle for an even count.
    firstPageMedianMs: sorted[Math.floor((sorted.length - 1) / 2)]!,
    firstPageMaxMs: sorted[sorted.length - 1]!,
    walkMs: performance.now() - t,
    walked: seen.size,
    duplicates,
  };
}
