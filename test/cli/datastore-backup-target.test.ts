/**
 * Where `meshca datastore backup --to DIR` may build its copy. Run as root, it
 * builds the copy by name beside the target and then hands it to the CA's
 * user; in a directory that user (or anyone but root) can rename entries in,
 * that user could swap the half-built copy for a directory of its own holding
 * a link, and have root hand over what the link points to (/etc/shadow). So
 * such a --to is refused before anything is made; and the hand-over itself
 * never follows a link.
 */
import { chmodSync, chownSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, renameSync, statSync, symlinkSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { backupDataDirectory } from '../../src/cli/data-dir-backup.js';
import { runMeshca } from '../support/cli.js';
import { cleanupLater } from '../support/cleanup.js';
import { startServer } from '../support/server-process.js';
import { linkInStickyDirectory } from '../support/planted-link.js';
import { tempDir } from '../support/temp-dir.js';

const PASSPHRASE = { MESHCA_KEY_PASSPHRASE: 'backup test passphrase' };

/** Runs once, in this process, right after the backup has checked the directories on the way to --to that exist. */
const afterTheCheck: { run?: () => void } = {};
vi.mock('../../src/cli/data-dir-path.js', async (original) => {
  const actual = await original<typeof import('../../src/cli/data-dir-path.js')>();
  return {
    ...actual,
    openToOthers: async (real: string) => {
      const open = await actual.openToOthers(real);
      const run = afterTheCheck.run;
      afterTheCheck.run = undefined;
      run?.();
      return open;
    },
  };
});
const EX_CONFIG = 78;
/** The CA's user (nobody), who owns the data directory and is given the copy. */
const CA_USER = 65534;
const AS_ROOT = process.geteuid?.() === 0;

/** The data directory of a CA that ran once and stopped; run as root, all of it the CA's user's, as a backup by root finds it. */
async function stoppedCa(): Promise<string> {
  const dataDir = tempDir();
  const ca = await startServer(['--data-dir', dataDir], PASSPHRASE);
  expect(await ca.stop()).toBe(0);
  if (AS_ROOT) for (const path of [dataDir, ...readdirSync(dataDir, { recursive: true }).map((p) => join(dataDir, String(p)))]) chownSync(path, CA_USER, CA_USER);
  return dataDir;
}

const backup = (dataDir: string, target: string) => runMeshca(['datastore', 'backup', '--to', target, '--data-dir', dataDir], PASSPHRASE);

/** A file only root may read or change, for a link to lead root's hand-over to. */
function rootsOnlyFile(): string {
  const path = join(tempDir('root-only'), 'shadow');
  writeFileSync(path, 'root:$6$secret:20000::::::\n', { mode: 0o600 });
  return path;
}

/** Runs `act` once, on the half-built copy of `name` made in `dir`, as soon as it appears (inotify, as an attacker watching it would); `seen` names it. */
function onHalfBuiltCopy(dir: string, name: string, act: (partial: string) => void): { readonly seen: string[] } {
  const seen: string[] = [];
  const watcher = watch(dir, (_event, entry) => {
    if (seen.length || !entry?.startsWith(`.${name}.partial-`) || !existsSync(join(dir, entry))) return;
    seen.push(entry);
    act(join(dir, entry));
  });
  cleanupLater(() => watcher.close());
  return { seen };
}

describe('meshca datastore backup --to: where the copy is built', () => {
  it.skipIf(!AS_ROOT)(
    "fail/run as root, a --to in the CA's user's own backups directory is refused (exit 78) before anything is made there: that user could otherwise swap the half-built copy for a directory holding a link to /etc/shadow and have root chown what it points to",
    { timeout: 60_000 },
    async () => {
      const dataDir = await stoppedCa();
      const shadow = rootsOnlyFile();
      const backups = join(tempDir(), 'backups');
      mkdirSync(backups, { mode: 0o755 });
      chownSync(backups, CA_USER, CA_USER);
      // What the CA's user would do in its own directory: move root's half-built copy aside and put its own, with the link, in its place.
      const attack = onHalfBuiltCopy(backups, 'daily', (partial) => {
        renameSync(partial, `${partial}.moved`);
        mkdirSync(partial);
        chmodSync(partial, 0o777);
        chownSync(partial, CA_USER, CA_USER);
        symlinkSync(shadow, join(partial, 'zz'));
        lchownSync(join(partial, 'zz'), CA_USER, CA_USER);
      });

      const res = await backup(dataDir, join(backups, 'daily'));
      const outcome = { code: res.code, stdout: res.stdout, made: readdirSync(backups), swapped: attack.seen, shadowOwner: statSync(shadow).uid };
      expect(outcome).toEqual({ code: EX_CONFIG, stdout: '', made: [], swapped: [], shadowOwner: 0 });
      expect(res.stderr).toContain(`--to ${join(backups, 'daily')}: ${backups} (which is to hold it) belongs to user ${CA_USER}, not root, who runs this backup`);
      expect(res.stderr).toContain(`chown it to root, or run the backup as user ${CA_USER}`);
    },
  );

  const untrusted = [
    {
      name: 'a directory the CA\'s user owns above the one that holds it',
      needsRoot: true,
      arrange: (above: string, parent: string) => {
        chownSync(above, CA_USER, CA_USER);
        return parent;
      },
      says: (above: string) => `${above} (on the way to it) belongs to user ${CA_USER}, not root, who runs this backup`,
    },
    {
      name: 'missing directories to be made under one the CA\'s user owns, none of them made',
      needsRoot: true,
      arrange: (above: string) => {
        chownSync(above, CA_USER, CA_USER);
        return join(above, 'new', 'dirs');
      },
      says: (above: string) => `${above} (on the way to it) belongs to user ${CA_USER}, not root, who runs this backup`,
    },
    {
      name: 'a directory that holds it every user may write to, no sticky bit',
      needsRoot: false,
      arrange: (_above: string, parent: string) => {
        chmodSync(parent, 0o777);
        return parent;
      },
      says: (_above: string, parent: string) => `${parent} (which is to hold it): every user (mode 0777, no sticky bit) may rename what is in it, and so put a directory of their own in place of the half-built copy`,
    },
    {
      name: "a directory that holds it the CA's user's group may write to, no sticky bit",
      needsRoot: true,
      arrange: (_above: string, parent: string) => {
        chownSync(parent, 0, CA_USER);
        chmodSync(parent, 0o775);
        return parent;
      },
      says: (_above: string, parent: string) => `${parent} (which is to hold it): group ${CA_USER} (mode 0775, no sticky bit) may rename what is in it`,
    },
  ];
  for (const { name, needsRoot, arrange, says } of untrusted) {
    it.skipIf(needsRoot && !AS_ROOT)(`fail/${name}: refused with exit 78, naming it and how to fix it, and nothing made`, { timeout: 30_000 }, async () => {
      const dataDir = await stoppedCa();
      const above = join(tempDir(), 'above');
      const parent = join(above, 'backups');
      mkdirSync(parent, { recursive: true, mode: 0o755 });
      chmodSync(above, 0o755);
      const target = join(arrange(above, parent), 'daily');

      const res = await backup(dataDir, target);
      expect({ code: res.code, stdout: res.stdout }).toEqual({ code: EX_CONFIG, stdout: '' });
      expect(res.stderr).toContain(`--to ${target}: ${says(above, parent)}`);
      expect(readdirSync(above)).toEqual(['backups']);
      expect(readdirSync(parent)).toEqual([]);
    });
  }

  it.skipIf(!AS_ROOT)(
    "fail/run as root, a --to through a link the CA's user made in a directory every user may add names to (sticky, as /tmp) is refused (exit 78), and nothing is made where it leads: that user may repoint it at will",
    { timeout: 60_000 },
    async () => {
      const dataDir = await stoppedCa();
      const { link, leadsTo } = linkInStickyDirectory('bk', CA_USER);
      const target = join(link, 'daily');

      const res = await backup(dataDir, target);
      expect({ code: res.code, stdout: res.stdout }).toEqual({ code: EX_CONFIG, stdout: '' });
      expect(res.stderr).toContain(`--to ${target}: ${link}, a symbolic link on the way to the backup directory ${link}, belongs to user ${CA_USER}`);
      expect(readdirSync(leadsTo)).toEqual([]);
    },
  );

  it.skipIf(!AS_ROOT)(
    "fail/run as root, a --to whose missing directory the CA's user makes first, in a directory every user may add names to, is refused (exit 78) rather than built in that user's directory",
    { timeout: 60_000 },
    async () => {
      const dataDir = await stoppedCa();
      const sticky = tempDir('sticky');
      chmodSync(sticky, 0o1777);
      const missing = join(sticky, 'bk');
      // As the CA's user racing the backup would: the name appears once root has checked the directories that exist.
      afterTheCheck.run = () => {
        mkdirSync(missing, { mode: 0o777 });
        chownSync(missing, CA_USER, CA_USER);
      };
      const target = join(missing, 'daily');

      const outcome = await backupDataDirectory(dataDir, target, PASSPHRASE.MESHCA_KEY_PASSPHRASE).then(() => 'made', (err: Error) => `${err.name}: ${err.message}`);
      expect(outcome).toMatch(new RegExp(`^ConfigError: [^]*--to ${target}: the backup directory ${missing} belongs to user ${CA_USER}, neither root nor this user \\(0\\), in ${sticky}, where every user \\(mode 1777\\) may add names`));
      expect(readdirSync(missing)).toEqual([]);
    },
  );

  it.skipIf(!AS_ROOT)(
    "fail/run as root, handing the copy to the CA's user changes a link in it, never what the link points to",
    { timeout: 60_000 },
    async () => {
      const dataDir = await stoppedCa();
      const shadow = rootsOnlyFile();
      const backups = tempDir();
      // Only root can write in root's half-built copy; a link there stands for anything that ever got one in.
      const planted = onHalfBuiltCopy(backups, 'daily', (partial) => symlinkSync(shadow, join(partial, 'zz')));

      const res = await backup(dataDir, join(backups, 'daily'));
      const link = lstatSync(join(backups, 'daily', 'zz'));
      const outcome = { code: res.code, planted: planted.seen.length, link: link.isSymbolicLink(), linkOwner: link.uid, shadowOwner: statSync(shadow).uid };
      expect(outcome, res.stderr).toEqual({ code: 0, planted: 1, link: true, linkOwner: CA_USER, shadowOwner: 0 });
    },
  );
});
