/**
 * CA private keys in PostgreSQL, so every replica can sign: PKCS#8 PEM,
 * always encrypted with the key passphrase (a shared database must never
 * hold a CA key in the clear).
 */
import type { KeyObject } from 'node:crypto';
import type pg from 'pg';
import type { KeyCustody } from '../../ca/ports.js';
import { CaIntegrityError } from '../../errors.js';
import { KeyDerivationError, KeyEncryption } from '../key-encryption.js';

export class PgKeyCustody implements KeyCustody {
  private readonly crypt: KeyEncryption;

  constructor(
    private readonly pool: pg.Pool,
    passphrase: string,
  ) {
    this.crypt = new KeyEncryption(passphrase);
  }

  describe(ref: string): string {
    return `the ca_keys row ${ref}`;
  }

  /** The key as this custody stores it: encrypted PKCS#8 PEM, under the stretched passphrase (key-encryption.ts). */
  encrypt(key: KeyObject): Promise<string> {
    return this.crypt.encrypt(key);
  }

  /** Never over another key, as key files are not: a row already there is kept, and taken only if it holds this key. */
  async save(ref: string, key: KeyObject): Promise<void> {
    const { rowCount } = await this.pool.query('INSERT INTO ca_keys (ref, pem) VALUES ($1, $2) ON CONFLICT (ref) DO NOTHING', [ref, await this.encrypt(key)]);
    if (rowCount === 1) return;
    // The same key saved before by a change that then failed to commit: saving it again is that change retried.
    const existing = await this.load(ref).catch(() => undefined);
    if (!existing?.equals(key)) throw new CaIntegrityError(`${this.describe(ref)} exists already; a CA key is never written over another`);
  }

  async load(ref: string): Promise<KeyObject> {
    const { rows } = await this.pool.query<{ pem: string }>('SELECT pem FROM ca_keys WHERE ref = $1', [ref]);
    if (!rows[0]) throw new CaIntegrityError(`${this.describe(ref)} is missing`);
    try {
      return await this.crypt.decrypt(rows[0].pem);
    } catch (err) {
      if (err instanceof KeyDerivationError) throw new CaIntegrityError(`${this.describe(ref)} is corrupt: it names ${err.message}`);
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

  /**
   * Keys in the database are always encrypted (a PostgreSQL datastore requires
   * the passphrase); those encrypted before the passphrase was stretched are
   * written again. Each row only if it is unchanged meanwhile: another replica
   * may be doing the same.
   */
  async encryptAtRest(): Promise<string[]> {
    const { rows } = await this.pool.query<{ ref: string; pem: string }>('SELECT ref, pem FROM ca_keys ORDER BY ref');
    const rewritten: string[] = [];
    for (const { ref, pem } of rows.filter((r) => this.crypt.needsRewrite(r.pem))) {
      const again = await this.encrypt(await this.load(ref));
      const { rowCount } = await this.pool.query('UPDATE ca_keys SET pem = $1 WHERE ref = $2 AND pem = $3', [again, ref, pem]);
      if (rowCount === 1) rewritten.push(ref);
    }
    return rewritten;
  }

  async list(): Promise<string[]> {
    const { rows } = await this.pool.query<{ ref: string }>('SELECT ref FROM ca_keys ORDER BY ref');
    return rows.map((r) => r.ref);
  }
}
