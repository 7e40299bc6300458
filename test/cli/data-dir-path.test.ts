/**
 * Making a directory where others may add names: the nearest directory that
 * exists is checked, then each missing one is made a name at a time, and a
 * name another user made first in the moment between is refused, never made
 * into (as mkdir -p would).
 */
import { chmodSync, chownSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { makeCheckedDirectory, UntrustedDataDirPathError } from '../../src/cli/data-dir-path.js';
import { tempDir } from '../support/temp-dir.js';

const OTHER_USER = 65534;
const AS_ROOT = process.geteuid?.() === 0;

/** Runs once, just before the next mkdir: another user's making the same name first. */
const beforeMkdir: { run?: (path: string) => void } = {};
vi.mock('node:fs/promises', async (original) => {
  const actual = await original<typeof import('node:fs/promises')>();
  return {
    ...actual,
    mkdir: async (...args: Parameters<typeof actual.mkdir>) => {
      const run = beforeMkdir.run;
      beforeMkdir.run = undefined;
      run?.(String(args[0]));
      return actual.mkdir(...args);
    },
  };
});

describe('makeCheckedDirectory', () => {
  it('pass/makes every missing directory with the mode asked, whatever the umask, and returns the real path', async () => {
    const base = tempDir('made');
    const made = await makeCheckedDirectory(join(base, 'a', 'b'), 0o755, 'backup directory');
    expect(made).toBe(join(base, 'a', 'b'));
    expect([statSync(join(base, 'a')).mode & 0o7777, statSync(made).mode & 0o7777]).toEqual([0o755, 0o755]);
  });

  it.skipIf(!AS_ROOT)('fail/a missing name another user makes first, after the check and before this makes it, in a directory every user may add names to: refused, nothing made in it', async () => {
    const sticky = tempDir('sticky');
    chmodSync(sticky, 0o1777);
    const raced = join(sticky, 'bk');
    beforeMkdir.run = (path) => {
      mkdirSync(path, { mode: 0o777 });
      chownSync(path, OTHER_USER, OTHER_USER);
    };

    const making = makeCheckedDirectory(join(raced, 'daily'), 0o755, 'backup directory');
    await expect(making).rejects.toThrow(UntrustedDataDirPathError);
    await expect(making).rejects.toThrow(`${raced}, on the way to the backup directory ${join(raced, 'daily')}, was made by user ${OTHER_USER} while this made the directories there`);
    expect(readdirSync(raced)).toEqual([]);
  });
});
