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
 * audit log verifies), and only then renamed into place. One backup at a
 * time builds towards a target (claimTarget).
 *
 * Run as root, it hands the copy to the CA's user, and all of that happens
 * by name in the directory that holds the target. So that directory, and
 * every one above it, must be one only root (or the user running the backup)
 * can change; one the CA's user could rename entries in would let that user
 * swap the half-built copy for a directory of its own and have root write
 * into it and hand over what its links point to.
 */
import { existsSync, rmSync, constants as fsConstants, type Stats } from 'node:fs';
import { chmod, lchown, lstat, mkdir, mkdtemp, open, readdir, realpath, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { loadAuthority } from '../ca/authority-factory.js';
import { startedTrustDomain, trustDomainNameOf } from '../ca/authority-integrity.js';
import { fsyncDirectory, isTemporaryName, writeNewFile } from '../platform/atomic-file.js';
import { ConfigError } from '../config/options.js';
import { RENAMERS_FIX } from '../platform/directory-writers.js';
import { PinnedDirectory, withPinnedDirectory } from '../platform/pinned-directory.js';
import { FileKeyCustody, KEYS_DIR, UNREFERENCED_DIR } from '../store/file-key-custody.js';
import { AuditAppender } from '../store/sqlite/audit-appender.js';
import { SqliteAuditStore } from '../store/sqlite/audit-store.js';
import { SqliteAuthorityStore } from '../store/sqlite/authority-store.js';
import { connect, DATABASE_FILE } from '../store/sqlite/database.js';
import { WriteQueue } from '../store/sqlite/write-queue.js';
import { systemClock } from '../time/clock.js';
import { refusedAsConfig } from './data-dir-access.js';
import { tryLockFile } from './data-dir-lock.js';
import { DATASTORE_MARKER, servesPostgres } from './datastore-marker.js';
import { makeCheckedDirectory, openToOthers } from './data-dir-path.js';
import { verifyDatastoreFile } from './offline-audit.js';

export interface BackupReport {
  readonly certificates: number;
  readonly auditEvents: number;
  /** Key files copied, including any set aside as unreferenced. */
  readonly keys: number;
  /** Authorities whose keys were loaded from the copy and matched to their certificates. */
  readonly authorityKeys: number;
  /** The trust domain of the authorities the copy signs with, which a CA started on it must be given; undefined when none names one. */
  readonly trustDomain: string | undefined;
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
  const owner = await stat(dataDir);
  const owners = [owner.uid, 0];
  await refuseForeignDatastore(dataDir, owners);
  if (await servesPostgres(dataDir)) {
    throw new Error(
      `the CA on ${dataDir} runs on PostgreSQL (${DATASTORE_MARKER}): its ${DATABASE_FILE} is the embedded datastore it was moved from, ` +
        'no longer its state, and a copy would restore the CA as it was before; back up the PostgreSQL database with pg_dump (its keys are in it, encrypted)',
    );
  }
  // As written, before any directory is made for it; then as resolved, through any link on the way.
  refuseInside(resolve(target), [resolve(dataDir), home], target, dataDir);
  // From here on by the real path checked, never resolved again: no name on the way can be changed by another user.
  const at = join(await trustedParent(target), basename(target));
  refuseInside(at, [home], target, dataDir);
  const claim = claimTarget(at, target);
  try {
    const report = await buildCopy({ dataDir, source, at, target, owner, owners, passphrase });
    // Only after a whole copy: one waiting for this lock then finds the target there. Not after a failure: it
    // and a newcomer on a new lock file by the same name could both build beside the target, each removing the other's copy.
    await unlink(claimPath(at));
    return report;
  } finally {
    claim.release();
  }
}

const claimPath = (at: string) => join(dirname(at), `.${basename(at)}.lock`);

/**
 * Two backups to one target at once would each take the other's half-built
 * copy for a killed run's leftover and remove it. The first holds the kernel's
 * lock on .NAME.lock beside the target (as a server holds meshca.flock, so a
 * killed run holds it no more) for as long as it runs; a second is refused.
 */
function claimTarget(at: string, target: string): { release(): void } {
  const claim = tryLockFile(claimPath(at));
  if (!claim) throw new Error(`another backup to ${target} is under way (it holds ${claimPath(at)}); wait for it to finish, or back up to another directory`);
  return claim;
}

/** The copy, built beside the target, proved, and renamed into place (see the top of this file). */
async function buildCopy(o: {
  dataDir: string;
  source: string;
  at: string;
  target: string;
  owner: { uid: number; gid: number };
  owners: readonly number[];
  passphrase: string | undefined;
}): Promise<BackupReport> {
  const { dataDir, source, at, target, owner, owners, passphrase } = o;
  // Again under the claim: a backup that held it before may have finished meanwhile.
  if (await lstatIfThere(at)) throw new Error(`${target} exists: a backup is written only to a new directory, never over another`);
  const removedLeftovers = await removeLeftovers(at);
  // 0700, and a name that says it is unfinished.
  const partial = await mkdtemp(join(dirname(at), `.${basename(at)}.partial-`));
  const unwatch = removeOnStop(partial);
  let pinned: PinnedDirectory | undefined;
  try {
    // The copy as made: it is handed over through this descriptor, whatever its name leads to by then.
    pinned = await PinnedDirectory.open(partial, process.geteuid?.());
    snapshot(source, join(partial, DATABASE_FILE));
    await syncFile(join(partial, DATABASE_FILE), 0o600);
    const keys = await copyKeys(join(dataDir, KEYS_DIR), join(dataDir, KEYS_DIR), join(partial, KEYS_DIR), owners);
    const { authorityKeys, trustDomain } = await loadEveryKey(partial, passphrase);
    const audit = await verifyDatastoreFile(join(partial, DATABASE_FILE));
    if (!audit.ok) throw new Error(`the copied audit log does not verify at event ${audit.problem!.seq}: ${audit.problem!.reason}`);
    const certificates = countCertificates(join(partial, DATABASE_FILE));
    await giveTo(pinned, owner);
    await pinned.sync();
    await rename(partial, at);
    await fsyncDirectory(dirname(at));
    return { certificates, auditEvents: audit.events, keys, authorityKeys, trustDomain, head: audit.head, checkpoints: audit.checkpoints, removedLeftovers };
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  } finally {
    unwatch();
    await pinned?.close();
  }
}

/** What resolveDataDirPath's and makeCheckedDirectory's refusals call --to's directory. */
const NOUN = 'backup directory';

/**
 * The real path of the directory that is to hold the copy, made if missing,
 * once the nearest of it and its parents that exists, and every directory
 * above that, can be changed by no one but root and this user, and no name on
 * the way (a link, a directory) was made by another user where others may
 * add names (data-dir-path.ts). Run as root, that means by root alone: a
 * backups directory the CA's user owns is refused, as that user is the one
 * the swap (see the top of this file) would serve. The missing directories
 * are made 0755 whatever the umask, a name at a time: run as root, the copy
 * is handed to the CA's user (giveTo), who must be able to reach it to start
 * a CA on it (`--to /var/backups/meshca/DATE` makes two). They hold only
 * names; the copy itself stays 0700. From here on everything is done by the
 * path returned, which no one else can change.
 */
async function trustedParent(target: string): Promise<string> {
  const wanted = dirname(resolve(target));
  let existing = wanted;
  while (!(await lstatIfThere(existing))) existing = dirname(existing);
  // Who could change the directories there first, by their real path, for a message that says what a backup risks; then every name on the way (makeCheckedDirectory).
  const real = await realpath(existing);
  const open = await openToOthers(real);
  if (open === undefined) return refusedAsConfig(() => makeCheckedDirectory(wanted, 0o755, NOUN), `--to ${target}: `);
  const where = `${open.dir} (${open.dir === real && existing === wanted ? 'which is to hold it' : 'on the way to it'})`;
  const swap = 'and so put a directory of their own in place of the half-built copy, for this backup to write CA keys into and hand over what its links point to';
  const user = process.geteuid?.();
  if ('renamers' in open) {
    throw new ConfigError([`--to ${target}: ${where}: ${open.renamers} may rename what is in it, ${swap}; ${RENAMERS_FIX}, or back up to another directory`]);
  }
  const fix = user === 0 ? 'chown it to root' : 'chown it to this user or root';
  throw new ConfigError([
    `--to ${target}: ${where} belongs to user ${open.owner}, ${user === 0 ? 'not root, who runs this backup' : `neither root nor this user (${user})`}: that user could rename what is in it, ${swap}; ${fix}, or run the backup as user ${open.owner}`,
  ]);
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
 * 0600 in 0700 directories; returns how many. It passes over what the CA
 * never reads there (a lost+found of a mount, a key being written) and
 * copies only what the CA could have made: a real directory, reached through
 * its descriptor (pinned-directory.ts), and the regular files in it, opened
 * without following a link, each the data directory's owner's or root's.
 * Anything else is refused, named, not passed over: run as root, a link the
 * CA's account planted (to /etc/shadow, to a directory only root reads)
 * would otherwise have root copy what it points to into a copy that account
 * is given. `from` is where to open it, `shown` how to name it.
 */
async function copyKeys(from: string, shown: string, to: string, owners: readonly number[]): Promise<number> {
  let dir: PinnedDirectory;
  try {
    dir = await PinnedDirectory.open(from);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 0;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw notOwn(shown, 'is not a directory itself (a symbolic link, or a file)');
    throw err;
  }
  try {
    refuseForeign(shown, await stat(dir.path()), owners);
    await mkdir(to, { mode: 0o700 });
    let copied = 0;
    for (const name of (await readdir(dir.path())).sort()) {
      if (isTemporaryName(name)) continue;
      const entry = await lstatIfThere(dir.path(name));
      // Missing: moved aside by a CA starting meanwhile (a key no record names).
      if (!entry) continue;
      if (entry.isDirectory()) {
        refuseForeign(join(shown, name), entry, owners);
        if (name === UNREFERENCED_DIR) copied += await copyKeys(dir.path(name), join(shown, name), join(to, name), owners);
        continue;
      }
      // Refused before it is opened: opening a device can do something.
      if (!entry.isFile()) throw notOwn(join(shown, name), entry.isSymbolicLink() ? 'is a symbolic link' : 'is not a regular file');
      if (await copyOwnFile(dir.path(name), join(shown, name), join(to, name), owners)) copied++;
    }
    await fsyncDirectory(to);
    return copied;
  } finally {
    await dir.close();
  }
}

/** Copies `from` to a new file `to`, 0600, when it is a regular file of one of `owners`; false when it went missing meanwhile. */
async function copyOwnFile(from: string, shown: string, to: string, owners: readonly number[]): Promise<boolean> {
  let handle: FileHandle;
  try {
    // What was checked may have been swapped since: O_NOFOLLOW, O_NONBLOCK (a FIFO must not hang the backup), and the open file checked again.
    handle = await open(from, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return false;
    if (code === 'ELOOP') throw notOwn(shown, 'is a symbolic link');
    throw err;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw notOwn(shown, 'is not a regular file');
    refuseForeign(shown, info, owners);
    await writeNewFile(to, await handle.readFile(), 0o600);
    return true;
  } finally {
    await handle.close();
  }
}

/**
 * Refuses the datastore's files (SQLite opens them by name, and writes to
 * -shm) and the marker of a CA on PostgreSQL (which stops the backup) unless
 * each is absent or a regular file of one of `owners`.
 */
async function refuseForeignDatastore(dataDir: string, owners: readonly number[]): Promise<void> {
  for (const name of [DATABASE_FILE, `${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`, DATASTORE_MARKER]) {
    const path = join(dataDir, name);
    const entry = await lstatIfThere(path);
    if (!entry) continue;
    if (entry.isSymbolicLink()) throw notOwn(path, 'is a symbolic link');
    if (!entry.isFile()) throw notOwn(path, 'is not a regular file');
    refuseForeign(path, entry, owners);
  }
}

function refuseForeign(path: string, info: { uid: number }, owners: readonly number[]): void {
  if (!owners.includes(info.uid)) throw notOwn(path, `belongs to user ${info.uid}, neither the data directory's owner (${owners[0]}) nor root`);
}

const notOwn = (path: string, what: string) =>
  new Error(`${path} ${what}: a backup copies only what the CA makes in its data directory (real directories and regular files of its owner or root); remove it, or move it out of the data directory`);

async function lstatIfThere(path: string): Promise<Stats | undefined> {
  return lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
}

/** Loads every authority's key from the copy, as a CA starting on it would, each checked against its certificate. */
/** How many authorities' keys load and match, and the trust domain a CA starting on the copy must be given. */
async function loadEveryKey(copy: string, passphrase: string | undefined): Promise<{ authorityKeys: number; trustDomain: string | undefined }> {
  const db = connect(join(copy, DATABASE_FILE), true);
  try {
    const records = await new SqliteAuthorityStore(db, new WriteQueue(db), new AuditAppender(db), systemClock).listAuthorities();
    const custody = new FileKeyCustody(join(copy, KEYS_DIR), passphrase);
    const loaded = await Promise.all(records.map((r) => loadAuthority(custody, r)));
    const audit = new SqliteAuditStore(db, new WriteQueue(db), new AuditAppender(db), systemClock);
    return { authorityKeys: loaded.filter((a) => a.signer !== null).length, trustDomain: trustDomainNameOf(loaded) ?? (await startedTrustDomain(audit)) };
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

/**
 * Run as root, the copy belongs to the data directory's owner, so that the
 * CA's user can start from it. Each directory is changed through its own
 * descriptor, opened without following a link, and each other entry by lchown
 * through its directory's descriptor: what is handed over is what is in the
 * copy, never what a name in it points to (chown follows links).
 */
async function giveTo(copy: PinnedDirectory, owner: { uid: number; gid: number }): Promise<void> {
  if (process.geteuid?.() !== 0 || owner.uid === 0) return;
  const walk = async (dir: PinnedDirectory): Promise<void> => {
    await dir.chown(owner.uid, owner.gid);
    for (const name of await readdir(dir.path())) {
      const path = dir.path(name);
      if ((await lstat(path)).isDirectory()) await withPinnedDirectory(path, undefined, walk);
      else await lchown(path, owner.uid, owner.gid);
    }
  };
  await walk(copy);
}
