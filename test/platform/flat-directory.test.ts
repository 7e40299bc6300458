/** Removing a directory of files through one descriptor: a swap after the look removes nothing elsewhere. */
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeFlatDirectory } from '../../src/platform/flat-directory.js';
import { tempDir } from '../support/temp-dir.js';

function directoryOfFiles(path: string, names: readonly string[]): void {
  mkdirSync(path);
  for (const name of names) writeFileSync(join(path, name), name);
}

describe('removeFlatDirectory', () => {
  it('pass/removes the directory it was shown, files, links and all', async () => {
    const dir = tempDir();
    const version = join(dir, '..v');
    directoryOfFiles(version, ['svid.pem', 'svid_key.pem']);
    symlinkSync('svid.pem', join(version, 'link.pem'));
    expect(await removeFlatDirectory(version, lstatSync(version))).toBe(true);
    expect(existsSync(version)).toBe(false);
  });

  it.each([
    {
      name: 'swapped for a link to another directory after the look',
      swap: (version: string, victim: string) => {
        renameSync(version, `${version}.moved`);
        symlinkSync(victim, version);
      },
    },
    {
      name: 'swapped for another directory after the look',
      swap: (version: string, victim: string) => {
        renameSync(version, `${version}.moved`);
        renameSync(victim, version);
      },
    },
  ])('fail/a directory $name is not emptied', async ({ swap }) => {
    const dir = tempDir();
    const version = join(dir, '..v');
    const victim = join(dir, 'victim');
    directoryOfFiles(version, ['svid.pem']);
    directoryOfFiles(victim, ['precious.txt', 'svid.pem']);
    const seen = lstatSync(version);
    swap(version, victim);
    expect(await removeFlatDirectory(version, seen)).toBe(false);
    const survivor = existsSync(victim) ? victim : version;
    expect(readdirSync(survivor).sort()).toEqual(['precious.txt', 'svid.pem']);
  });

  it('fail/a directory holding a directory is left whole (versions hold files only)', async () => {
    const dir = tempDir();
    const version = join(dir, '..v');
    directoryOfFiles(version, ['svid.pem']);
    directoryOfFiles(join(version, 'nested'), ['inner.txt']);
    expect(await removeFlatDirectory(version, lstatSync(version))).toBe(false);
    expect(readdirSync(version).sort()).toEqual(['nested', 'svid.pem']);
  });
});
