/** Reading a file from a directory others may write to: only a regular file, as itself, within a bound. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRegularFile, readRegularFileSync } from '../../src/platform/regular-file.js';
import { tempDir } from '../support/temp-dir.js';

/** A directory holding `name` made by `plant`, beside a secret file the plant may point at. */
function planted(plant: (path: string, secret: string) => void): string {
  const dir = tempDir();
  const secret = join(dir, 'secret.pem');
  writeFileSync(secret, 'SECRET', { mode: 0o600 });
  plant(join(dir, 'crl.pem'), secret);
  return join(dir, 'crl.pem');
}

// The same rules for the agent's reads while it runs and for its configuration at start.
describe.each([
  ['readRegularFile', readRegularFile],
  ['readRegularFileSync', async (...args: Parameters<typeof readRegularFileSync>) => readRegularFileSync(...args)],
])('%s', (_name, read) => {
  it('pass/a regular file: its text, permission bits, links and owner', async () => {
    const path = planted((p) => writeFileSync(p, 'crl text', { mode: 0o640 }));
    expect(await read(path)).toEqual({ data: 'crl text', mode: 0o640, links: 1, owner: process.geteuid!(), stamp: expect.any(String) });
  });

  it.each([
    { name: 'a link to another file', plant: (p: string, secret: string) => symlinkSync(secret, p) },
    { name: 'a FIFO (which would block an ordinary read forever)', plant: (p: string) => execFileSync('mkfifo', [p]) },
    { name: 'a directory', plant: (p: string) => mkdirSync(p) },
    { name: 'a file over the bound', plant: (p: string) => writeFileSync(p, 'x'.repeat(2000)) },
  ])('fail/$name is refused, and nothing it leads to is read', async ({ plant }) => {
    const path = planted(plant);
    await expect(read(path, 1000)).rejects.toThrow();
  });

  it('pass/with followLink, a link to a regular file is read through, as a Secret volume\'s key is', async () => {
    const path = planted((p, secret) => symlinkSync(secret, p));
    expect((await read(path, 1000, true)).data).toBe('SECRET');
  });

  it.each([
    { name: 'a FIFO', plant: (p: string) => execFileSync('mkfifo', [p]) },
    { name: 'a link to a FIFO', plant: (p: string) => (execFileSync('mkfifo', [`${p}.fifo`]), symlinkSync(`${p}.fifo`, p)) },
    { name: 'a link to a directory', plant: (p: string) => (mkdirSync(`${p}.d`), symlinkSync(`${p}.d`, p)) },
    { name: 'a link to a file over the bound', plant: (p: string) => (writeFileSync(`${p}.big`, 'x'.repeat(2000)), symlinkSync(`${p}.big`, p)) },
  ])('fail/with followLink, $name is still refused without blocking', async ({ plant }) => {
    const path = planted(plant);
    await expect(read(path, 1000, true)).rejects.toThrow();
  });
});
