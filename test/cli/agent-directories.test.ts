/**
 * The agent's --state-dir is checked before it attests: what would make it
 * fail at the first installation, once the join token is spent, is refused
 * at start (ConfigError, exit 78).
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkOutDirectory } from '../../src/cli/credential-files.js';
import { ConfigError } from '../../src/config/options.js';
import { tempDir } from '../support/temp-dir.js';

const cases: Array<{ name: string; path: (work: string) => string; says?: string }> = [
  { name: 'pass/absent, under directories that can be made', path: (work) => join(work, 'a', 'state') },
  { name: 'pass/a directory', path: (work) => work },
  { name: 'pass/a link to a directory (a volume, say), which --out may not be', path: (work) => link(join(work, 'volume'), join(work, 'state')) },
  { name: 'fail/a file', path: (work) => file(join(work, 'f')), says: 'is not a directory: give a directory (a missing one is made)' },
  { name: 'fail/a path through a file', path: (work) => join(file(join(work, 'f')), 'state'), says: ': part of the path is a file, so no directory can be made there' },
  {
    name: 'fail/under /proc, which takes no new directories',
    path: () => '/proc/meshca-state/node',
    says: 'cannot be made: cannot make directory /proc/meshca-state (ENOENT): /proc takes no new directories (a file system such as /proc), or was removed meanwhile',
  },
];

describe('checkOutDirectory for the agent\'s --state-dir (links followed)', () => {
  it.each(cases)('$name', async ({ path, says }) => {
    const given = path(tempDir());
    const err = await checkOutDirectory(given, '--state-dir', 'follow').then(() => undefined, (e: unknown) => e);
    if (says === undefined) {
      expect(err).toBeUndefined();
      return;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([`--state-dir ${given}${says.startsWith(':') ? '' : ' '}${says}`]);
  });
});

function file(path: string): string {
  writeFileSync(path, 'x');
  return path;
}

function link(target: string, path: string): string {
  mkdirSync(target);
  symlinkSync(target, path);
  return path;
}
