/**
 * `meshca mint --out DIR` and `meshca admin credential --out DIR` check DIR
 * before the CA is asked: a credential it issued for a DIR the files cannot
 * be written to would exist, recorded, with nowhere to show for it.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkOutDirectory } from '../../src/cli/credential-files.js';
import { ConfigError } from '../../src/config/options.js';
import { tempDir } from '../support/temp-dir.js';

/** Each case makes its --out under a fresh directory and says what the check answers: undefined, or the refusal's words. */
const cases: Array<{ name: string; out: (work: string) => string; says?: string }> = [
  { name: 'pass/absent, under a directory that exists', out: (work) => join(work, 'out') },
  { name: 'pass/absent, under directories that can be made', out: (work) => join(work, 'a', 'b', 'out') },
  { name: 'pass/a directory', out: (work) => mkdir(join(work, 'out')) },
  { name: 'pass/a directory written with a trailing slash', out: (work) => `${mkdir(join(work, 'out'))}/` },
  { name: 'pass/a path through a link to a directory (only --out itself may not be one)', out: (work) => join(link(mkdir(join(work, 'real')), join(work, 'via')), 'out') },
  { name: 'fail/empty', out: () => '', says: '--out must not be empty' },
  { name: 'fail/a regular file', out: (work) => file(join(work, 'out')), says: 'is not a directory' },
  { name: 'fail/a link to a directory', out: (work) => link(mkdir(join(work, 'real')), join(work, 'out')), says: 'is a symbolic link; give the directory itself' },
  { name: 'fail/a link to a directory, with a trailing slash', out: (work) => `${link(mkdir(join(work, 'real')), join(work, 'out'))}/`, says: 'is a symbolic link' },
  { name: 'fail/a link to nowhere', out: (work) => link(join(work, 'missing'), join(work, 'out')), says: 'is a symbolic link' },
  { name: 'fail/under /proc, which takes no new directories (found before the CA is asked)', out: () => '/proc/meshca-out/svid', says: 'cannot be made: cannot make directory /proc/meshca-out (ENOENT): /proc takes no new directories' },
  { name: 'fail/a path through a file', out: (work) => join(file(join(work, 'f')), 'out'), says: 'part of the path is a file, so no directory can be made there' },
];

describe('checkOutDirectory', () => {
  it.each(cases)('$name', async ({ out, says }) => {
    const path = out(tempDir());
    const err = await checkOutDirectory(path).then(() => undefined, (e: unknown) => e);
    if (says === undefined) {
      expect(err).toBeUndefined();
      return;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const [problem] = (err as ConfigError).problems;
    expect(problem).toContain(says);
    expect(problem).toMatch(path === '' ? /^--out / : `--out ${path}`);
  });
});

function mkdir(path: string): string {
  mkdirSync(path);
  return path;
}

function file(path: string): string {
  writeFileSync(path, 'x');
  return path;
}

function link(target: string, path: string): string {
  symlinkSync(target, path);
  return path;
}
