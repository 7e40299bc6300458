/**
 * `meshca server` on a datastore whose write lock another connection holds (a
 * backup, an operator's sqlite3 shell): a condition that passes, so the start
 * exits EX_TEMPFAIL (75), which systemd's Restart= retries, naming the lock,
 * and changes nothing.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runMeshca } from '../support/cli.js';
import { isRunning, startServer } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

const EX_TEMPFAIL = 75;

describe('meshca server on a datastore whose write lock another connection holds', () => {
  it('fail/exits 75 saying another connection holds the write lock and to retry; a start once it is released serves', async () => {
    const dataDir = tempDir();
    const first = await startServer(['--data-dir', dataDir, '--listen', '127.0.0.1:0']);
    expect(await first.stop()).toBe(0);
    const holder = new Database(join(dataDir, 'meshca.db'));
    onTestFinished(() => void (holder.open && holder.close()));
    holder.exec('BEGIN IMMEDIATE');

    const res = await runMeshca(['server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--log-level', 'warn']);
    expect({ code: res.code, stderr: res.stderr }).toEqual({
      code: EX_TEMPFAIL,
      stderr:
        `meshca: the CA did not start: another connection holds the write lock of the datastore ${join(dataDir, 'meshca.db')} ` +
        '(a backup, an audit verification, a sqlite3 shell) and did not release it in time; nothing was changed; ' +
        "retry once it is released (systemd's Restart= does)\n",
    });

    holder.close();
    const next = await startServer(['--data-dir', dataDir, '--listen', '127.0.0.1:0']);
    expect(await next.stop()).toBe(0);
    expect(isRunning(next.pid)).toBe(false);
  });
});
