/**
 * Directories the CA and the agent create are made durable like the files
 * written into them: every directory that gained an entry is fsynced.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeDirectory, makeDirectorySync } from '../../src/platform/atomic-file.js';

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
