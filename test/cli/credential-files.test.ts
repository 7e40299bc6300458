/**
 * `meshca mint --out DIR` and `meshca admin credential --out DIR` replace an
 * SVID, its key and the bundle: killed at any step, DIR must never pair a key
 * with another key's certificate, whatever layout it had before.
 */
import { createPrivateKey } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { holdCertificate, newKeyWithCsr } from '../../src/agent/credentials.js';
import { writeCredentialFiles } from '../../src/cli/credential-files.js';
import { atEveryCrashPoint } from '../support/crashing-fs.js';
import { MiniCa } from '../support/mini-ca.js';
import { tempDir } from '../support/temp-dir.js';

vi.mock('node:fs/promises', async (real) => (await import('../support/crashing-fs.js')).crashingFs(await real<object>()));

interface Credential {
  readonly keyPem: string;
  readonly chainPem: string;
  readonly bundlePem: string;
}

let ca: MiniCa;
let older: Credential;
let newer: Credential;

async function credential(spiffeId: string): Promise<Credential> {
  const { keyPem, csr } = await newKeyWithCsr('ec-p256');
  return { keyPem, chainPem: (await ca.issue(csr, spiffeId, 600)).chainPem, bundlePem: ca.bundlePem };
}

const write = (dir: string, c: Credential) => writeCredentialFiles(dir, createPrivateKey(c.keyPem), c.chainPem, c.bundlePem);

/** How DIR looked before: empty, as an older meshca wrote it (plain files), or as this one does. */
const layouts = [
  { name: 'a new DIR', setUp: async (_dir: string) => undefined, holdsOne: false },
  {
    name: 'a DIR an older meshca wrote (plain files)',
    setUp: async (dir: string) => {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, 'svid_key.pem'), older.keyPem, { mode: 0o600 });
      writeFileSync(join(dir, 'svid.pem'), older.chainPem);
      writeFileSync(join(dir, 'bundle.pem'), older.bundlePem);
    },
    holdsOne: true,
  },
  { name: 'a DIR this meshca wrote', setUp: async (dir: string) => write(dir, older), holdsOne: true },
];

/** What DIR offers through the names a reader opens: a key with its own certificate, or nothing. */
function readCredential(dir: string): { key: string; chain: string } | undefined {
  try {
    return { key: readFileSync(join(dir, 'svid_key.pem'), 'utf8'), chain: readFileSync(join(dir, 'svid.pem'), 'utf8') };
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  ca = await MiniCa.create();
  older = await credential('spiffe://example.org/ns/old');
  newer = await credential('spiffe://example.org/ns/new');
});

describe('writeCredentialFiles', () => {
  it.each(layouts)('over $name, killed at any step: DIR holds the old pair or the new one, never a mix', async ({ setUp, holdsOne }) => {
    const problems = await atEveryCrashPoint(
      async () => {
        const dir = join(tempDir(), 'cred');
        await setUp(dir);
        return dir;
      },
      (dir) => write(dir, newer),
      async (dir) => {
        const found = readCredential(dir);
        if (!found) return holdsOne ? ['svid.pem or svid_key.pem is gone'] : [];
        return holdCertificate(found.key, found.chain) ? [] : ['svid_key.pem is not the key of svid.pem'];
      },
    );
    expect(problems).toEqual([]);
  });

  it.each(layouts)('over $name: the new pair and bundle read back through the stable names, the key 0600 in a 0700 DIR', async ({ setUp }) => {
    const dir = join(tempDir(), 'cred');
    await setUp(dir);
    await write(dir, newer);
    const read = (name: string) => readFileSync(join(dir, name), 'utf8');
    expect({ key: read('svid_key.pem'), chain: read('svid.pem'), bundle: read('bundle.pem') }).toEqual({ key: newer.keyPem, chain: newer.chainPem, bundle: newer.bundlePem });
    expect({ key: statSync(join(dir, 'svid_key.pem')).mode & 0o777, dir: statSync(dir).mode & 0o777 }).toEqual({ key: 0o600, dir: 0o700 });
  });
  it('over an older DIR, keeps no copy of the old key, wherever a link pointed, and every key file it ever writes is 0600', async () => {
    const outside = join(tempDir(), 'elsewhere.txt');
    writeFileSync(outside, 'SECRET OUTSIDE DIR', { mode: 0o640 });
    const olderDir = () => {
      const dir = join(tempDir(), 'cred');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, 'svid_key.pem'), older.keyPem, { mode: 0o644 });
      symlinkSync(outside, join(dir, 'bundle.pem'));
      writeFileSync(join(dir, 'svid.pem'), older.chainPem);
      return dir;
    };
    const keyModes: number[] = [];
    const problems = await atEveryCrashPoint(
      async () => olderDir(),
      (d) => write(d, newer),
      async (d) => {
        const versions = readdirSync(d).filter((n) => n.startsWith('..') && n !== '..data');
        const files = versions.flatMap((v) => readdirSync(join(d, v)).map((n) => join(d, v, n)));
        for (const f of files.filter((f) => f.endsWith('svid_key.pem'))) keyModes.push(statSync(f).mode & 0o777);
        return files.filter((f) => readFileSync(f, 'utf8') === 'SECRET OUTSIDE DIR').map((f) => `copied what a link pointed at into ${f}`);
      },
    );
    expect(problems).toEqual([]);
    expect(new Set(keyModes)).toEqual(new Set([0o600]));
    const dir = olderDir();
    await write(dir, newer);
    const versions = readdirSync(dir).filter((n) => n.startsWith('..') && n !== '..data');
    expect(versions).toHaveLength(1);
    expect(readFileSync(join(dir, 'svid_key.pem'), 'utf8')).toBe(newer.keyPem);
  });
});
