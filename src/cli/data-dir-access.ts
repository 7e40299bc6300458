/** Who besides the CA may change its data directory, and whether the operator socket there is the CA's. */
import { lstat, readdir, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../config/options.js';
import { RENAMERS_FIX, renamersBesidesOwner } from '../platform/directory-writers.js';
import { modeText } from '../platform/mode-text.js';
import { LEGACY_LOCK_FILE, LOCK_FILE, PID_FILE } from './data-dir-lock.js';
import { DATASTORE_MARKER } from './datastore-marker.js';
import { makeCheckedDirectory, ownGroups, resolveDataDirPath, UntrustedDataDirPathError } from './data-dir-path.js';
import { SOCKET_FILE } from './local-socket.js';

/**
 * Who besides the CA can change its data directory, where it keeps its keys,
 * its datastore and the operator socket the CLI trusts; its path resolved as
 * checked, for the server to use from then on. First the path, by the CLI's
 * rule (data-dir-path.ts): another user who could rename a directory on the
 * way, or could have made the data directory or a link to it, could give the
 * CA an older backup of its own (revocations undone) or an empty directory
 * (a new root) at a restart. Then the directory itself: one owned by another
 * user (not root) is refused: that user could replace the socket, and the CLI
 * trusts the directory's owner. One where every user, or another group, may
 * rename what the CA keeps (written to, no sticky bit) is refused too: they
 * could move the CA's datastore or keys aside and put their own in place, at
 * any restart. One that others may write to with the sticky bit set is
 * allowed but said: Kubernetes makes tmpfs emptyDir volumes 1777; there
 * others can only make names first, which refusePlanted catches.
 */
export async function checkDataDirAccess(dataDir: string, logger: Logger): Promise<string> {
  const real = await refusedAsConfig(() => resolveDataDirPath(dataDir));
  const info = await stat(real);
  const user = process.geteuid?.();
  if (user !== undefined && info.uid !== user && info.uid !== 0) {
    throw new ConfigError([`--data-dir ${dataDir}: it belongs to user ${info.uid}, not to this one (${user}) or root, and its owner could replace what the CA keeps there; chown it to the CA's user`]);
  }
  const renamers = renamersBesidesOwner(info, ownGroups());
  if (renamers !== undefined) {
    throw new ConfigError([`--data-dir ${dataDir}: ${renamers} may rename what the CA keeps there and put their own datastore or keys in its place; ${RENAMERS_FIX}`]);
  }
  if (info.mode & 0o002) {
    logger.warn({ dataDir, mode: modeText(info.mode) }, 'every user may add files to the data directory; the CA refuses any there that are not its own, but keep it 0700 where you can');
  } else if (info.mode & 0o020 && !ownGroups().includes(info.gid)) {
    logger.warn({ dataDir, group: info.gid, mode: modeText(info.mode) }, "the data directory's group, not the CA's own, can add files where the CA keeps its own");
  }
  await refusePlanted(real);
  return real;
}

/**
 * Makes the data directory, 0700, and any directory missing above it, a name
 * at a time under the nearest one that exists once that one's path is
 * checked: never through another user's link, nor into a name another user
 * made first (data-dir-path.ts makeCheckedDirectory). Returns the
 * directories it made, outermost first: none when the data directory was there.
 */
export async function makeDataDir(dataDir: string): Promise<string[]> {
  const made: string[] = [];
  await refusedAsConfig(() => makeCheckedDirectory(dataDir, 0o700, 'data directory', (dir) => made.push(dir)));
  return made;
}

/**
 * Removes the directories a refused start made (makeDataDir's, outermost
 * first), innermost first, each only if empty: one that holds anything (a
 * name another process added meanwhile) stays, with those above it. A
 * directory the operator made is never among them.
 */
export async function removeMadeDataDir(made: readonly string[]): Promise<void> {
  for (const dir of [...made].reverse()) {
    if (!(await rmdir(dir).then(() => true, () => false))) return;
  }
}

/** A path refused as untrusted is a configuration error: a restart will not fix it (exit 78), as every refusal here; `prefix` names the flag. */
export async function refusedAsConfig<T>(check: () => Promise<T>, prefix = ''): Promise<T> {
  try {
    return await check();
  } catch (err) {
    throw err instanceof UntrustedDataDirPathError ? new ConfigError([`${prefix}${err.message}`]) : err;
  }
}

/** What the CA keeps in its data directory and reads back or trusts: in one others may write to, each must be the CA's own. */
const KEPT = ['keys', 'meshca.db', 'meshca.db-wal', 'meshca.db-shm', DATASTORE_MARKER, LOCK_FILE, PID_FILE, SOCKET_FILE, LEGACY_LOCK_FILE];

/**
 * Refuses, in a data directory others may write to (only a sticky one gets
 * this far), anything the CA keeps there that another user made or that is a
 * symbolic link: it may have been planted, a datastore or keys to be taken
 * for the CA's own, a lock file to lead the CA elsewhere, an earlier
 * version's meshca.lock naming a running process to stop every start. It runs before the
 * CA opens them and again after (see ca-runtime.ts), since another user can
 * make a name in the moment between; checking by path after opening is sound
 * here because in a sticky directory no one but an entry's owner (and root)
 * can rename or remove it, so what this finds the CA's own at a path stays
 * the one the CA opened there.
 */
export async function refusePlanted(dataDir: string): Promise<void> {
  const user = process.geteuid?.();
  if (user === undefined || !((await stat(dataDir)).mode & 0o022)) return;
  const keysDir = join(dataDir, 'keys');
  const keysEntry = await lstat(keysDir).catch(() => undefined);
  const keyFiles = keysEntry?.isDirectory() ? await readdir(keysDir) : [];
  for (const path of [...KEPT.map((name) => join(dataDir, name)), ...keyFiles.map((name) => join(keysDir, name))]) {
    const entry = await lstat(path).catch(() => undefined);
    if (!entry) continue;
    const whose = entry.uid !== user && entry.uid !== 0 ? `belongs to user ${entry.uid}, not to this one (${user}) or root` : entry.isSymbolicLink() ? 'is a symbolic link' : undefined;
    if (whose) {
      throw new ConfigError([`${path} ${whose}, in a data directory others may write to: it may have been planted there; remove it, or restore it from backup`]);
    }
  }
}

/**
 * Refuses an operator socket the CA's user did not make: in a data directory
 * others could write to, it may be anyone's, and the CLI would send it
 * operator commands and believe its answers (a bundle, say).
 */
export async function checkSocketOwner(socket: string, dataDir: string): Promise<void> {
  const [sock, dir] = await Promise.all([lstat(socket), stat(dataDir)]);
  if (!sock.isSocket()) throw new Error(`${socket} is not a socket`);
  const trusted = new Set([0, dir.uid, process.geteuid?.() ?? dir.uid]);
  if (!trusted.has(sock.uid)) {
    throw new Error(`${socket} belongs to user ${sock.uid}, neither root, the data directory's owner (${dir.uid}) nor this user: it is not the CA's socket`);
  }
}
