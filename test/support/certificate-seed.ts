/**
 * Certificate records in volume, written straight into the certificates table
 * in one transaction, for listing tests that need thousands of rows fast.
 */
import type { Db } from '../../src/store/sqlite/database.js';

const TD = 'spiffe://example.org';

/** IDs chosen to sit on both sides of the prefix boundary ("a-b", "a.b" and "ab" sort next to "a/"; "A" is another case). */
export const SEED_IDS = ['/ns/a', '/ns/a/svc-1', '/ns/a/svc-2/deep', '/ns/ab/svc', '/ns/a-b', '/ns/a.b', '/ns/b/svc-1', '/ns/A/svc-1'].map((p) => TD + p);
const SEED_AGENTS = ['node-1', 'node-2', null] as const;

export function seedSerial(i: number): string {
  return `5${i.toString(16).padStart(31, '0')}`;
}

/**
 * Inserts `count` certificate records in one transaction, as issuance would
 * have recorded them: issue times within the 5,000 seconds before `now` and out
 * of id order (record i at now - (i * 7919 mod 5000), so 5,000 records cover
 * every second once), lifetimes of 15–60 minutes, every 50th revoked, agents
 * node-1, node-2 and none in turn, and `ids` (SEED_IDS unless given) in turn.
 * A second seeding starts at `from`, past the first's records.
 */
export function seedCertificates(db: Db, count: number, o: { now: number; issuerId: string; ids?: readonly string[]; from?: number }): void {
  const ids = o.ids ?? SEED_IDS;
  const from = o.from ?? 0;
  const insert = db.prepare(`INSERT INTO certificates
    (serial, spiffe_id, dns_names, not_before, not_after, public_key_sha256, key_type, issuer_id, kind, requested_by, agent, entry_id,
     issued_at, cert_der, revoked_at, revocation_reason)
    VALUES (?, ?, '[]', ?, ?, ?, 'ec-p256', ?, ?, 'operator:seed', ?, NULL, ?, x'00', ?, ?)`);
  db.transaction(() => {
    for (let i = from; i < from + count; i++) {
      const issuedAt = o.now - ((i * 7919) % 5000);
      const agent = SEED_AGENTS[i % 3]!;
      const revoked = i % 50 === 0;
      insert.run(
        seedSerial(i), ids[i % ids.length], issuedAt - 30, issuedAt + ((i % 4) + 1) * 900, 'ab'.repeat(32), o.issuerId,
        agent ? 'workload' : 'mint', agent, issuedAt, revoked ? issuedAt + 10 : null, revoked ? 'keyCompromise' : null,
      );
    }
  })();
}
