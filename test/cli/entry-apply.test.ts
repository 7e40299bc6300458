/**
 * `meshca entry apply` against real `meshca server`s: it makes the CA's
 * entries what a file lists, changes nothing the second time, carries one
 * CA's registrations to another through `entry list --json`, changes nothing
 * for --dry-run or a file with a wrong entry, and asks the CA whether it would
 * take every change before making the first.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMeshca, type CliResult } from '../support/cli.js';
import { isRunning, startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';

const TD = 'spiffe://example.org';

interface Listed {
  id: string;
  agent: string;
  spiffeId: string;
  ttl: number | null;
  dns: string[];
}

describe('meshca entry apply', () => {
  const servers: ServerProcess[] = [];
  let dataDir: string;
  let work: string;
  const meshca = (...args: string[]): Promise<CliResult> => runMeshca([...args, '--data-dir', dataDir]);

  async function listed(dir = dataDir): Promise<Listed[]> {
    const res = await runMeshca(['entry', 'list', '--json', '--data-dir', dir]);
    expect(res.code, res.stderr).toBe(0);
    return (JSON.parse(res.stdout) as Listed[]).sort((a, b) => `${a.agent} ${a.spiffeId}`.localeCompare(`${b.agent} ${b.spiffeId}`));
  }
  const fields = (entries: Listed[]) => entries.map(({ agent, spiffeId, ttl, dns }) => ({ agent, spiffeId, ttl, dns }));

  function manifest(name: string, entries: unknown): string {
    const path = join(work, name);
    writeFileSync(path, JSON.stringify(entries));
    return path;
  }

  beforeAll(async () => {
    dataDir = tempDir();
    work = tempDir();
    servers.push(await startServer(['--data-dir', dataDir, '--trust-domain', 'example.org']));
  });

  afterAll(async () => {
    for (const server of servers) {
      expect(await server.stop()).toBe(0);
      expect(isRunning(server.pid)).toBe(false);
    }
  });

  it('creates, updates and (with --prune) deletes to match the file, then finds nothing to do', async () => {
    const stray = await meshca('entry', 'create', '--agent', 'node-1', '--spiffe-id', `${TD}/ns/stray`);
    expect(stray.code, stray.stderr).toBe(0);
    const first = manifest('first.json', [
      { agent: 'node-1', spiffeId: `${TD}/ns/web`, ttl: '30m', dns: ['Web.svc'] },
      { agent: 'node-1', spiffeId: `${TD}/ns/db` },
    ]);
    const created = await meshca('entry', 'apply', first);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('2 created, 0 updated, 0 deleted, 0 unchanged');
    expect(fields(await listed())).toEqual([
      { agent: 'node-1', spiffeId: `${TD}/ns/db`, ttl: null, dns: [] },
      { agent: 'node-1', spiffeId: `${TD}/ns/stray`, ttl: null, dns: [] },
      { agent: 'node-1', spiffeId: `${TD}/ns/web`, ttl: 1800, dns: ['web.svc'] },
    ]);

    const again = await meshca('entry', 'apply', first);
    expect(again.stdout.trim()).toBe('0 created, 0 updated, 0 deleted, 2 unchanged');

    const webId = (await listed()).find((e) => e.spiffeId === `${TD}/ns/web`)!.id;
    const second = manifest('second.json', [
      { agent: 'node-1', spiffeId: `${TD}/ns/web`, ttl: 600, dns: ['web.svc', 'web.shop'] },
      { agent: 'node-1', spiffeId: `${TD}/ns/db` },
    ]);
    const pruned = await meshca('entry', 'apply', second, '--prune');
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toContain(`updated ${webId} node-1 ${TD}/ns/web ttl=1800 -> 600 dns=web.svc -> web.svc,web.shop`);
    expect(pruned.stdout).toContain(`deleted ${stray.stdout.trim()} node-1 ${TD}/ns/stray`);
    expect(pruned.stdout).toContain('0 created, 1 updated, 1 deleted, 1 unchanged');
    const after = await listed();
    expect(fields(after)).toEqual([
      { agent: 'node-1', spiffeId: `${TD}/ns/db`, ttl: null, dns: [] },
      { agent: 'node-1', spiffeId: `${TD}/ns/web`, ttl: 600, dns: ['web.svc', 'web.shop'] },
    ]);
    // Updated in place: agents holding SVIDs for the entry keep its id.
    expect(after.find((e) => e.spiffeId === `${TD}/ns/web`)!.id).toBe(webId);
  });

  it('carries one CA\'s entries to another: `entry list --json` is a manifest', async () => {
    const otherDir = tempDir();
    servers.push(await startServer(['--data-dir', otherDir, '--trust-domain', 'example.org']));
    const exported = await meshca('entry', 'list', '--json');
    const file = join(work, 'exported.json');
    writeFileSync(file, exported.stdout);
    const applied = await runMeshca(['entry', 'apply', file, '--data-dir', otherDir]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(fields(await listed(otherDir))).toEqual(fields(await listed()));
  });

  it('--dry-run prints what would change and changes nothing; --prune reaches only the agents the file names, --prune-all every agent', async () => {
    const before = await listed();
    const file = manifest('dry.json', [{ agent: 'node-5', spiffeId: `${TD}/ns/new` }]);
    const own = await meshca('entry', 'apply', file, '--prune', '--dry-run');
    expect(own.code, own.stderr).toBe(0);
    expect(own.stdout).toContain(`would create node-5 ${TD}/ns/new ttl=default dns=-`);
    expect(own.stdout).toContain('1 would be created, 0 would be updated, 0 would be deleted, 0 unchanged');
    const all = await meshca('entry', 'apply', file, '--prune-all', '--dry-run');
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(new RegExp(`would delete \\S+ node-1 ${TD}/ns/web`));
    expect(all.stdout).toContain('1 would be created, 0 would be updated, 2 would be deleted, 0 unchanged');
    // An update shows each field it changes, old -> new, and only those.
    const web = before.find((e) => e.spiffeId === `${TD}/ns/web`)!;
    const changing = manifest('dry-update.json', [{ agent: 'node-1', spiffeId: `${TD}/ns/web`, ttl: web.ttl, dns: ['other.svc'] }]);
    const update = await meshca('entry', 'apply', changing, '--dry-run');
    expect(update.code, update.stderr).toBe(0);
    expect(update.stdout).toContain(`would update ${web.id} node-1 ${TD}/ns/web dns=${web.dns.join(',')} -> other.svc\n`);
    expect(await listed()).toEqual(before);
  });

  it('refuses a file with a wrong entry before changing anything (exit 78)', async () => {
    const before = await listed();
    const file = manifest('bad.json', [{ agent: 'node-6', spiffeId: `${TD}/ns/fine` }, { agent: 'node-6', spiffeId: `${TD}/ns/bad`, ttl: '5x' }]);
    const res = await meshca('entry', 'apply', file);
    expect(res.code).toBe(78);
    expect(res.stderr).toContain(`${file}: entry [1] ttl: "5x" is not a duration`);
    expect(await listed()).toEqual(before);
  });

  it('asks the CA first: what it would refuse is printed, every one, and nothing changes (exit 1), in a dry run too; applying after the fix makes every change', async () => {
    const before = await listed();
    const entries = [
      { agent: 'node-7', spiffeId: `${TD}/ns/first` },
      { agent: 'node-7', spiffeId: 'spiffe://other.org/ns/foreign' },
      { agent: 'node-7', spiffeId: `${TD}/ns/long`, ttl: '300m' },
    ];
    const file = manifest('refused.json', entries);
    for (const dryRun of [[], ['--dry-run']]) {
      const res = await meshca('entry', 'apply', file, ...dryRun);
      expect(res.code).toBe(1);
      expect(res.stdout).not.toMatch(/^created/m);
      expect(res.stderr).toContain(
        'meshca: creating node-7 spiffe://other.org/ns/foreign: spiffe://other.org/ns/foreign is not in trust domain example.org (foreign_trust_domain, HTTP 400)\n',
      );
      expect(res.stderr).toContain(
        `meshca: creating node-7 ${TD}/ns/long: ttl: 300m is above this CA's maximum certificate lifetime of 4h (its --svid-max-ttl, or MESHCA_SVID_MAX_TTL) (the CA would refuse these 2 changes; nothing was changed) (ttl_exceeds_max, HTTP 400)`,
      );
      expect(await listed()).toEqual(before);
    }
    const fixed = await meshca('entry', 'apply', manifest('fixed.json', [entries[0], { agent: 'node-7', spiffeId: `${TD}/ns/second` }]));
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stdout).toContain('2 created, 0 updated, 0 deleted, 0 unchanged');
  });

  it('reads the file from stdin for -', async () => {
    const res = await runMeshca(['entry', 'apply', '-', '--dry-run', '--data-dir', dataDir], {}, JSON.stringify([{ agent: 'node-8', spiffeId: `${TD}/ns/piped` }]));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`would create node-8 ${TD}/ns/piped`);
  });
});
