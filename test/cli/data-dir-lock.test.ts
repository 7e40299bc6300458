/** One server per data directory: the lock file names a live PID from the moment it exists, and a dead one's lock is taken over. */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOCK_FILE, lockDataDir } from '../../src/cli/data-dir-lock.js';
import { tempDir } from '../support/temp-dir.js';

/** Above Linux's default pid_max (4,194,304 at most), so no process has it. */
const DEAD_PID = 4_194_305;

describe('lockDataDir', () => {
  it('writes this PID into the lock, leaves no temporary file, and removes the lock on release', async () => {
    const dir = tempDir();
    const lock = await lockDataDir(dir);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    expect(readdirSync(dir)).toEqual([LOCK_FILE]);
    await lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses while the PID in the lock is alive, changing nothing', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), `${process.ppid}\n`);
    await expect(lockDataDir(dir)).rejects.toThrow(`another meshca server is already running on ${join(dir, 'meshca.sock')} (pid ${process.ppid})`);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.ppid}\n`);
    expect(readdirSync(dir)).toEqual([LOCK_FILE]);
  });

  it.each([
    ['a PID no process has', `${DEAD_PID}\n`],
    ['an empty lock (a crash before it was written, with older versions)', ''],
  ])('takes over a lock naming %s', async (_name, content) => {
    const dir = tempDir();
    writeFileSync(join(dir, LOCK_FILE), content);
    const lock = await lockDataDir(dir);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
    await lock.release();
  });
});
