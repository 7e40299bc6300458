/**
 * CA key files across a crash: a process killed (SIGKILL) while saving keys
 * leaves only whole keys under their names, and the temporary file it was
 * writing — a private key no record names — is gone once the next process
 * uses the key directory.
 */
import { spawn } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTemporaryName } from '../../src/platform/atomic-file.js';
import { FileKeyCustody, UNREFERENCED_DIR } from '../../src/store/file-key-custody.js';
import { tempDir } from '../support/temp-dir.js';

const BUILT_CUSTODY = resolve(import.meta.dirname, '../../dist/src/store/file-key-custody.js');

/** A process that saves keys into `dir` without end, until it is killed. */
const SAVER = `
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
const { FileKeyCustody } = await import(process.argv[1]);
const custody = new FileKeyCustody(process.argv[2], undefined);
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
process.stdout.write('ready\\n');
for (let i = 0; ; i++) await custody.save('k' + i, privateKey);
`;

/** Runs the saver in `dir` and kills it with SIGKILL after `ms` of saving. */
async function saveThenKill(dir: string, ms: number): Promise<void> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SAVER, BUILT_CUSTODY, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ready, failed) => {
    child.stdout.once('data', () => ready());
    child.once('exit', (code) => failed(new Error(`the saver exited with ${code}`)));
  });
  await new Promise((r) => setTimeout(r, ms));
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

describe('CA key files after a crash', () => {
  it('fail/the temporary key file a killed server left is removed by the next one, and every key left is whole', async () => {
    // A kill lands during a write (most of each save is its fsyncs) nearly every time; try a few until one did.
    let dir = '';
    for (let attempt = 0; attempt < 20; attempt++) {
      dir = tempDir();
      await saveThenKill(dir, 150 + attempt * 13);
      if (readdirSync(dir).some(isTemporaryName)) break;
    }
    const left = readdirSync(dir).filter(isTemporaryName);
    expect(left.length, 'no kill landed mid-write in 20 attempts').toBeGreaterThan(0);
    // The leftover is a private key, private to its owner.
    expect(statSync(join(dir, left[0]!)).mode & 0o777).toBe(0o600);

    const next = new FileKeyCustody(dir, undefined);
    const refs = await next.list();
    expect(readdirSync(dir).filter(isTemporaryName)).toEqual([]);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      await next.load(ref); // whole, or it would throw as corrupt
      expect(statSync(next.describe(ref)).mode & 0o777).toBe(0o600);
    }
  });

  it('pass/a save after the sweep is not disturbed by it, and keys are written 0600 whatever the umask', async () => {
    const dir = join(tempDir(), 'keys');
    const custody = new FileKeyCustody(dir, undefined);
    const previous = process.umask(0o000);
    try {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await Promise.all([custody.save('a', privateKey), custody.save('b', privateKey), custody.list()]);
    } finally {
      process.umask(previous);
    }
    expect((await custody.list()).sort()).toEqual(['a', 'b']);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(custody.describe('a')).mode & 0o777).toBe(0o600);
  });
});

describe('keys no record names', () => {
  it('setAsideUnreferenced moves exactly the keys outside the referenced set into unreferenced/ (0700), and says which', async () => {
    const dir = tempDir();
    const custody = new FileKeyCustody(dir, undefined);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (const ref of ['kept-1', 'kept-2', 'orphan']) await custody.save(ref, privateKey);
    expect(await custody.setAsideUnreferenced(new Set(['kept-1', 'kept-2', 'never-saved']))).toEqual(['orphan']);
    expect((await custody.list()).sort()).toEqual(['kept-1', 'kept-2']);
    const aside = join(dir, UNREFERENCED_DIR);
    expect(statSync(aside).mode & 0o777).toBe(0o700);
    expect(readdirSync(aside)).toEqual(['orphan.key.pem']);
    expect(statSync(join(aside, 'orphan.key.pem')).mode & 0o777).toBe(0o600);
  });
});

describe('what a key file holds', () => {
  it('fail/a key is never written over another: a second save under one name is refused, and the first key stays', async () => {
    const dir = tempDir();
    const custody = new FileKeyCustody(dir, undefined);
    const first = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await custody.save('root', first);
    const before = readFileSync(custody.describe('root'));
    const second = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await expect(custody.save('root', second)).rejects.toThrow(/exists already; a CA key is never written over another/);
    expect(readFileSync(custody.describe('root'))).toEqual(before);
    expect(readdirSync(dir).filter(isTemporaryName)).toEqual([]);
  });

  it('pass/saving the key a file already holds again (a change retried after it failed to commit) is no error', async () => {
    const custody = new FileKeyCustody(tempDir(), 'a passphrase');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await custody.save('root', privateKey);
    await custody.save('root', privateKey);
    expect((await custody.load('root')).equals(privateKey)).toBe(true);
  });

  it('pass/keys stored unencrypted are encrypted in place by encryptAtRest, and are the same keys after; loading alone rewrites nothing', async () => {
    const dir = tempDir();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await new FileKeyCustody(dir, undefined).save('root', privateKey);
    const plain = readFileSync(join(dir, 'root.key.pem'));
    const withPassphrase = new FileKeyCustody(dir, 'a passphrase given later');
    expect((await withPassphrase.load('root')).equals(privateKey)).toBe(true);
    expect(readFileSync(join(dir, 'root.key.pem'))).toEqual(plain);
    expect(await withPassphrase.encryptAtRest()).toEqual(['root']);
    expect(readFileSync(withPassphrase.describe('root'), 'utf8')).toMatch(/^meshca-key-kdf: scrypt N=32768 r=8 p=1 salt=\S+\n-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(statSync(withPassphrase.describe('root')).mode & 0o777).toBe(0o600);
    expect(await withPassphrase.encryptAtRest()).toEqual([]);
    expect((await new FileKeyCustody(dir, 'a passphrase given later').load('root')).equals(privateKey)).toBe(true);
    await expect(new FileKeyCustody(dir, undefined).load('root')).rejects.toThrow(/is encrypted; set MESHCA_KEY_PASSPHRASE/);
  });

  it('fail/the passphrase is stretched with scrypt before it encrypts a key: the bare passphrase, which PBKDF2 of 2,048 rounds would let anyone search for cheaply, opens nothing', async () => {
    const dir = tempDir();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const custody = new FileKeyCustody(dir, 'correct horse');
    await custody.save('root', privateKey);
    const pem = readFileSync(custody.describe('root'), 'utf8');
    expect(() => createPrivateKey({ key: pem, passphrase: 'correct horse' })).toThrow();
    expect((await new FileKeyCustody(dir, 'correct horse').load('root')).equals(privateKey)).toBe(true);
    await expect(new FileKeyCustody(dir, 'wrong horse').load('root')).rejects.toThrow(/is corrupt or the passphrase is wrong/);
  });

  it('pass/a key an earlier build encrypted with the bare passphrase still loads, and encryptAtRest writes it again stretched', async () => {
    const dir = tempDir();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const custody = new FileKeyCustody(dir, 'an old passphrase');
    writeFileSync(custody.describe('root'), privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'an old passphrase' }), { mode: 0o600 });
    expect((await custody.load('root')).equals(privateKey)).toBe(true);
    expect(await custody.encryptAtRest()).toEqual(['root']);
    expect(readFileSync(custody.describe('root'), 'utf8')).toMatch(/^meshca-key-kdf: scrypt /);
    expect(await custody.encryptAtRest()).toEqual([]);
    expect((await new FileKeyCustody(dir, 'an old passphrase').load('root')).equals(privateKey)).toBe(true);
  });

  it('fail/key derivation parameters meshca does not write (a corrupt file, or one made to cost a start a gigabyte) are refused before any derivation', async () => {
    const dir = tempDir();
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const custody = new FileKeyCustody(dir, 'p');
    await custody.save('root', privateKey);
    const path = custody.describe('root');
    writeFileSync(path, readFileSync(path, 'utf8').replace('N=32768', 'N=1048576'));
    await expect(new FileKeyCustody(dir, 'p').load('root')).rejects.toThrow(`CA key file ${path} is corrupt: it names key derivation parameters meshca does not write: meshca-key-kdf: scrypt N=1048576`);
  });

  it('pass/keys written by several processes, each under its own salt, are brought under one by encryptAtRest, so that a start derives once', async () => {
    const dir = tempDir();
    const keys = ['a', 'b', 'c'].map((ref) => ({ ref, key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }));
    for (const { ref, key } of keys) await new FileKeyCustody(dir, 'p').save(ref, key);
    const salts = () => new Set(keys.map(({ ref }) => /salt=(\S+)/.exec(readFileSync(join(dir, `${ref}.key.pem`), 'utf8'))![1]));
    expect(salts().size).toBe(3);
    const restarted = new FileKeyCustody(dir, 'p');
    for (const { ref, key } of keys) expect((await restarted.load(ref)).equals(key)).toBe(true);
    expect((await restarted.encryptAtRest()).length).toBe(2);
    expect(salts().size).toBe(1);
    for (const { ref, key } of keys) expect((await new FileKeyCustody(dir, 'p').load(ref)).equals(key)).toBe(true);
  });
});
