/**
 * The local operator channel: a unix socket in the data directory. Its 0600
 * mode (and the data directory's 0700) is the access control, as with SPIRE's
 * admin socket; whoever can open it is the CA host's operator.
 */
import { chmod, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';

export const SOCKET_FILE = 'meshca.sock';

export function socketPath(dataDir: string): string {
  return join(dataDir, SOCKET_FILE);
}

/** Removes a socket left by a crashed server; refuses when a server still answers on it. */
export async function claimSocket(path: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another meshca server is already running on ${path}`);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

export async function restrictSocket(path: string): Promise<void> {
  await chmod(path, 0o600);
}
