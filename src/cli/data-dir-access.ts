/** Who besides the CA may change its data directory, and whether the operator socket there is the CA's. */
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../config/options.js';

const modeText = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

/**
 * Who besides the CA can change its data directory, where it keeps its keys,
 * its datastore and the operator socket the CLI trusts. One owned by another
 * user (not root) is refused: that user could replace the socket, and the CLI
 * trusts the directory's owner. One that every user, or another group, may
 * write to is allowed but said: Kubernetes makes emptyDir volumes 1777 and
 * some provisioners 2777, and the CLI then refuses a socket planted by anyone
 * but root or the directory's owner.
 */
export async function checkDataDirAccess(dataDir: string, logger: Logger): Promise<void> {
  const info = await stat(dataDir);
  const user = process.geteuid?.();
  if (user !== undefined && info.uid !== user && info.uid !== 0) {
    throw new ConfigError([`--data-dir ${dataDir}: it belongs to user ${info.uid}, not to this one (${user}) or root, and its owner could replace what the CA keeps there; chown it to the CA's user`]);
  }
  if (info.mode & 0o002) {
    logger.warn({ dataDir, mode: modeText(info.mode) }, 'every user may write to the data directory; the CLI refuses a socket planted there, but keep it 0700 where you can');
  } else if (info.mode & 0o020 && info.gid !== process.getegid?.()) {
    logger.warn({ dataDir, group: info.gid, mode: modeText(info.mode) }, "the data directory's group, not the CA's own, can change what the CA keeps there");
  }
  if (info.mode & 0o022) await refusePlanted(dataDir, user);
}

/** What the CA reads back at start: in a directory others may write to, each must be the CA's own (or root's), not planted. */
const KEPT = ['keys', 'meshca.db', 'meshca.db-wal', 'meshca.db-shm'];

async function refusePlanted(dataDir: string, user: number | undefined): Promise<void> {
  if (user === undefined) return;
  const keysDir = join(dataDir, 'keys');
  const keyFiles = await readdir(keysDir).catch(() => [] as string[]);
  for (const path of [...KEPT.map((name) => join(dataDir, name)), ...keyFiles.map((name) => join(keysDir, name))]) {
    const entry = await lstat(path).catch(() => undefined);
    if (entry && entry.uid !== user && entry.uid !== 0) {
      throw new ConfigError([`${path} belongs to user ${entry.uid}, not to this one (${user}) or root, in a data directory others may write to: it may have been planted there; remove it, or restore it from backup`]);
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
