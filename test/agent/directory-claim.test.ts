/**
 * One agent per --out and per --state-dir: a second agent claiming a directory
 * another holds is refused, however the path is spelt, and the claim ends with
 * the agent that held it.
 */
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimDirectories, DirectoryInUseError } from '../../src/agent/directory-claim.js';
import { cleanupLater } from '../support/cleanup.js';
import { tempDir } from '../support/temp-dir.js';

async function claimed(path: string, what = '--out') {
  const claim = await claimDirectories([{ path, what }]);
  cleanupLater(() => claim.release());
  return claim;
}

describe('claiming an agent\'s directories', () => {
  it.each<[string, (dir: string) => string]>([
    ['the same path', (dir) => dir],
    ['a path with dot segments', (dir) => join(dir, '..', 'out', '.')],
    ['a symbolic link to it', (dir) => {
      const link = join(dir, '..', 'link-to-out');
      symlinkSync(dir, link);
      return link;
    }],
  ])('refuses a second claim of a directory another holds, by %s', async (_how, spell) => {
    const dir = join(tempDir(), 'out');
    mkdirSync(dir);
    await claimed(dir);
    const second = claimDirectories([{ path: spell(dir), what: '--out' }]);
    await expect(second).rejects.toThrow(DirectoryInUseError);
    await expect(second).rejects.toThrow(`another meshca-agent is running with --out ${dir}`);
  });

  it('refuses a claim of a directory made after it was first claimed (an --out the first publication creates)', async () => {
    const dir = join(tempDir(), 'out');
    await claimed(dir);
    mkdirSync(dir);
    await expect(claimDirectories([{ path: dir, what: '--out' }])).rejects.toThrow(DirectoryInUseError);
  });

  it('lets another directory be claimed, and the same one once the claim is released', async () => {
    const base = tempDir();
    const first = await claimDirectories([{ path: join(base, 'a'), what: '--out' }]);
    await claimed(join(base, 'b'));
    await first.release();
    await claimed(join(base, 'a'));
  });

  it('claims one directory given twice (as both --out and --state-dir) once, not against itself', async () => {
    const dir = join(tempDir(), 'd');
    const claim = await claimDirectories([{ path: dir, what: '--out' }, { path: join(dir, '.'), what: '--state-dir' }]);
    cleanupLater(() => claim.release());
    await expect(claimDirectories([{ path: dir, what: '--out' }])).rejects.toThrow(DirectoryInUseError);
  });

  it('claims nothing of a list when one of its directories is held', async () => {
    const base = tempDir();
    await claimed(join(base, 'state'), '--state-dir');
    await expect(claimDirectories([{ path: join(base, 'out'), what: '--out' }, { path: join(base, 'state'), what: '--state-dir' }])).rejects.toThrow(/with --state-dir/);
    await claimed(join(base, 'out'));
  });
});
