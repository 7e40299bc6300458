/**
 * A CA key that no journal record names (its server was killed between saving
 * the key and committing the record) is set aside at the next start, out of
 * custody but not deleted; every key a record names stays. On PostgreSQL too,
 * where replicas share custody: the next replica to start does it, under the
 * lifecycle lock.
 */
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { clockNearNow, startLifecycleCa } from '../support/lifecycle-ca.js';
import { startPostgres } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { startInProcessCa } from '../support/test-ca.js';

const postgres = await startPostgres();

const keyFiles = (dataDir: string) => readdirSync(join(dataDir, 'keys')).filter((f) => f.endsWith('.key.pem')).sort();

describe('CA keys no record names', () => {
  it('pass/are set aside at the next start, and the keys of the journal are kept', async () => {
    const clock = clockNearNow();
    const first = await startLifecycleCa({}, clock);
    const dataDir = first.config.dataDir;
    const journaled = keyFiles(dataDir);
    await first.close();
    // What a kill between custody.save and the journal commit leaves: a whole key under a name no record has.
    copyFileSync(join(dataDir, 'keys', journaled[0]!), join(dataDir, 'keys', `${'ab'.repeat(20)}.key.pem`));

    const restarted = await startLifecycleCa({ 'data-dir': dataDir }, clock);
    expect(keyFiles(dataDir)).toEqual(journaled);
    expect(readdirSync(join(dataDir, 'keys', 'unreferenced'))).toEqual([`${'ab'.repeat(20)}.key.pem`]);
    expect((await restarted.localApp.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    await restarted.close();
  });
});

describe('CA keys whose datastore was lost', () => {
  it('fail/are refused at every start, never set aside for a new PKI at the second (a refused start leaves a datastore behind)', async () => {
    const clock = clockNearNow();
    const first = await startLifecycleCa({}, clock);
    const dataDir = first.config.dataDir;
    const keys = keyFiles(dataDir);
    await first.close();
    for (const f of readdirSync(dataDir).filter((name) => name.startsWith('meshca.db'))) rmSync(join(dataDir, f));

    for (const attempt of [1, 2, 3]) {
      await expect(startLifecycleCa({ 'data-dir': dataDir }, clock), `start ${attempt}`).rejects.toThrow(
        /holds a CA key but the datastore never created a PKI: the CA's records were lost/,
      );
    }
    expect(keyFiles(dataDir)).toEqual(keys);
    expect(existsSync(join(dataDir, 'keys', 'unreferenced'))).toBe(false);
  });

  it('pass/a first start killed after saving a key, before recording it: the next start sets the key aside and creates the PKI', async () => {
    const clock = clockNearNow();
    const first = await startLifecycleCa({}, clock);
    const dataDir = first.config.dataDir;
    const [key] = keyFiles(dataDir);
    await first.close();
    // What that kill leaves: the datastore noted a PKI begun, and holds no authority yet.
    const db = new Database(join(dataDir, 'meshca.db'));
    db.exec('DELETE FROM authorities');
    db.close();

    const restarted = await startLifecycleCa({ 'data-dir': dataDir }, clock);
    expect(readdirSync(join(dataDir, 'keys', 'unreferenced'))).toContain(key);
    expect((await restarted.localApp.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});

describe.skipIf(!postgres)('CA keys no record names, on PostgreSQL', () => {
  it('pass/are moved to ca_keys_unreferenced by the next replica to start, and the keys of the journal are kept', async () => {
    const url = await postgres!.database();
    const passphraseFile = join(tempDir(), 'passphrase');
    writeFileSync(passphraseFile, 'unreferenced test passphrase', { mode: 0o600 });
    const settings = { datastore: url, 'key-passphrase-file': passphraseFile };
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const refs = async (table: string) => (await client.query<{ ref: string }>(`SELECT ref FROM ${table} ORDER BY ref`)).rows.map((r) => r.ref);
      const first = await startInProcessCa(settings);
      const journaled = await refs('ca_keys');
      // (first keeps running, as another replica would.) What a kill between custody.save and the journal commit leaves: a whole key under a name no record has.
      await client.query(`INSERT INTO ca_keys (ref, pem) SELECT $1, pem FROM ca_keys WHERE ref = $2`, ['ab'.repeat(20), journaled[0]]);

      const restarted = await startInProcessCa(settings); // a second replica, or the first restarted
      expect(await refs('ca_keys')).toEqual(journaled);
      expect(await refs('ca_keys_unreferenced')).toEqual(['ab'.repeat(20)]);
      expect((await restarted.localApp.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      expect((await first.localApp.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    } finally {
      await client.end();
    }
  });
});
