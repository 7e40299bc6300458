/**
 * CA private keys in PostgreSQL, so every replica can sign: PKCS#8 PEM,
 * always encrypted with the key passphrase (a shared database must never
 * hold a CA key in the clear).
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type pg from 'pg';
import type { KeyCustody } from '../../ca/ports.js';
import { CaIntegrityError } from '../../errors.js';

export class PgKeyCustody implements KeyCustody {
  constructor(
    private readonly pool: pg.Pool,
    private readonly passphrase: string,
  ) {}

  describe(ref: string): string {
    return `the ca_keys row ${ref}`;
  }

  /** The key as this custody stores it: encrypted PKCS#8 PEM. */
  encrypt(key: KeyObject): string {
    return key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: this.passphrase }) as string;
  }

  async save(ref: string, key: KeyObject): Promise<void> {
    await this.pool.query('INSERT INTO ca_keys (ref, pem) VALUES ($1, $2) ON CONFLICT (ref) DO UPDATE SET pem = excluded.pem', [
      ref, this.encrypt(key),
    ]);
  }

  async load(ref: string): Promise<KeyObject> {
    const { rows } = await this.pool.query<{ pem: string }>('SELECT pem FROM ca_keys WHERE ref = $1', [ref]);
    if (!rows[0]) throw new CaIntegrityError(`${this.describe(ref)} is missing`);
    try {
      return createPrivateKey({ key: rows[0].pem, passphrase: this.passphrase });
    } catch {
      throw new CaIntegrityError(`${this.describe(ref)} cannot be decrypted: the key passphrase is wrong, or the row is corrupt`);
    }
  }

  /**
   * Into ca_keys_unreferenced, where nothing loads them and an operator can
   * still recover one; in one statement. Safe among replicas because it runs
   * under the lifecycle lock (AuthorityManager.open): only its holder saves
   * keys, and a holder that lost the lock can no longer commit the record
   * (PgCoordinator.assertHeld), so no replica is between the two steps.
   */
  async setAsideUnreferenced(referenced: ReadonlySet<string>): Promise<string[]> {
    const { rows } = await this.pool.query<{ ref: string }>(
      `WITH moved AS (DELETE FROM ca_keys WHERE NOT (ref = ANY($1::text[])) RETURNING ref, pem)
       INSERT INTO ca_keys_unreferenced (ref, pem) SELECT ref, pem FROM moved RETURNING ref`,
      [[...referenced]],
    );
    return rows.map((r) => r.ref).sort();
  }

  /** Keys in the database are always encrypted: a PostgreSQL datastore requires the passphrase. */
  async encryptAtRest(): Promise<string[]> {
    return [];
  }

  async list(): Promise<string[]> {
    const { rows } = await this.pool.query<{ ref: string }>('SELECT ref FROM ca_keys ORDER BY ref');
    return rows.map((r) => r.ref);
  }
}
