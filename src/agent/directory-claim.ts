/**
 * One agent per --out and per --state-dir. Two agents writing one --out take
 * turns publishing their own SVIDs, each reporting its own as the one
 * installed, and two sharing a --state-dir each attest and overwrite the
 * other's credential. A directory is claimed by binding a Unix socket in
 * Linux's abstract namespace, named after the directory's path: the kernel
 * frees the name when the process ends, however it ends, so nothing stale is
 * left behind, as a lock file or a PID would be. Agents in other network
 * namespaces (other pods sharing a volume) do not see each other's names;
 * elsewhere than Linux nothing is claimed.
 */
import { createHash } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';

export class DirectoryInUseError extends Error {}

export interface DirectoryClaim {
  release(): Promise<void>;
}

/** Claims each directory (as `what`, for the refusal) or throws DirectoryInUseError naming the one another agent holds. */
export async function claimDirectories(dirs: ReadonlyArray<{ readonly path: string; readonly what: string }>): Promise<DirectoryClaim> {
  const servers: Server[] = [];
  const release = () => Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done())))).then(() => undefined);
  if (process.platform !== 'linux') return { release };
  const claimed = new Set<string>();
  try {
    for (const dir of dirs) {
      const real = await canonical(resolve(dir.path));
      // One directory given as both --out and --state-dir is claimed once.
      if (claimed.has(real)) continue;
      claimed.add(real);
      servers.push(await claim(real, dir.what));
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { release };
}

async function claim(real: string, what: string): Promise<Server> {
  const server = createServer();
  const name = `\0meshca-agent/${createHash('sha256').update(real).digest('hex').slice(0, 40)}`;
  await new Promise<void>((done, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      fail(err.code === 'EADDRINUSE' ? new DirectoryInUseError(`another meshca-agent is running with ${what} ${real}; give each agent a directory of its own`) : err),
    );
    server.listen(name, () => done());
  });
  // Nothing connects to it; it must not keep the agent running either.
  server.unref();
  return server;
}

/**
 * The real path of `path`, or, while it does not exist yet (an --out the
 * first publication makes), its nearest existing ancestor's real path and
 * the rest: one directory gets one name however it is spelt.
 */
async function canonical(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(await canonical(parent), basename(path));
  }
}
