/**
 * `meshca datastore backup`: a copy of an embedded CA's data directory that
 * can be started as one, taken while the CA runs.
 *
 * The datastore is copied first, as one consistent snapshot (VACUUM INTO
 * reads it in a single transaction, as a reader the CA's writes never wait
 * for), and its keys after. In that order every key the snapshot names is
 * found: a CA key is saved before any record names it, and never deleted.
 * The copy is built beside the target and renamed into place whole, then
 * proved: every authority's key is in it, and its audit log verifies.
 */
import { existsSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, mkdtemp, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fsyncDirectory, isTemporaryName, makeDirectory } from '../platform/atomic-file.js';
import { FileKeyCustody, KEYS_DIR, UNREFERENCED_DIR } from '../store/file-key-custody.js';
import { connect, DATABASE_FILE } from '../store/sqlite/database.js';
import { verifyDatastoreFile } from './offline-audit.js';

export interface BackupReport {
  readonly certificates: number;
  readonly auditEvents: number;
  /** Key files copied, including any set aside as unreferenced. */
  readonly keys: number;
  readonly head: { readonly seq: number; readonly hash: string } | null;
  readonly checkpoints: number;
}

export async function backupDataDirectory(dataDir: string, target: string): Promise<BackupReport> {
  const source = join(dataDir, DATABASE_FILE);
  if (!existsSync(source)) {
    throw new Error(`no embedded meshca datastore in ${dataDir} (a CA on PostgreSQL is backed up with pg_dump: its keys are in the database, encrypted)`);
  }
  if (existsSync(target)) throw new Error(`${target} exists: a backup is written only to a new directory, never over another`);
  await makeDirectory(dirname(target), 0o700);
  // 0700, and a name a crash leaves recognisable as unfinished.
  const partial = await mkdtemp(join(dirname(target), `.${basename(target)}.partial-`));
  try {
    snapshot(source, join(partial, DATABASE_FILE));
    await syncFile(join(partial, DATABASE_FILE), 0o600);
    const keys = await copyKeys(join(dataDir, KEYS_DIR), join(partial, KEYS_DIR));
    const counts = missingKeysAndCounts(join(partial, DATABASE_FILE));
    if (counts.missing.length) throw new Error(`the copy lacks the keys of authorities ${counts.missing.join(', ')}; the data directory is not whole`);
    const audit = await verifyDatastoreFile(join(partial, DATABASE_FILE));
    if (!audit.ok) throw new Error(`the copied audit log does not verify at event ${audit.problem!.seq}: ${audit.problem!.reason}`);
    await fsyncDirectory(partial);
    await rename(partial, target);
    await fsyncDirectory(dirname(target));
    return { certificates: counts.certificates, auditEvents: audit.events, keys, head: audit.head, checkpoints: audit.checkpoints };
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
}

function snapshot(source: string, copy: string): void {
  const db = connect(source, true);
  try {
    db.prepare('VACUUM INTO ?').run(copy);
  } finally {
    db.close();
  }
}

async function syncFile(path: string, mode: number): Promise<void> {
  await chmod(path, mode);
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Copies the key files of `from` (and of its set-aside directory) to `to`, 0600 in 0700 directories; returns how many. */
async function copyKeys(from: string, to: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(from);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  await mkdir(to, { mode: 0o700 });
  let copied = 0;
  for (const name of names.sort()) {
    if (isTemporaryName(name)) continue; // a key being written, which no record names yet
    const path = join(from, name);
    let kind;
    try {
      kind = await lstat(path);
    } catch (err) {
      // Moved aside by a CA starting meanwhile (a key no record names): found in the set-aside directory, or not needed.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    if (name === UNREFERENCED_DIR && kind.isDirectory()) {
      copied += await copyKeys(path, join(to, name));
      continue;
    }
    if (!kind.isFile()) throw new Error(`${path} is not a regular file; a data directory's keys are files`);
    await copyFile(path, join(to, name));
    await syncFile(join(to, name), 0o600);
    copied++;
  }
  await fsyncDirectory(to);
  return copied;
}

/** Which authorities' keys the copy lacks, and how many certificates it records. */
function missingKeysAndCounts(copy: string): { missing: string[]; certificates: number } {
  const db = connect(copy, true);
  try {
    const refs = db.prepare<[], { id: string; key_ref: string }>('SELECT id, key_ref FROM authorities WHERE key_ref IS NOT NULL').all();
    const keys = new FileKeyCustody(join(dirname(copy), KEYS_DIR), undefined);
    const missing = refs.filter((r) => !existsSync(keys.describe(r.key_ref))).map((r) => r.id);
    const certificates = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM certificates').get()!.n;
    return { missing, certificates };
  } finally {
    db.close();
  }
}
