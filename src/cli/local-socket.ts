/**
 * The local operator channel: a unix socket in the data directory. Its 0600
 * mode (and the data directory's 0700) is the access control, as with SPIRE's
 * admin socket; whoever can open it is the CA host's operator.
 */
import { chmod, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ConfigError } from '../config/options.js';

export const SOCKET_FILE = 'meshca.sock';

export function socketPath(dataDir: string): string {
  return join(dataDir, SOCKET_FILE);
}

/** sun_path holds 108 bytes, the last a NUL: libuv cuts a longer path short, binding or reaching another name. */
export const MAX_SOCKET_PATH = 107;

/**
 * The socket's path through the data directory's path as checked and
 * resolved, or, when that is too long for a socket's address, through the
 * path as given (every link on it was checked with it); undefined when
 * neither fits. The server binds where the CLI connects.
 */
export function addressableSocketPath(resolvedDir: string, givenDir: string): string | undefined {
  return [socketPath(resolvedDir), socketPath(givenDir)].find((path) => Buffer.byteLength(path) <= MAX_SOCKET_PATH);
}

/** Where the server binds its socket; a data directory no path of which leaves room for it is refused (exit 78): a restart would not change that. */
export function operatorSocketPath(resolvedDir: string, givenDir: string): string {
  const path = addressableSocketPath(resolvedDir, givenDir);
  if (path !== undefined) return path;
  const bytes = Buffer.byteLength(socketPath(givenDir));
  throw new ConfigError([
    `--data-dir ${givenDir}: the operator socket's path there (${bytes} bytes) is longer than a unix socket's address holds (${MAX_SOCKET_PATH} bytes); give a shorter path (a link to the directory will do)`,
  ]);
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
