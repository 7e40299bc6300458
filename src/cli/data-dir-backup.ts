/**
 * `meshca datastore backup`: a copy of an embedded CA's data directory that
 * can be started as one, taken while the CA runs.
 *
 * The datastore is copied first, as one consistent snapshot (VACUUM INTO
 * reads it in a single transaction, as a reader the CA's writes never wait
 * for), and its keys after. In that order every key the snapshot names is
 * found: a CA key is saved before any record names it, and meshca deletes
 * none. The copy is built beside the target, proved as a starting CA would
 * prove it (every authority's key loads and matches its certificate; the
 * audit log verifies), and only then renamed into place.
 */
import { existsSync, rmSync, constants as fsConstants } from 'node:fs';
import { chmod, chown, copyFile, lstat, mkdir, mkdtemp, open, readdir, realpath, rename, rm, stat } from 'node:fs/promises';
import { constants } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { loadAuthority } from '../ca/authority-factory.js';
import { fsyncDirectory, isTemporaryName, makeDirectory } from '../platform/atomic-file.js';
import { FileKeyCustody, KEYS_DIR, UNREFERENCED_DIR } from '../store/file-key-custody.js';
import { AuditAppender } from '../store/sqlite/audit-appender.js';
import { SqliteAuthorityStore } from '../store/sqlite/authority-store.js';
import { connect, DATABASE_FILE } from '../store/sqlite/database.js';
import { systemClock } from '../time/clock.js';
import { verifyDatastoreFile } from './offline-audit.js';

export interface BackupReport {
  readonly certificates: number;
  readonly auditEvents: number;
  /** Key files copied, including any set aside as unreferenced. */
  readonly keys: number;
  /** Authorities whose keys were loaded from the copy and matched to their certificates. */
  readonly authorityKeys: number;
  readonly head: { readonly seq: number; readonly hash: string } | null;
  readonly checkpoints: number;
  /** Unfinished copies an interrupted run had left beside the target, removed. */
  readonly removedLeftovers: readonly string[];
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export async function backupDataDirectory(dataDir: string, target: string, passphrase: string | undefined): Promise<BackupReport> {
  const source = join(dataDir, DATABASE_FILE);
  if (!existsSync(source)) {
    throw new Error(`no embedded meshca datastore in ${dataDir} (a CA on PostgreSQL is backed up with pg_dump: its keys are in the database, encrypted)`);
  }
  if (await lstat(target).then(() => true, () => false)) throw new Error(`${target} exists: a backup is written only to a new directory, never over another`);
  const home = await realpath(dataDir);
  // As written, before any directory is made for it; then as resolved, through any link on the way.
  refuseInside(resolve(target), [resolve(dataDir), home], target, dataDir);
  await makeDirectory(dirname(target), 0o700);
  refuseInside(join(await realpath(dirname(target)), basename(target)), [home], target, dataDir);
  const removedLeftovers = await removeLeftovers(target);
  // 0700, and a name that says it is unfinished.
  const partial = await mkdtemp(join(dirname(target), `.${basename(target)}.partial-`));
  const unwatch = removeOnStop(partial);
  try {
    snapshot(source, join(partial, DATABASE_FILE));
    await syncFile(join(partial, DATABASE_FILE), 0o600);
    const keys = await copyKeys(join(dataDir, KEYS_DIR), join(partial, KEYS_DIR));
    const authorityKeys = await loadEveryKey(partial, passphrase);
    const audit = await verifyDatastoreFile(join(partial, DATABASE_FILE));
    if (!audit.ok) throw new Error(`the copied audit log does not verify at event ${audit.problem!.seq}: ${audit.problem!.reason}`);
    const certificates = countCertificates(join(partial, DATABASE_FILE));
    await giveTo(partial, await stat(dataDir));
    await fsyncDirectory(partial);
    await rename(partial, target);
    await fsyncDirectory(dirname(target));
    return { certificates, auditEvents: audit.events, keys, authorityKeys, head: audit.head, checkpoints: audit.checkpoints, removedLeftovers };
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  } finally {
    unwatch();
  }
}

/**
 * A run stopped by a signal removes its half-built copy (which holds CA keys)
 * before it exits as the signal would have ended it; one killed outright
 * leaves it, for the next backup to the same target to remove.
 */
function removeOnStop(partial: string): () => void {
  const handlers = STOP_SIGNALS.map((signal) => {
    const handler = () => {
      rmSync(partial, { recursive: true, force: true });
      process.exit(128 + constants.signals[signal]);
    };
    process.once(signal, handler);
    return { signal, handler };
  });
  return () => handlers.forEach(({ signal, handler }) => process.off(signal, handler));
}

async function removeLeftovers(target: string): Promise<string[]> {
  const prefix = `.${basename(target)}.partial-`;
  const leftovers = (await readdir(dirname(target))).filter((name) => name.startsWith(prefix)).map((name) => join(dirname(target), name));
  for (const path of leftovers) await rm(path, { recursive: true, force: true });
  return leftovers;
}

function refuseInside(where: string, homes: readonly string[], target: string, dataDir: string): void {
  for (const home of homes) {
    const inside = relative(home, where);
    if (!inside.startsWith('..') && !isAbsolute(inside)) {
      throw new Error(`${target} is inside the data directory ${dataDir}: a backup must live apart from what it backs up`);
    }
  }
}

function snapshot(source: string, copy: string): void {
  const db = connect(source, true);
  try {
    db.prepare('VACUUM INTO ?').run(copy);
  } catch (err) {
    throw new Error(`could not write the datastore's snapshot to ${copy}: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}

async function syncFile(path: string, mode: number): Promise<void> {
  await chmod(path, mode);
  const handle = await open(path, fsConstants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Copies the key files of `from` (and of its set-aside directory) to `to`,
 * 0600 in 0700 directories; returns how many. It copies what the CA would
 * read (a link to a file is followed) and passes over what the CA never reads
 * there (a lost+found of a mount, a key being written).
 */
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
    if (isTemporaryName(name)) continue;
    const path = join(from, name);
    // Missing: moved aside by a CA starting meanwhile (a key no record names), or a dangling link.
    const kind = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (kind?.isDirectory() && name === UNREFERENCED_DIR) copied += await copyKeys(path, join(to, name));
    if (!kind?.isFile()) continue;
    await copyFile(path, join(to, name));
    await syncFile(join(to, name), 0o600);
    copied++;
  }
  await fsyncDirectory(to);
  return copied;
}

/** Loads every authority's key from the copy, as a CA starting on it would, each checked against its certificate. */
async function loadEveryKey(copy: string, passphrase: string | undefined): Promise<number> {
  const db = connect(join(copy, DATABASE_FILE), true);
  try {
    const records = await new SqliteAuthorityStore(db, new AuditAppender(db), systemClock).listAuthorities();
    const custody = new FileKeyCustody(join(copy, KEYS_DIR), passphrase);
    const loaded = await Promise.all(records.map((r) => loadAuthority(custody, r)));
    return loaded.filter((a) => a.signer !== null).length;
  } finally {
    db.close();
  }
}

function countCertificates(copy: string): number {
  const db = connect(copy, true);
  try {
    return db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM certificates').get()!.n;
  } finally {
    db.close();
  }
}

/** Run as root, the copy belongs to the data directory's owner, so that the CA's user can start from it. */
async function giveTo(copy: string, owner: { uid: number; gid: number }): Promise<void> {
  if (process.geteuid?.() !== 0 || owner.uid === 0) return;
  const walk = async (path: string): Promise<void> => {
    await chown(path, owner.uid, owner.gid);
    if ((await lstat(path)).isDirectory()) for (const name of await readdir(path)) await walk(join(path, name));
  };
  await walk(copy);
}
