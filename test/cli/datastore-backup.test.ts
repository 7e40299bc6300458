/**
 * `meshca datastore backup --to DIR`: a copy of an embedded CA, taken while
 * it runs and issues, that a CA then starts from with the same roots, records
 * and audit chain; a backup that cannot be made leaves nothing behind.
 */
import Database from 'better-sqlite3';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/cli/admin-client.js';
import { tryLockFile } from '../../src/cli/data-dir-lock.js';
import { localEndpoint } from '../../src/cli/local-endpoint.js';
import { newKeyAndCsr } from '../support/callers.js';
import { cleanupLater } from '../support/cleanup.js';
import { seedCertificates } from '../support/certificate-seed.js';
import { MESHCA_BIN, runMeshca, type CliResult } from '../support/cli.js';
import { getOverSocket } from '../support/http-client.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait.js';

const PASSPHRASE = { MESHCA_KEY_PASSPHRASE: 'backup test passphrase' };
const EX_CONFIG = 78;

async function running(dataDir: string): Promise<ServerProcess> {
  const ca = await startServer(['--data-dir', dataDir], PASSPHRASE);
  cleanupLater(() => ca.stop());
  return ca;
}

const backup = (dataDir: string, ...args: string[]) => runMeshca(['datastore', 'backup', ...args, '--data-dir', dataDir], PASSPHRASE);

async function mint(admin: AdminClient, name: string): Promise<string> {
  const { csr } = await newKeyAndCsr();
  const res = await admin.call<{ svid: { serial: string } }>('POST', '/v1/svids/mint', { spiffeId: `spiffe://example.org/${name}`, csr });
  return res.svid.serial;
}

async function serialsIn(dataDir: string): Promise<Set<string>> {
  const res = await runMeshca(['cert', 'list', '--json', '--data-dir', dataDir]);
  expect(res.code, res.stderr).toBe(0);
  return new Set((JSON.parse(res.stdout) as Array<{ serial: string }>).map((c) => c.serial));
}

/** What a crash or a refusal must not leave: the target, or a half-built copy beside it. */
function leftovers(target: string): string[] {
  return readdirSync(dirname(target)).filter((name) => name.includes('.partial-') || join(dirname(target), name) === target);
}

const mode = (path: string) => statSync(path).mode & 0o777;

/** The data directory of a CA that ran once and stopped, its keys encrypted under PASSPHRASE. */
async function stoppedCa(): Promise<string> {
  const dataDir = tempDir();
  const ca = await running(dataDir);
  expect(await ca.stop()).toBe(0);
  return dataDir;
}

describe('meshca datastore backup', () => {
  it('pass/copies a running CA while it issues: the copy starts with the same roots, lists every certificate acknowledged before the backup, and its audit log verifies', { timeout: 60_000 }, async () => {
    const dataDir = tempDir();
    const original = await running(dataDir);
    const admin = new AdminClient(localEndpoint(dataDir));
    const before = [await mint(admin, 'web'), await mint(admin, 'db')];

    // Issuance goes on through the backup; what was acknowledged before it began must be in the copy.
    let issuing = true;
    const during: string[] = [];
    const load = (async () => {
      for (let i = 0; issuing; i++) during.push(await mint(admin, `load-${i}`));
    })();
    const target = join(tempDir(), 'nightly', 'meshca-backup'); // a parent that does not exist yet is made
    const res = await backup(dataDir, '--to', target);
    issuing = false;
    await load;
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^backed up .* to .*: \d+ certificate records, 2 CA key files$/m);
    expect(res.stdout).toMatch(/^verified: audit log of \d+ events and \d+ signed checkpoints, head \d+:[0-9a-f]{64}; the keys of 2 authorities load and match their certificates$/m);
    expect(during.length).toBeGreaterThan(0);

    expect({ dir: mode(target), db: mode(join(target, 'meshca.db')), keys: mode(join(target, 'keys')) }).toEqual({ dir: 0o700, db: 0o600, keys: 0o700 });
    for (const key of readdirSync(join(target, 'keys'))) expect(mode(join(target, 'keys', key))).toBe(0o600);
    expect(leftovers(target)).toEqual(['meshca-backup']);

    const bundle = (await getOverSocket(original.socketPath, '/v1/bundle.pem')).body;
    const copy = await running(target);
    expect((await getOverSocket(copy.socketPath, '/v1/bundle.pem')).body).toBe(bundle);
    const copied = await serialsIn(target);
    for (const serial of before) expect(copied.has(serial), serial).toBe(true);
    // The copy is a CA of its own: it issues, and its audit log verifies with what it appended since.
    expect(await mint(new AdminClient(localEndpoint(target)), 'after-restore')).toMatch(/^[0-9a-f]+$/);
    const verified = await runMeshca(['audit', 'verify', '--data-dir', target]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });

  it('pass/counts of one are said in the singular: "1 signed checkpoint", not "1 signed checkpoints"', async () => {
    const dataDir = tempDir();
    await running(dataDir);
    const checkpoint = await runMeshca(['audit', 'checkpoint', '--data-dir', dataDir]);
    expect(checkpoint.code, checkpoint.stderr).toBe(0);
    const res = await backup(dataDir, '--to', join(tempDir(), 'copy'));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^verified: audit log of \d+ events and 1 signed checkpoint, head /m);
  });

  it('pass/prints a restore command that starts a CA on the copy, its trust domain included (a start on the default, example.org, is refused)', { timeout: 60_000 }, async () => {
    const dataDir = tempDir();
    const original = await startServer(['--data-dir', dataDir, '--trust-domain', 'prod.example.com'], PASSPHRASE);
    cleanupLater(() => original.stop());
    const target = join(tempDir(), 'copy');
    const res = await backup(dataDir, '--to', target);
    expect(res.code, res.stderr).toBe(0);
    const restore = /^to restore, stop the CA and start it with (.*) \(or put it in place of .*\) and its other settings as before;/m.exec(res.stdout);
    expect(restore?.[1]).toBe(`--data-dir ${target} --trust-domain prod.example.com`);
    expect(await original.stop()).toBe(0);

    const restored = await startServer(restore![1]!.split(' '), PASSPHRASE);
    cleanupLater(() => restored.stop());
    expect((await getOverSocket(restored.socketPath, '/readyz')).status).toBe(200);
  });

  it('fail/refuses a --to that exists, even empty, and leaves it as it was', async () => {
    const dataDir = tempDir();
    await running(dataDir);
    const target = join(tempDir(), 'existing');
    mkdirSync(target);
    const res = await backup(dataDir, '--to', target);
    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: 1, stdout: '' });
    expect(res.stderr).toContain(`${target} exists: a backup is written only to a new directory, never over another`);
    expect(readdirSync(target)).toEqual([]);
    expect(leftovers(target)).toEqual(['existing']);
  });

  it('fail/refuses a data directory with no embedded datastore, naming what backs up PostgreSQL', async () => {
    const target = join(tempDir(), 'backup');
    const res = await backup(tempDir(), '--to', target);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/no embedded meshca datastore in .*pg_dump/);
    expect(leftovers(target)).toEqual([]);
  });

  it('fail/without --to exits 78 naming the flag', async () => {
    const res = await backup(tempDir());
    expect(res.code).toBe(EX_CONFIG);
    expect(res.stderr).toContain('--to: name the new directory to write the backup to');
  });

  it('pass/passes over what the CA never reads in keys/ (a mount\'s lost+found), as the CA does', async () => {
    const dataDir = await stoppedCa();
    mkdirSync(join(dataDir, 'keys', 'lost+found'));
    const target = join(tempDir(), 'backup');
    const res = await backup(dataDir, '--to', target);
    expect(res.code, res.stderr).toBe(0);
    expect(readdirSync(join(target, 'keys')).filter((k) => !k.endsWith('.key.pem'))).toEqual([]);
  });

  it.each([
    {
      name: 'a key file that is not a key',
      spoil: (dataDir: string) => writeFileSync(join(dataDir, 'keys', readdirSync(join(dataDir, 'keys')).find((k) => k.endsWith('.key.pem'))!), 'garbage'),
      env: PASSPHRASE,
      says: /is corrupt/,
    },
    { name: 'encrypted keys without the passphrase', spoil: () => undefined, env: { MESHCA_KEY_PASSPHRASE: '' }, says: /is encrypted; set MESHCA_KEY_PASSPHRASE/ },
    { name: 'encrypted keys with another passphrase', spoil: () => undefined, env: { MESHCA_KEY_PASSPHRASE: 'not the one' }, says: /or the passphrase is wrong/ },
  ])('fail/$name: refused with exit 78 (CA keys it could not trust), as a CA starting on the copy would be, and the half-built copy removed', async ({ spoil, env, says }) => {
    const dataDir = await stoppedCa();
    spoil(dataDir);
    const target = join(tempDir(), 'backup');
    const res = await runMeshca(['datastore', 'backup', '--to', target, '--data-dir', dataDir], env);
    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: EX_CONFIG, stdout: '' });
    expect(res.stderr).toMatch(says);
    expect(leftovers(target)).toEqual([]);
  });

  /** What only root may read, for a link the CA's account plants to lead root's backup to it. */
  const rootsOnly = () => {
    const dir = join(tempDir('root-only'), 'secrets');
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'shadow'), 'root:$6$secret:20000::::::\n', { mode: 0o600 });
    return dir;
  };
  it.skipIf(process.geteuid?.() !== 0).each([
    { name: 'a key that is a link to a file only root reads (/etc/shadow)', at: 'keys/ffff.key.pem', plant: (path: string) => symlinkSync(join(rootsOnly(), 'shadow'), path), says: 'is a symbolic link' },
    { name: 'keys/unreferenced a link to a directory only root reads', at: 'keys/unreferenced', plant: (path: string) => symlinkSync(rootsOnly(), path), says: 'is a symbolic link' },
    { name: 'keys/ itself a link to a directory only root reads', at: 'keys', plant: (path: string) => { renameSync(path, `${path}.moved`); symlinkSync(rootsOnly(), path); }, says: 'is not a directory itself (a symbolic link, or a file)' },
    { name: 'a FIFO among the keys', at: 'keys/ffff.key.pem', plant: (path: string) => execFileSync('mkfifo', [path]), says: 'is not a regular file' },
    { name: "a key file of another user", at: 'keys/ffff.key.pem', plant: (path: string) => { writeFileSync(path, 'theirs'); chownSync(path, 65534, 65534); }, says: "belongs to user 65534, neither the data directory's owner (0) nor root" },
    { name: "the datastore's -shm a link to a file only root reads", at: 'meshca.db-shm', plant: (path: string) => symlinkSync(join(rootsOnly(), 'shadow'), path), says: 'is a symbolic link' },
  ])('fail/$name: refused, naming it, and nothing copied', async ({ at, plant, says }) => {
    const dataDir = await stoppedCa();
    plant(join(dataDir, at));
    const target = join(tempDir(), 'backup');
    const res = await backup(dataDir, '--to', target);
    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: 1, stdout: '' });
    expect(res.stderr).toContain(`${join(dataDir, at)} ${says}: a backup copies only what the CA makes in its data directory`);
    expect(leftovers(target)).toEqual([]);
  });

  it.skipIf(process.geteuid?.() !== 0)("pass/made by root into new directories, the CA's user can start a CA on the copy", async () => {
    const dataDir = await stoppedCa();
    const owner = 65534;
    const stack = tempDir('stack');
    chmodSync(stack, 0o755);
    for (const path of [dataDir, ...readdirSync(dataDir, { recursive: true }).map((p) => join(dataDir, String(p)))]) chownSync(path, owner, owner);
    const target = join(stack, 'var', 'backups', 'meshca', 'today');
    const res = await runMeshca(['datastore', 'backup', '--to', target, '--data-dir', dataDir], PASSPHRASE);
    expect(res.code, res.stderr).toBe(0);
    expect([join(stack, 'var'), join(stack, 'var', 'backups'), join(stack, 'var', 'backups', 'meshca')].map(mode)).toEqual([0o755, 0o755, 0o755]);
    expect(mode(target)).toBe(0o700);
    const restored = await startServer(['--data-dir', target], PASSPHRASE, 20_000, owner);
    cleanupLater(() => restored.stop());
    expect(await restored.stop()).toBe(0);
  });

  it('fail/refuses a --to inside the data directory', async () => {
    const dataDir = await stoppedCa();
    const res = await backup(dataDir, '--to', join(dataDir, 'backups', 'today'));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('is inside the data directory');
    expect(existsSync(join(dataDir, 'backups'))).toBe(false);
  });

  it('pass/removes the unfinished copy a backup killed outright left beside the same target, and says so', async () => {
    const dataDir = await stoppedCa();
    const target = join(tempDir(), 'backup');
    const left = join(dirname(target), '.backup.partial-AbC123');
    mkdirSync(join(left, 'keys'), { recursive: true, mode: 0o700 });
    writeFileSync(join(left, 'keys', 'k.key.pem'), 'a key', { mode: 0o600 });
    const res = await backup(dataDir, '--to', target);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`removed ${left}, left by a backup that was stopped before it finished`);
    expect(leftovers(target)).toEqual(['backup']);
  });

  it('fail/refuses while another backup to the same target is under way, leaving its half-built copy alone; goes ahead once it is over', async () => {
    const dataDir = await stoppedCa();
    const target = join(tempDir(), 'backup');
    // The other backup, as it is while it copies: its claim beside the target held, its copy half-built.
    const claim = tryLockFile(join(dirname(target), '.backup.lock'))!;
    const building = join(dirname(target), '.backup.partial-XyZ789');
    mkdirSync(join(building, 'keys'), { recursive: true, mode: 0o700 });
    let refused: CliResult;
    try {
      refused = await backup(dataDir, '--to', target);
    } finally {
      claim.release();
    }
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toContain(`another backup to ${target} is under way`);
    expect(existsSync(join(building, 'keys'))).toBe(true);
    expect(existsSync(target)).toBe(false);
    // Once it is over (here: gone without finishing), a backup takes the claim, and leaves none behind.
    const res = await backup(dataDir, '--to', target);
    expect(res.code, res.stderr).toBe(0);
    expect(readdirSync(dirname(target))).toEqual(['backup']);
  });

  it('pass/stopped by SIGTERM while it copies, removes its half-built copy and exits 143', { timeout: 60_000 }, async () => {
    const dataDir = await stoppedCa();
    // Enough records that the snapshot takes a while: the signal comes while the copy is being built.
    const db = new Database(join(dataDir, 'meshca.db'));
    try {
      const issuerId = db.prepare<[], { id: string }>("SELECT id FROM authorities WHERE kind = 'intermediate' AND state = 'active'").get()!.id;
      seedCertificates(db, 300_000, { now: Math.floor(Date.now() / 1000), issuerId });
    } finally {
      db.close();
    }
    const target = join(tempDir(), 'backup');
    const child = spawn(process.execPath, [MESHCA_BIN, 'datastore', 'backup', '--to', target, '--data-dir', dataDir], { env: { ...process.env, ...PASSPHRASE }, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor('the half-built copy to appear', () => leftovers(target).length > 0, 20_000);
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(leftovers(target)).toEqual([]);
  });

  it("pass/the copy belongs to the data directory's owner, also when root makes it", async () => {
    const dataDir = await stoppedCa();
    const owner = process.geteuid!() === 0 ? 65534 : process.geteuid!();
    chownSync(dataDir, owner, owner);
    const target = join(tempDir(), 'backup');
    const res = await backup(dataDir, '--to', target);
    expect(res.code, res.stderr).toBe(0);
    const owners = new Set([target, join(target, 'meshca.db'), join(target, 'keys'), ...readdirSync(join(target, 'keys')).map((k) => join(target, 'keys', k))].map((p) => statSync(p).uid));
    expect([...owners]).toEqual([owner]);
  });
});
