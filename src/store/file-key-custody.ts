/**
 * CA private keys as PKCS#8 PEM files in <data-dir>/keys, mode 0600, written
 * atomically, never over another key, and encrypted (AES-256-CBC under the
 * passphrase stretched with scrypt, key-encryption.ts) when one is given; keys an earlier start stored unencrypted are
 * encrypted in place once a start has loaded every key with a passphrase.
 * A server killed while writing a key leaves the temporary file (a whole or
 * partial private key no record names); the first use of the directory by the
 * next process removes it. One server holds the data directory (its lock), so
 * nothing else is writing there then.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyCustody } from '../ca/ports.js';
import { CaIntegrityError } from '../errors.js';
import { fsyncDirectory, makeDirectory, removeTemporaries, writeFileAtomic, writeNewFileAtomic } from '../platform/atomic-file.js';
import { KeyDerivationError, KeyEncryption } from './key-encryption.js';

const SUFFIX = '.key.pem';
/** Where an embedded CA's data directory keeps its keys. */
export const KEYS_DIR = 'keys';
/** Where keys no record names are set aside (setAsideUnreferenced). */
export const UNREFERENCED_DIR = 'unreferenced';

export class FileKeyCustody implements KeyCustody {
  /** Set on first use: the crash leftovers removed before this process reads or writes a key. */
  private swept: Promise<void> | undefined;
  private readonly crypt: KeyEncryption | undefined;

  constructor(
    private readonly dir: string,
    passphrase: string | undefined,
  ) {
    this.crypt = passphrase === undefined ? undefined : new KeyEncryption(passphrase);
  }

  describe(ref: string): string {
    return join(this.dir, `${ref}${SUFFIX}`);
  }

  async save(ref: string, key: KeyObject): Promise<void> {
    await makeDirectory(this.dir, 0o700);
    await this.sweep();
    const path = this.describe(ref);
    try {
      await writeNewFileAtomic(path, await this.encode(key), 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // The same key saved before by a change that then failed to commit (a full disk): saving it again is that change retried.
      const existing = await this.load(ref).catch(() => undefined);
      if (!existing?.equals(key)) throw new CaIntegrityError(`CA key file ${path} exists already; a CA key is never written over another`);
    }
  }

  private async encode(key: KeyObject): Promise<string> {
    return this.crypt ? this.crypt.encrypt(key) : (key.export({ type: 'pkcs8', format: 'pem' }) as string);
  }

  async load(ref: string): Promise<KeyObject> {
    await this.sweep();
    const path = this.describe(ref);
    let pem: string;
    try {
      pem = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'is missing' : code === 'EACCES' ? 'is not readable by this user' : `cannot be read (${code})`;
      throw new CaIntegrityError(`CA key file ${path} ${why}`);
    }
    const encrypted = pem.includes('BEGIN ENCRYPTED PRIVATE KEY');
    if (encrypted && !this.crypt) {
      throw new CaIntegrityError(`CA key file ${path} is encrypted; set MESHCA_KEY_PASSPHRASE or --key-passphrase-file`);
    }
    try {
      return encrypted ? await this.crypt!.decrypt(pem) : createPrivateKey({ key: pem });
    } catch (err) {
      if (err instanceof KeyDerivationError) throw new CaIntegrityError(`CA key file ${path} is corrupt: it names ${err.message}`);
      throw new CaIntegrityError(
        `CA key file ${path} is corrupt${encrypted ? ' or the passphrase is wrong' : ''}: it is not a PKCS#8 private key`,
      );
    }
  }

  /** Also rewrites keys encrypted before the passphrase was stretched (key-encryption.ts). */
  async encryptAtRest(): Promise<string[]> {
    if (!this.crypt) return [];
    const encrypted: string[] = [];
    for (const ref of await this.list()) {
      const path = this.describe(ref);
      const pem = await readFile(path, 'utf8');
      if (pem.includes('BEGIN ENCRYPTED PRIVATE KEY') && !this.crypt.needsRewrite(pem)) continue;
      await writeFileAtomic(path, await this.encode(await this.load(ref)), 0o600);
      encrypted.push(ref);
    }
    return encrypted;
  }

  async list(): Promise<string[]> {
    await this.sweep();
    try {
      return (await readdir(this.dir)).filter((f) => f.endsWith(SUFFIX)).map((f) => f.slice(0, -SUFFIX.length));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Into keys/unreferenced/ (0700), where nothing loads them and an operator can still recover one. */
  async setAsideUnreferenced(referenced: ReadonlySet<string>): Promise<string[]> {
    const unreferenced = (await this.list()).filter((ref) => !referenced.has(ref));
    if (unreferenced.length === 0) return [];
    const aside = join(this.dir, UNREFERENCED_DIR);
    await makeDirectory(aside, 0o700);
    for (const ref of unreferenced) await rename(this.describe(ref), join(aside, `${ref}${SUFFIX}`));
    await fsyncDirectory(aside);
    await fsyncDirectory(this.dir);
    return unreferenced;
  }

  /** Once per process, before its first key operation; a leftover that cannot be removed is left for the next start. */
  private sweep(): Promise<void> {
    this.swept ??= removeTemporaries(this.dir).then(
      () => undefined,
      () => undefined,
    );
    return this.swept;
  }
}
