/**
 * A CA key that no journal record names (its server was killed between saving
 * the key and committing the record) is set aside at the next start, out of
 * custody but not deleted; every key a record names stays.
 */
import { copyFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clockNearNow, startLifecycleCa } from '../support/lifecycle-ca.js';

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
