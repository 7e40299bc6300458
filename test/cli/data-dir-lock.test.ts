/**
 * One server per data directory: the kernel's lock on meshca.lock decides,
 * so a lock whose holder died is free whatever PID meshca.pid names, and a
 * held one is refused naming its holder.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, lstatSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LEGACY_LOCK_FILE, LOCK_FILE, lockDataDir, PID_FILE } from '../../src/cli/data-dir-lock.js';
import { ConfigError } from '../../src/config/options.js';
import { tempDir } from '../support/temp-dir.js';

const BUSY = (dir: string) => `another meshca server is already running on ${join(dir, 'meshca.sock')}`;

/** A separate process holding the lock, as another server would; resolves once it holds it. */
async function holdInChild(dir: string): Promise<{ pid: number; kill(): Promise<void> }> {
  const module = resolve(import.meta.dirname, '../../dist/src/cli/data-dir-lock.js');
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    const { lockDataDir } = await import(${JSON.stringify(module)});
    await lockDataDir(${JSON.stringify(dir)});
    console.log('held');
    setInterval(() => {}, 1000);
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout!, 'data');
  return {
    pid: child.pid!,
    kill: async () => {
      child.kill('SIGKILL');
      await once(child, 'exit');
    },
  };
}

describe('lockDataDir', () => {
  it('writes this PID to meshca.pid, leaves no temporary file, and frees the directory on release', async () => {
    const dir = tempDir();
    const lock = await lockDataDir(dir);
    expect(readFileSync(join(dir, PID_FILE), 'utf8')).toBe(`${process.pid}\n`);
    expect(readdirSync(dir).sort()).toEqual([LOCK_FILE, PID_FILE]);
    await lock.release();
    expect(readdirSync(dir)).toEqual([LOCK_FILE]);
    await (await lockDataDir(dir)).release();
  });

  it('removes the temporary PID file a server killed while writing it left', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, `.${PID_FILE}.0123456789ab.tmp`), '4242\n');
    const lock = await lockDataDir(dir);
    expect(readdirSync(dir).sort()).toEqual([LOCK_FILE, PID_FILE]);
    await lock.release();
  });

  it('refuses while another holder has the lock, naming its PID and changing nothing', async () => {
    const dir = tempDir();
    const first = await lockDataDir(dir);
    await expect(lockDataDir(dir)).rejects.toThrow(`${BUSY(dir)} (pid ${process.pid})`);
    expect(readFileSync(join(dir, PID_FILE), 'utf8')).toBe(`${process.pid}\n`);
    await first.release();
  });

  it('refuses while another process holds it, and takes it once that process is killed', async () => {
    const dir = tempDir();
    const other = await holdInChild(dir);
    try {
      await expect(lockDataDir(dir)).rejects.toThrow(`${BUSY(dir)} (pid ${other.pid})`);
    } finally {
      await other.kill();
    }
    const lock = await lockDataDir(dir);
    expect(readFileSync(join(dir, PID_FILE), 'utf8')).toBe(`${process.pid}\n`);
    await lock.release();
  });

  it.each([
    ['a live process that is not a meshca server (a PID reused after a reboot or in a container)', () => `${process.ppid}\n`],
    ['no PID at all', () => ''],
  ])('takes over a directory whose meshca.pid names %s, since nobody holds the lock', async (_name, content) => {
    const dir = tempDir();
    writeFileSync(join(dir, PID_FILE), content());
    const lock = await lockDataDir(dir);
    expect(readFileSync(join(dir, PID_FILE), 'utf8')).toBe(`${process.pid}\n`);
    await lock.release();
  });
  describe('the meshca.lock of earlier versions (their PID, no kernel lock)', () => {
    /** Above Linux's default pid_max (4,194,304 at most), so no process has it. */
    const DEAD_PID = 4_194_305;

    it('refuses while it names a live process, which may be an earlier server still running, and leaves it', async () => {
      const dir = tempDir();
      writeFileSync(join(dir, LEGACY_LOCK_FILE), `${process.ppid}\n`);
      await expect(lockDataDir(dir)).rejects.toThrow(`${join(dir, LEGACY_LOCK_FILE)} names pid ${process.ppid}, which is running`);
      expect(readFileSync(join(dir, LEGACY_LOCK_FILE), 'utf8')).toBe(`${process.ppid}\n`);
    });

    it('refuses while another server holds a kernel lock on it, as builds between the two layouts did', async () => {
      const dir = tempDir();
      const holder = new Database(join(dir, LEGACY_LOCK_FILE), { timeout: 0 });
      holder.pragma('journal_mode = MEMORY');
      holder.exec('BEGIN EXCLUSIVE');
      try {
        await expect(lockDataDir(dir)).rejects.toThrow(BUSY(dir));
        expect(existsSync(join(dir, LEGACY_LOCK_FILE))).toBe(true);
      } finally {
        holder.close();
      }
      await (await lockDataDir(dir)).release();
      expect(existsSync(join(dir, LEGACY_LOCK_FILE))).toBe(false);
    });

    it('refuses (exit 78) a symbolic link in its place, not following it to a file that names a live process, and leaves both', async () => {
      const dir = tempDir();
      const elsewhere = join(tempDir('elsewhere'), 'pid');
      writeFileSync(elsewhere, `${process.ppid}\n`);
      symlinkSync(elsewhere, join(dir, LEGACY_LOCK_FILE));
      const lock = lockDataDir(dir);
      await expect(lock).rejects.toThrow(ConfigError);
      await expect(lock).rejects.toThrow(`${join(dir, LEGACY_LOCK_FILE)} is a symbolic link, not the lock file of an earlier meshca: remove it`);
      expect([lstatSync(join(dir, LEGACY_LOCK_FILE)).isSymbolicLink(), readFileSync(elsewhere, 'utf8')]).toEqual([true, `${process.ppid}\n`]);
    });

    it.each([
      ['a PID no process has', `${DEAD_PID}\n`],
      ['nothing (a crash before it was written)', ''],
      ['something that is no PID', 'SQLite format 3\u0000'],
    ])('takes over when it names %s, and removes it', async (_name, content) => {
      const dir = tempDir();
      writeFileSync(join(dir, LEGACY_LOCK_FILE), content);
      const lock = await lockDataDir(dir);
      expect(existsSync(join(dir, LEGACY_LOCK_FILE))).toBe(false);
      await lock.release();
    });
  });
});
