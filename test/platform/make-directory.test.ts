/**
 * Directories the CA and the agent create are made durable like the files
 * written into them: every directory that gained an entry is fsynced.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeDirectory, makeDirectorySync } from '../../src/platform/atomic-file.js';
import { PROJECT_ROOT } from '../support/cli.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'meshca-mkdir-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const variants = [
  ['makeDirectory', async (dir: string, mode: number, synced: string[]) => makeDirectory(dir, mode, async (d) => void synced.push(d))],
  ['makeDirectorySync', async (dir: string, mode: number, synced: string[]) => makeDirectorySync(dir, mode, (d) => void synced.push(d))],
] as const;

describe.each(variants)('%s', (_name, make) => {
  it('creates missing parents with the mode and fsyncs each directory that gained an entry, deepest first', async () => {
    const synced: string[] = [];
    await make(join(root, 'a', 'b', 'c'), 0o700, synced);
    expect(statSync(join(root, 'a', 'b', 'c')).mode & 0o777).toBe(0o700);
    expect(synced).toEqual([join(root, 'a', 'b'), join(root, 'a'), root]);
  });

  it('fsyncs nothing when the directory already exists', async () => {
    await make(join(root, 'kept'), 0o700, []);
    const synced: string[] = [];
    await make(join(root, 'kept'), 0o700, synced);
    expect(synced).toEqual([]);
  });

  it('fsyncs only above what it created when some parents exist', async () => {
    await make(join(root, 'a'), 0o755, []);
    const synced: string[] = [];
    await make(join(root, 'a', 'b'), 0o755, synced);
    expect(synced).toEqual([join(root, 'a')]);
  });

  it('refuses a path that is a file (EEXIST), as mkdir -p does', async () => {
    writeFileSync(join(root, 'f'), 'x');
    await expect(make(join(root, 'f'), 0o700, [])).rejects.toMatchObject({ code: 'EEXIST' });
  });

  it('resolves a relative path against the working directory', async () => {
    const cwd = process.cwd();
    process.chdir(root);
    try {
      const synced: string[] = [];
      await make(join('x', 'y'), 0o700, synced);
      expect(synced).toEqual([join(root, 'x'), root]);
    } finally {
      process.chdir(cwd);
    }
  });
});

it('makeDirectory fsyncs real directories by default (a wrong path would fail to open)', async () => {
  await makeDirectory(join(root, 'p', 'q'), 0o700);
  expect(statSync(join(root, 'p', 'q')).isDirectory()).toBe(true);
});

/**
 * Node 20's recursive mkdir loops for ever on procfs (`mkdir /proc/x` is ENOENT although /proc exists), so this runs
 * the built module in a child process the timeout ends: spinning fails the test rather than hang it.
 */
it.each(['makeDirectory', 'makeDirectorySync'])('%s refuses a path under /proc in words, rather than spin', (name) => {
  const atomicFile = pathToFileURL(join(PROJECT_ROOT, 'dist/src/platform/atomic-file.js')).href;
  const script = `import { ${name} } from '${atomicFile}';
try { await ${name}('/proc/meshca-mkdir/out', 0o700); console.log('made'); } catch (err) { console.log(err.code, err.message); }`;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' });
  expect({ status: res.status, stdout: res.stdout }).toEqual({
    status: 0,
    stdout: 'ENOENT cannot make directory /proc/meshca-mkdir (ENOENT): /proc takes no new directories (a file system such as /proc), or was removed meanwhile\n',
  });
});
