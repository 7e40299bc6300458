/**
 * `meshca datastore backup` and a data directory whose CA was moved to
 * PostgreSQL: the embedded datastore left there is the CA as it was before
 * the move, and a copy of it is no backup of the CA.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupDataDirectory } from '../../src/cli/data-dir-backup.js';
import { startPostgres } from '../support/postgres.js';
import pino from 'pino';
import { startCa } from '../../src/cli/ca-runtime.js';
import { testConfig } from '../support/test-ca.js';
import { tempDir } from '../support/temp-dir.js';

const postgres = await startPostgres();

/** Starts a CA on `dataDir` (on PostgreSQL when `url` is given) and stops it. */
async function runOnce(dataDir: string, url?: string): Promise<void> {
  const passphraseFile = join(tempDir(), 'passphrase');
  writeFileSync(passphraseFile, 'backup marker test passphrase', { mode: 0o600 });
  const config = testConfig({ 'data-dir': dataDir, 'key-passphrase-file': passphraseFile, ...(url ? { datastore: url } : {}) });
  const ca = await startCa(config, pino({ level: 'silent' }), { schedules: 'off' });
  await ca.close();
}

describe.skipIf(!postgres)('meshca datastore backup of a CA moved to PostgreSQL', () => {
  it('refuses the data directory of a CA that last ran on PostgreSQL, whose meshca.db is no longer its state; backs it up again once the embedded CA runs there', async () => {
    const dataDir = tempDir();
    await runOnce(dataDir);
    // The replica keeps its socket and lock where the embedded CA was, beside the meshca.db it was moved from.
    await runOnce(dataDir, await postgres!.database());
    const target = join(tempDir(), 'backup');
    await expect(backupDataDirectory(dataDir, target, 'backup marker test passphrase')).rejects.toThrow(/runs on PostgreSQL .*back up the PostgreSQL database with pg_dump/);

    // Going back: the embedded CA started again on its datastore.
    await runOnce(dataDir);
    await expect(backupDataDirectory(dataDir, target, 'backup marker test passphrase')).resolves.toMatchObject({ keys: 2 });
  });
});
