/**
 * The data directory is where the CA keeps its keys and the operator socket
 * the CLI trusts: a server refuses one another user owns, and the CLI refuses
 * a socket the CA's user did not make (world-writable volumes are common).
 */
import { chmodSync, chownSync, cpSync, existsSync, lchownSync, mkdirSync, readdirSync, renameSync, symlinkSync, watch, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/options.js';
import { runMeshca } from '../support/cli.js';
import { cleanupLater } from '../support/cleanup.js';
import { startTestCa } from '../support/test-ca.js';
import { linkInStickyDirectory } from '../support/planted-link.js';
import { tempDir } from '../support/temp-dir.js';

/** nobody: a user other than the one running the tests (root here, and in CI). */
const OTHER_USER = 65534;
/** What another user's CA answers for the bundle: a root of theirs. */
const THEIR_BUNDLE = '-----BEGIN CERTIFICATE-----\nTHEIRS\n-----END CERTIFICATE-----\n';

describe('the data directory', () => {
  it.skipIf(process.geteuid?.() !== 0)('fail/owned by another user (not root): refused, since its owner could replace the socket', async () => {
    const dataDir = join(tempDir('foreign'), 'data');
    mkdirSync(dataDir);
    chownSync(dataDir, OTHER_USER, OTHER_USER);
    await expect(startTestCa({ 'data-dir': dataDir })).rejects.toThrow(`it belongs to user ${OTHER_USER}, not to this one (0) or root`);
  });

  it.skipIf(process.geteuid?.() !== 0).each([
    ['keys', 'dir', ''],
    ['meshca.db', 'file', ''],
    ['meshca.flock', 'file', ''],
    ['meshca.pid', 'file', ''],
    ['meshca.sock', 'file', ''],
    // It would stop backups of the CA, as of one on PostgreSQL.
    ['meshca.datastore', 'file', 'postgres\n'],
    // An earlier version's lock naming a running process (pid 1): it would stop every start, with exit 1, for good.
    ['meshca.lock', 'file', '1\n'],
  ] as const)("fail/every user may write to it (sticky), and %s there is another user's: refused (exit 78), as planted", async (name, kind, content) => {
    const dataDir = join(tempDir('planted'), 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o1777);
    if (kind === 'dir') mkdirSync(join(dataDir, name));
    else writeFileSync(join(dataDir, name), content);
    chownSync(join(dataDir, name), OTHER_USER, OTHER_USER);
    const start = startTestCa({ 'data-dir': dataDir });
    await expect(start).rejects.toThrow(ConfigError);
    await expect(start).rejects.toThrow(`${join(dataDir, name)} belongs to user ${OTHER_USER}, not to this one (0) or root, in a data directory others may write to`);
  });

  it('fail/every user may write to it (sticky), and meshca.flock there is a symbolic link: refused, not followed', async () => {
    const dataDir = join(tempDir('planted'), 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o1777);
    const elsewhere = join(tempDir('elsewhere'), 'lock');
    symlinkSync(elsewhere, join(dataDir, 'meshca.flock'));
    await expect(startTestCa({ 'data-dir': dataDir })).rejects.toThrow(`${join(dataDir, 'meshca.flock')} is a symbolic link, in a data directory others may write to`);
    expect(existsSync(elsewhere)).toBe(false);
  });

  it.skipIf(process.geteuid?.() !== 0)('fail/every user may write to it (sticky), and another user puts a datastore and keys there while the CA starts: refused once they are open', async () => {
    // The attacker's CA: a datastore and keys of their own, as user OTHER_USER.
    const theirs = join(tempDir('theirs'), 'data');
    await (await startTestCa({ 'data-dir': theirs })).close();
    for (const path of [theirs, join(theirs, 'meshca.db'), join(theirs, 'keys'), ...readdirSync(join(theirs, 'keys')).map((k) => join(theirs, 'keys', k))]) {
      chownSync(path, OTHER_USER, OTHER_USER);
    }
    const dataDir = join(tempDir('raced'), 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, 0o1777);
    // The reviewer's race, made certain: the moment the CA takes its lock (after its first check), theirs moves in.
    const watcher = watch(dataDir, (_event, name) => {
      if (name !== 'meshca.flock' || existsSync(join(dataDir, 'meshca.db'))) return;
      renameSync(join(theirs, 'meshca.db'), join(dataDir, 'meshca.db'));
      renameSync(join(theirs, 'keys'), join(dataDir, 'keys'));
    });
    cleanupLater(() => watcher.close());
    await expect(startTestCa({ 'data-dir': dataDir })).rejects.toThrow(`${join(dataDir, 'keys')} belongs to user ${OTHER_USER}, not to this one (0) or root, in a data directory others may write to`);
  });

  it.each([
    ['every user may write to it, with no sticky bit (0777)', 0o777, undefined, 'every user (mode 0777, no sticky bit)'],
    ['every user may write to it, as some volume provisioners make one (2777)', 0o2777, undefined, 'every user (mode 2777, no sticky bit)'],
    ["another group may write to it, with no sticky bit", 0o770, OTHER_USER, `group ${OTHER_USER} (mode 0770, no sticky bit)`],
  ])('fail/%s: refused (exit 78), since others could rename the CA\'s datastore and keys and put theirs in place', async (_name, mode, group, says) => {
    const dataDir = join(tempDir('loose'), 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, mode);
    if (group !== undefined) chownSync(dataDir, 0, group);
    const start = startTestCa({ 'data-dir': dataDir });
    await expect(start).rejects.toThrow(ConfigError);
    await expect(start).rejects.toThrow(`--data-dir ${dataDir}: ${says} may rename what the CA keeps there and put their own datastore or keys in its place; chmod go-w it (0700), or set its sticky bit (chmod +t)`);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  // Under a directory every user may rename entries in, another user can, at any restart, move the CA's data directory
  // aside and link its name to what they choose: the CA would read another directory as its own.
  const relinked: Array<{ name: string; target: (dataDir: string, parent: string) => string }> = [
    {
      name: 'an empty directory every user may write to, sticky (the CA would make a new PKI and root)',
      target: () => {
        const sticky = tempDir('sticky');
        chmodSync(sticky, 0o1777);
        return sticky;
      },
    },
    {
      name: "an older copy of the CA's own data directory (the revocations since undone)",
      target: (dataDir, parent) => {
        const older = join(parent, 'older');
        cpSync(dataDir, older, { recursive: true });
        return older;
      },
    },
  ];
  it.each(relinked)('fail/under a directory every user may write to, no sticky bit (0777), its name linked by another user to $name: refused (exit 78), and the CA reads nothing there', async ({ target }) => {
    const parent = join(tempDir('above'), 'parent');
    mkdirSync(parent);
    const dataDir = join(parent, 'meshca');
    await (await startTestCa({ 'data-dir': dataDir })).close();
    const elsewhere = target(dataDir, parent);
    const before = readdirSync(elsewhere);
    chmodSync(parent, 0o777);
    renameSync(dataDir, join(parent, 'moved-aside'));
    symlinkSync(elsewhere, dataDir);

    const start = startTestCa({ 'data-dir': dataDir });
    await expect(start).rejects.toThrow(ConfigError);
    await expect(start).rejects.toThrow(`${parent} (above the data directory ${dataDir}): every user (mode 0777, no sticky bit) may rename what is in it, and so put another data directory in place of the one there; chmod go-w it (0700), or set its sticky bit (chmod +t), or choose a data directory elsewhere`);
    expect(readdirSync(elsewhere)).toEqual(before);
  });

  const strangers: Array<{ name: string; arrange: (dataDir: string, parent: string) => void; says: (dataDir: string, parent: string) => string }> = [
    {
      name: 'a directory above it another user owns (who could put another data directory in its place)',
      arrange: (_dataDir, parent) => chownSync(parent, OTHER_USER, OTHER_USER),
      says: (dataDir, parent) => `${parent} (above the data directory ${dataDir}) belongs to user ${OTHER_USER}, neither root nor this user (0), who could put another data directory in its place`,
    },
    {
      name: 'a symbolic link in its place that another user made first, in a directory every user may add names to (sticky)',
      arrange: (dataDir, parent) => {
        chmodSync(parent, 0o1777);
        symlinkSync(tempDir('elsewhere'), dataDir);
        lchownSync(dataDir, OTHER_USER, OTHER_USER);
      },
      says: (dataDir, parent) => `${dataDir}, a symbolic link on the way to the data directory ${dataDir}, belongs to user ${OTHER_USER}, neither root nor this user (0), in ${parent}, where every user (mode 1777) may add names: that user may have made it first`,
    },
  ];
  it.skipIf(process.geteuid?.() !== 0).each(strangers)('fail/$name: refused (exit 78), naming it', async ({ arrange, says }) => {
    const parent = join(tempDir('above'), 'parent');
    mkdirSync(parent);
    const dataDir = join(parent, 'meshca');
    arrange(dataDir, parent);

    const start = startTestCa({ 'data-dir': dataDir });
    await expect(start).rejects.toThrow(ConfigError);
    await expect(start).rejects.toThrow(says(dataDir, parent));
  });

  it.skipIf(process.geteuid?.() !== 0)('fail/a data directory still to be made under another user\'s link in a sticky directory: refused (exit 78) before anything is made where the link leads', async () => {
    const { link, leadsTo: elsewhere } = linkInStickyDirectory('link', OTHER_USER);
    const dataDir = join(link, 'a', 'b');

    const start = startTestCa({ 'data-dir': dataDir });
    await expect(start).rejects.toThrow(ConfigError);
    await expect(start).rejects.toThrow(`${link}, a symbolic link on the way to the data directory ${dataDir}, belongs to user ${OTHER_USER}`);
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it.each([
    ['pass/every user may write to it, sticky, as Kubernetes makes a tmpfs emptyDir (3777 with fsGroup)', 0o3777],
    ['pass/every user may write to it, sticky (1777)', 0o1777],
    ['pass/its own group may write to it (fsGroup)', 0o2770],
  ])('%s: the CA starts, and starts again', async (_name, mode) => {
    const dataDir = join(tempDir('loose'), 'data');
    mkdirSync(dataDir);
    chmodSync(dataDir, mode);
    await (await startTestCa({ 'data-dir': dataDir })).close();
    const ca = await startTestCa({ 'data-dir': dataDir });
    expect((await ca.localApp.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});

describe('the CLI and the operator socket', () => {
  it.skipIf(process.geteuid?.() !== 0)('fail/a socket another user made in the data directory is not taken for the CA (exit 1)', async () => {
    const dataDir = tempDir('planted');
    const planted = createServer((c) => c.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'));
    await new Promise<void>((resolve) => planted.listen(join(dataDir, 'meshca.sock'), resolve));
    cleanupLater(() => new Promise<void>((resolve) => planted.close(() => resolve())));
    chownSync(join(dataDir, 'meshca.sock'), OTHER_USER, OTHER_USER);

    const run = await runMeshca(['bundle', '--data-dir', dataDir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`belongs to user ${OTHER_USER}, neither root, the data directory's owner`);
  });

  const cases: Array<{ name: string; loosen: (dataDir: string, parent: string) => void; says: (dataDir: string, parent: string) => string }> = [
    {
      name: 'the data directory every user may write to, no sticky bit: another user could swap their socket for the CA\'s',
      loosen: (dataDir) => chmodSync(dataDir, 0o777),
      says: (dataDir) => `the data directory ${dataDir}: every user (mode 0777, no sticky bit) may rename what is in it, and so put another socket in place of the CA's; chmod go-w it (0700), or set its sticky bit (chmod +t)`,
    },
    {
      name: 'a directory above it every user may write to, no sticky bit: another user could put their own data directory in its place',
      loosen: (_dataDir, parent) => chmodSync(parent, 0o777),
      says: (dataDir, parent) => `${parent} (above the data directory ${dataDir}): every user (mode 0777, no sticky bit) may rename what is in it`,
    },
    {
      name: 'a directory above it another user owns',
      loosen: (_dataDir, parent) => chownSync(parent, OTHER_USER, OTHER_USER),
      says: (dataDir, parent) => `${parent} (above the data directory ${dataDir}) belongs to user ${OTHER_USER}, neither root nor this user (0), who could put another data directory in its place; run this as user ${OTHER_USER}, or choose a data directory elsewhere`,
    },
  ];
  it.skipIf(process.geteuid?.() !== 0).each(cases)('fail/$name: the CLI refuses to talk to it (exit 1), naming the directory', async ({ loosen, says }) => {
    const parent = join(tempDir('above'), 'parent');
    const dataDir = join(parent, 'data');
    mkdirSync(parent);
    await startTestCa({ 'data-dir': dataDir });
    loosen(dataDir, parent);

    const run = await runMeshca(['bundle', '--data-dir', dataDir]);
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 1, stdout: '' });
    expect(run.stderr).toContain(says(dataDir, parent));
  });

  /** Another user's CA, as far as the CLI can tell: their socket, answering every request with their own root, in their own directory. */
  async function theirCa(dir: string): Promise<void> {
    mkdirSync(dir, { mode: 0o700 });
    const socket = join(dir, 'meshca.sock');
    const planted = createServer((c) => c.once('data', () => c.end(`HTTP/1.1 200 OK\r\ncontent-type: application/x-pem-file\r\ncontent-length: ${THEIR_BUNDLE.length}\r\nconnection: close\r\n\r\n${THEIR_BUNDLE}`)));
    await new Promise<void>((resolve) => planted.listen(socket, resolve));
    cleanupLater(() => new Promise<void>((resolve) => planted.close(() => resolve())));
    chmodSync(socket, 0o600);
    chownSync(socket, OTHER_USER, OTHER_USER);
    chownSync(dir, OTHER_USER, OTHER_USER);
  }

  // In a directory every user may add names to (/tmp, or the working directory when --data-dir is left at ./data), another
  // user can make the data directory's name first, before any CA does: its owner is then no CA's user but theirs.
  const madeFirst: Array<{ name: string; plant: (dataDir: string) => Promise<void>; says: (dataDir: string, shared: string) => string }> = [
    {
      name: 'the data directory itself',
      plant: (dataDir) => theirCa(dataDir),
      says: (dataDir, shared) => `the data directory ${dataDir} belongs to user ${OTHER_USER}, neither root nor this user (0), in ${shared}, where every user (mode 1777) may add names: that user may have made it first`,
    },
    {
      name: 'a symbolic link in its place, to a directory of theirs elsewhere',
      plant: async (dataDir) => {
        const theirs = join(tempDir('theirs'), 'ca');
        await theirCa(theirs);
        symlinkSync(theirs, dataDir);
        lchownSync(dataDir, OTHER_USER, OTHER_USER);
      },
      says: (dataDir, shared) => `${dataDir}, a symbolic link on the way to the data directory ${dataDir}, belongs to user ${OTHER_USER}, neither root nor this user (0), in ${shared}, where every user (mode 1777) may add names`,
    },
  ];
  it.skipIf(process.geteuid?.() !== 0).each(madeFirst)('fail/in a directory every user may add names to (sticky, as /tmp), $name, made first by another user: the CLI refuses to talk to it (exit 1)', async ({ plant, says }) => {
    const shared = tempDir('shared');
    chmodSync(shared, 0o1777);
    const dataDir = join(shared, 'data');
    await plant(dataDir);

    const run = await runMeshca(['bundle', '--data-dir', dataDir]);
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 1, stdout: '' });
    expect(run.stderr).toContain(says(dataDir, shared));
  });

  it('pass/under a directory every user may write to with the sticky bit (as /tmp), reached through a symbolic link: the CLI talks to the CA', async () => {
    const parent = join(tempDir('above'), 'parent');
    const dataDir = join(parent, 'data');
    mkdirSync(parent);
    const ca = await startTestCa({ 'data-dir': dataDir });
    chmodSync(parent, 0o1777);
    const link = join(tempDir('link'), 'ca');
    symlinkSync(dataDir, link);

    const run = await runMeshca(['bundle', '--data-dir', link]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(ca.bundlePem);
  });
});
