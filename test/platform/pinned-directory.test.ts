/** A directory opened once and reached through its descriptor: a swap of its name afterwards changes nothing. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fsyncDirectory } from '../../src/platform/atomic-file.js';
import { PinnedDirectory, withPinnedDirectory } from '../../src/platform/pinned-directory.js';
import { tempDir } from '../support/temp-dir.js';

function directories(): { dir: string; version: string; victim: string } {
  const dir = tempDir();
  const version = join(dir, '..v');
  const victim = join(dir, 'victim');
  mkdirSync(version);
  mkdirSync(victim);
  return { dir, version, victim };
}

describe('PinnedDirectory', () => {
  it('pass/writes and reads land in the directory pinned, though its name now links elsewhere', async () => {
    const { dir, version, victim } = directories();
    await withPinnedDirectory(version, undefined, async (pinned) => {
      renameSync(version, join(dir, 'moved'));
      symlinkSync(victim, version);
      await writeFile(pinned.path('svid.pem'), 'written');
      expect(await readFile(pinned.path('svid.pem'), 'utf8')).toBe('written');
    });
    expect(readdirSync(victim)).toEqual([]);
    expect(readdirSync(join(dir, 'moved'))).toEqual(['svid.pem']);
  });

  it.each([
    { name: 'a link to a directory', plant: (path: string, victim: string) => symlinkSync(victim, path) },
    { name: 'a FIFO', plant: (path: string) => execFileSync('mkfifo', [path]) },
    { name: 'a file', plant: (path: string) => writeFileSync(path, 'x') },
  ])('fail/$name is not opened (nor waited on)', async ({ plant }) => {
    const { dir, victim } = directories();
    const path = join(dir, '..planted');
    plant(path, victim);
    await expect(PinnedDirectory.open(path)).rejects.toThrow();
  });

  it("fail/a directory of another user's is refused", async () => {
    const { version } = directories();
    await expect(PinnedDirectory.open(version, statSync(version).uid + 1)).rejects.toThrow(/belongs to user/);
  });
});

describe('fsyncDirectory', () => {
  it('fail/a FIFO under the name fails at once instead of blocking', async () => {
    const path = join(tempDir(), 'fifo');
    execFileSync('mkfifo', [path]);
    await expect(fsyncDirectory(path)).rejects.toMatchObject({ code: 'ENOTDIR' });
  });
});
