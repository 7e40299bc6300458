/**
 * meshca.datastore, in a data directory whose CA runs on PostgreSQL: says so,
 * for commands that read the data directory without the CA. An embedded CA
 * moved to PostgreSQL leaves its meshca.db where it was (going back is
 * starting the old CA), and a replica may keep its socket and lock in that
 * same directory; the meshca.db there then no longer holds the CA's state,
 * and `datastore backup` must not copy it as a backup of the CA. An embedded
 * start removes the marker: meshca.db is the CA's again.
 */
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../platform/atomic-file.js';

export const DATASTORE_MARKER = 'meshca.datastore';
const POSTGRES = 'postgres\n';

/** Called once a start has opened its datastore. */
export async function noteDatastore(dataDir: string, kind: 'sqlite' | 'postgres'): Promise<void> {
  const path = join(dataDir, DATASTORE_MARKER);
  if (kind === 'postgres') return writeFileAtomic(path, POSTGRES, 0o600);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** Whether the CA on `dataDir` last started on PostgreSQL. Read by path: check what it is first where others may have made it. */
export async function servesPostgres(dataDir: string): Promise<boolean> {
  const content = await readFile(join(dataDir, DATASTORE_MARKER), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  return content === POSTGRES;
}
