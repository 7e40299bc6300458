/**
 * Who besides the CA can change its data directory, where it keeps its keys,
 * its datastore and the operator socket the CLI trusts. One every user may
 * write to is refused: anyone could plant a socket there that the CLI would
 * take for the CA, or a datastore for the next start. A group that may write
 * is allowed (Kubernetes' fsGroup makes volumes so) but said, unless it is the
 * CA's own group.
 */
import { lstat, stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { ConfigError } from '../config/options.js';

const modeText = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

export async function checkDataDirAccess(dataDir: string, logger: Logger): Promise<void> {
  const info = await stat(dataDir);
  if (info.mode & 0o002) {
    throw new ConfigError([`--data-dir ${dataDir}: its mode ${modeText(info.mode)} lets every user write there, where the CA keeps its keys and operator socket; chmod o-w it (meshca makes it 0700)`]);
  }
  const user = process.geteuid?.();
  if (user !== undefined && info.uid !== user) logger.warn({ dataDir, owner: info.uid, user }, 'the data directory belongs to another user, who can change what the CA keeps there');
  if (info.mode & 0o020 && info.gid !== process.getegid?.()) {
    logger.warn({ dataDir, group: info.gid, mode: modeText(info.mode) }, "the data directory's group, not the CA's own, can change what the CA keeps there");
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
