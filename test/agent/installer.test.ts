/**
 * Cleaning up old versions (immediately past the retention, never the current
 * or previous one) and those of failed publications, reading the current one
 * back, and doing both in an --out that others (a proxy) may write to as well.
 */
import { execFileSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AtomicDirectoryPublisher, RETAIN_MS, type PublishedFile } from '../../src/agent/installer.js';
import { tempDir } from '../support/temp-dir.js';

const versions = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('..') && n !== '..data').sort();
const files = (n: number) => [{ name: 'svid.pem', data: `version ${n}`, mode: 0o644 }];

describe('AtomicDirectoryPublisher cleanup', () => {
  it.each<[string, number]>([
    ['the first four are now past the retention', RETAIN_MS + 1000],
    // Dated after the clock, they would otherwise keep their keys until it caught up.
    ['fail/the first four were made before time sync set back by an hour a clock that ran ahead', -3_600_000],
  ])('keeps recent versions for readers, and removes older ones except the previous (%s)', async (_case, offsetMs) => {
    const dir = tempDir();
    let offset = 0;
    const publisher = new AtomicDirectoryPublisher(dir, { nowMs: () => Date.now() + offset });
    const published: string[] = [];
    for (let i = 0; i < 4; i++) published.push(await publisher.publish([...files(i), { name: 'svid_key.pem', data: `key ${i}`, mode: 0o600 }]));
    expect(versions(dir)).toEqual([...published].sort());
    offset = offsetMs;
    const latest = await publisher.publish(files(4));
    expect(versions(dir)).toEqual([published[3]!, latest].sort());
    expect(readlinkSync(join(dir, '..data'))).toBe(latest);
  });
});

describe('AtomicDirectoryPublisher after a failed publication', () => {
  it.each<[string, string, (dir: string) => void]>([
    // The swap fails: a directory, not empty, where the key's stable link must go.
    ['a stable name taken by a directory', 'svid_key.pem', (dir) => {
      mkdirSync(join(dir, 'svid_key.pem'));
      writeFileSync(join(dir, 'svid_key.pem', 'notes'), 'kept');
    }],
    // Writing the version fails: a name longer than the file system takes.
    ['a file it cannot write', 'k'.repeat(300), () => undefined],
  ])('leaves no version of its own behind, nor its key (%s)', async (_case, keyName, breakOut) => {
    const dir = tempDir();
    const publisher = new AtomicDirectoryPublisher(dir, { nowMs: () => Date.now() });
    const good = await publisher.publish(files(1));
    breakOut(dir);
    const next = [...files(2), { name: keyName, data: 'key 2', mode: 0o600 }];
    for (let attempt = 0; attempt < 3; attempt++) await expect(publisher.publish(next)).rejects.toThrow();
    expect(versions(dir)).toEqual([good]);
    expect(readlinkSync(join(dir, '..data'))).toBe(good);
  });

  it('fail/removes at once, when a restarted agent reads what is installed, a version written after ..data was last swapped (a run killed before its swap, restarted within the retention): never current, it holds a key nobody reads', async () => {
    const dir = tempDir();
    const publisher = new AtomicDirectoryPublisher(dir, { nowMs: () => Date.now() });
    const previous = await publisher.publish(files(1));
    const current = await publisher.publish(files(2));
    const orphan = `..${new Date(Date.now() + 1000).toISOString().replace(/[-:.]/g, '_')}_abcdef`;
    mkdirSync(join(dir, orphan));
    writeFileSync(join(dir, orphan, 'svid_key.pem'), 'key 3', { mode: 0o600 });
    expect(await publisher.currentFiles()).toEqual(files(2));
    expect(versions(dir)).toEqual([previous, current].sort());
  });

  it('removes, when a restarted agent reads what is installed, versions an older build left behind past the retention, but not the one the current version superseded', async () => {
    const dir = tempDir();
    let offset = 0;
    const publisher = new AtomicDirectoryPublisher(dir, { nowMs: () => Date.now() + offset });
    const stray = '..2026_01_01T00_00_00_000Z_abcdef';
    mkdirSync(join(dir, stray));
    writeFileSync(join(dir, stray, 'svid_key.pem'), 'a key', { mode: 0o600 });
    const previous = await publisher.publish(files(1));
    const current = await publisher.publish(files(2));
    offset = RETAIN_MS + 1000;
    expect(await new AtomicDirectoryPublisher(dir, { nowMs: () => Date.now() + offset }).currentFiles()).toEqual(files(2));
    expect(versions(dir)).toEqual([previous, current].sort());
  });
});

describe('AtomicDirectoryPublisher with ..data a directory, not its link (copied there by a tool following links)', () => {
  it.each<[string, { subdirectory?: true; otherUser?: true; plainNames?: true }, boolean]>([
    ['holding files, this user\'s: removed once the link is in place', {}, false],
    ['beside plain files under the stable names too (what the copy left): adopted, then removed', { plainNames: true }, false],
    ['holding a directory: kept aside', { subdirectory: true }, true],
    ["another user's: kept aside", { otherUser: true }, true],
  ])('publishes through a link again, the directory %s', async (_case, o, kept) => {
    const out = join(tempDir(), 'out');
    const clock = { nowMs: () => Date.now() };
    await new AtomicDirectoryPublisher(out, clock).publish(files(1));
    // What `cp -rL` of --out leaves: ..data a directory of copies, the stable names still links into it.
    execFileSync('rm', ['-r', join(out, '..data')]);
    mkdirSync(join(out, '..data'));
    writeFileSync(join(out, '..data', 'svid.pem'), 'a copy');
    if (o.subdirectory) mkdirSync(join(out, '..data', 'nested'));
    if (o.plainNames) {
      execFileSync('rm', [join(out, 'svid.pem')]);
      writeFileSync(join(out, 'svid.pem'), 'a plain copy');
    }
    const publisher = new AtomicDirectoryPublisher(out, clock, o.otherUser ? { user: lstatSync(out).uid + 1 } : {});
    expect(await publisher.currentFiles()).toBeUndefined();
    for (const n of [2, 3]) {
      const version = await publisher.publish(files(n));
      expect(readlinkSync(join(out, '..data'))).toBe(version);
      expect(readFileSync(join(out, 'svid.pem'), 'utf8')).toBe(`version ${n}`);
    }
    const aside = readdirSync(out).filter((name) => name.startsWith('..data.aside_'));
    expect(aside).toHaveLength(kept ? 1 : 0);
    if (kept) expect(readFileSync(join(out, aside[0]!, 'svid.pem'), 'utf8')).toBe('a copy');
  });
});

// Docker makes an empty directory for a bind mount whose source is missing: OUT/svid.pem mounted into a proxy's
// container before the agent first wrote it. rename(2) cannot put the link in its place (EISDIR).
describe('AtomicDirectoryPublisher with a directory under a stable name', () => {
  const refusal = (path: string, name: string, why: string) =>
    `${path} is a directory, where the link ${name} -> ..data/${name} goes, and ${why}: only an empty one is removed. ` +
    `Move it out of the directory, whose stable names are meshca's alone; a container should mount the directory rather than each file in it`;

  it.each<[string, boolean]>([
    ['before the first publication', false],
    ['after one, in place of its link', true],
  ])('removes an empty one, says so, and publishes through the link (%s)', async (_case, publishedBefore) => {
    const out = join(tempDir(), 'out');
    const removed: string[] = [];
    const publisher = new AtomicDirectoryPublisher(out, { nowMs: () => Date.now() }, { removedEmptyDirectory: (path) => removed.push(path) });
    if (publishedBefore) {
      await publisher.publish(files(1));
      execFileSync('rm', [join(out, 'svid.pem')]);
    }
    mkdirSync(join(out, 'svid.pem'), { recursive: true });
    await publisher.publish(files(2));
    expect({ link: readlinkSync(join(out, 'svid.pem')), data: readFileSync(join(out, 'svid.pem'), 'utf8'), removed }).toEqual({
      link: '..data/svid.pem',
      data: 'version 2',
      removed: [join(out, 'svid.pem')],
    });
  });

  it('removes an empty one when a restarted agent reads what is installed, and gives the files', async () => {
    const out = join(tempDir(), 'out');
    await new AtomicDirectoryPublisher(out, { nowMs: () => Date.now() }).publish(files(1));
    execFileSync('rm', [join(out, 'svid.pem')]);
    mkdirSync(join(out, 'svid.pem'));
    expect(await new AtomicDirectoryPublisher(out, { nowMs: () => Date.now() }).currentFiles()).toEqual(files(1));
    expect(readlinkSync(join(out, 'svid.pem'))).toBe('..data/svid.pem');
  });

  it.each<[string, (dir: string) => void]>([
    ['fail/holding a file', (dir) => writeFileSync(join(dir, 'notes'), 'kept')],
    ['fail/holding an empty directory', (dir) => mkdirSync(join(dir, 'nested'))],
  ])('refuses one that is not empty, naming it and what to do, and leaves it and the installed version as they were (%s)', async (_case, fill) => {
    const out = join(tempDir(), 'out');
    const removed: string[] = [];
    const publisher = new AtomicDirectoryPublisher(out, { nowMs: () => Date.now() }, { removedEmptyDirectory: (path) => removed.push(path) });
    const installed = await publisher.publish(files(1));
    execFileSync('rm', [join(out, 'svid.pem')]);
    mkdirSync(join(out, 'svid.pem'));
    fill(join(out, 'svid.pem'));
    const before = readdirSync(join(out, 'svid.pem')).sort();
    await expect(publisher.publish(files(2))).rejects.toThrow(refusal(join(out, 'svid.pem'), 'svid.pem', 'it is not empty'));
    expect({ kept: readdirSync(join(out, 'svid.pem')).sort(), versions: versions(out), data: readlinkSync(join(out, '..data')), removed }).toEqual({
      kept: before,
      versions: [installed],
      data: installed,
      removed: [],
    });
  });
});

describe('AtomicDirectoryPublisher reading back what is installed', () => {
  it('gives the files of the version ..data points at, with their modes, as they were published', async () => {
    const dir = tempDir();
    const publisher = new AtomicDirectoryPublisher(dir, { nowMs: () => Date.now() });
    await publisher.publish(files(1));
    const latest = [...files(2), { name: 'svid_key.pem', data: 'key 2', mode: 0o600 }];
    await publisher.publish(latest);
    const byName = (list: readonly PublishedFile[]) => [...list].sort((a, b) => a.name.localeCompare(b.name));
    expect(byName((await publisher.currentFiles())!)).toEqual(byName(latest));
  });

  it('gives nothing before the first publication', async () => {
    expect(await new AtomicDirectoryPublisher(join(tempDir(), 'out'), { nowMs: () => Date.now() }).currentFiles()).toBeUndefined();
  });
});

describe('AtomicDirectoryPublisher in an --out others can write to', () => {
  /** --out after one publication, beside a secret file (another key, say) outside it. */
  async function installed(): Promise<{ dir: string; out: string; secret: string; publisher: AtomicDirectoryPublisher }> {
    const dir = tempDir();
    const out = join(dir, 'out');
    const secret = join(dir, 'agent_credential.pem');
    writeFileSync(secret, 'SECRET KEY', { mode: 0o600 });
    const publisher = new AtomicDirectoryPublisher(out, { nowMs: () => Date.now() });
    await publisher.publish(files(1));
    return { dir, out, secret, publisher };
  }

  /** Points ..data at `target` the way the swap does, by renaming a link over it. */
  function pointData(out: string, target: string): void {
    symlinkSync(target, join(out, '.planted'));
    renameSync(join(out, '.planted'), join(out, '..data'));
  }

  it.each([
    {
      name: '..data pointing outside --out, at links to a secret',
      plant: (out: string, dir: string, secret: string) => {
        mkdirSync(join(dir, 'evil'));
        symlinkSync(secret, join(dir, 'evil', 'svid.pem'));
        pointData(out, '../evil');
      },
    },
    {
      name: 'a version whose file is a link to a secret',
      plant: (out: string, _dir: string, secret: string) => {
        const version = '..2026_11_26T21_00_00_000Z_abcdef';
        mkdirSync(join(out, version));
        symlinkSync(secret, join(out, version, 'svid.pem'));
        pointData(out, version);
      },
    },
    {
      name: 'a version-named link to a directory holding the secret',
      plant: (out: string, dir: string, secret: string) => {
        const version = '..2020_01_01T00_00_00_000Z_abcdef';
        mkdirSync(join(dir, 'private'));
        symlinkSync(secret, join(dir, 'private', 'svid.pem'));
        renameSync(secret, join(dir, 'private', 'crl.pem'));
        symlinkSync(join(dir, 'private'), join(out, version));
        pointData(out, version);
      },
    },
    {
      name: 'a version whose file is a FIFO',
      plant: (out: string) => {
        const version = '..2026_11_26T21_00_00_000Z_fedcba';
        mkdirSync(join(out, version));
        execFileSync('mkfifo', [join(out, version, 'svid.pem')]);
        pointData(out, version);
      },
    },
  ])('fail/$name: nothing is read back, and publishing again carries no secret', async ({ plant }) => {
    const { dir, out, secret, publisher } = await installed();
    plant(out, dir, secret);
    expect(await publisher.currentFiles()).toBeUndefined();
    await publisher.publish(files(2));
    expect((await publisher.currentFiles())!.map((f) => f.data)).toEqual(['version 2']);
  });

  it('fail/a layout link read through a version-named link to a private directory is not adopted', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const secretDir = join(dir, 'secret');
    mkdirSync(out);
    mkdirSync(secretDir, { mode: 0o700 });
    writeFileSync(join(secretDir, 'crl.pem'), 'SECRET KEY', { mode: 0o600 });
    const version = '..2020_01_01T00_00_00_000Z_abcdef';
    symlinkSync(secretDir, join(out, version));
    pointData(out, version);
    writeFileSync(join(out, 'svid.pem'), 'an earlier plain SVID');
    symlinkSync(join('..data', 'crl.pem'), join(out, 'crl.pem'));
    const publisher = new AtomicDirectoryPublisher(out, { nowMs: () => Date.now() });
    await publisher.publish([...files(1), { name: 'crl.pem', data: 'crl 1', mode: 0o644 }]);
    for (const v of versions(out).filter((name) => name !== version)) {
      for (const name of readdirSync(join(out, v))) expect(readFileSync(join(out, v, name), 'utf8')).not.toBe('SECRET KEY');
    }
  });

  it('fail/an --out that is a link (to a directory elsewhere) is refused, and nothing lands where it points', async () => {
    const dir = tempDir();
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(dir, 'out'));
    const publisher = new AtomicDirectoryPublisher(join(dir, 'out'), { nowMs: () => Date.now() });
    await expect(publisher.publish(files(1))).rejects.toThrow(/is a symbolic link; give the directory itself/);
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it.each([
    {
      name: 'a file with a second name elsewhere (a hard link) is not adopted',
      plant: (out: string, secret: string) => linkSync(secret, join(out, 'crl.pem')),
      adopted: undefined,
    },
    {
      name: 'a 0600 file moved in keeps 0600 in its copy, however wide the name it is adopted under',
      plant: (out: string, secret: string) => renameSync(secret, join(out, 'crl.pem')),
      adopted: 0o600,
    },
  ])('fail/$name', async ({ plant, adopted }) => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const secret = join(dir, 'secret.pem');
    mkdirSync(out);
    writeFileSync(secret, 'SECRET', { mode: 0o600 });
    writeFileSync(join(out, 'svid.pem'), 'an earlier plain SVID');
    plant(out, secret);
    const publisher = new AtomicDirectoryPublisher(out, { nowMs: () => Date.now() });
    await publisher.publish([...files(1), { name: 'crl.pem', data: 'crl 1', mode: 0o644 }]);
    const copies = versions(out).flatMap((v) => readdirSync(join(out, v)).map((name) => join(out, v, name))).filter((p) => readFileSync(p, 'utf8') === 'SECRET');
    expect(copies.map((p) => statSync(p).mode & 0o777)).toEqual(adopted === undefined ? [] : [adopted]);
  });

  it('fail/a plain file under a stable name that is a link elsewhere is not adopted', async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    const secret = join(dir, 'agent_credential.pem');
    writeFileSync(secret, 'SECRET KEY', { mode: 0o600 });
    mkdirSync(out);
    writeFileSync(join(out, 'svid.pem'), 'an earlier plain SVID');
    symlinkSync(secret, join(out, 'svid_key.pem'));
    const publisher = new AtomicDirectoryPublisher(out, { nowMs: () => Date.now() });
    await publisher.publish([...files(1), { name: 'svid_key.pem', data: 'key 1', mode: 0o600 }]);
    for (const version of versions(out)) {
      for (const name of readdirSync(join(out, version))) expect(readFileSync(join(out, version, name), 'utf8')).not.toBe('SECRET KEY');
    }
  });

  it.each([
    { name: 'a directory not named as a version', make: (out: string) => mkdirSync(join(out, '..1999_old')) },
    { name: 'a link named as a version', make: (out: string, dir: string) => symlinkSync(join(dir, 'victim'), join(out, '..1999_01_01T00_00_00_000Z_000000')) },
  ])('fail/$name, however old, is not removed, and nothing it leads to', async ({ make }) => {
    const dir = tempDir();
    const out = join(dir, 'out');
    mkdirSync(join(dir, 'victim'));
    writeFileSync(join(dir, 'victim', 'precious.txt'), 'keep me');
    let offset = 0;
    const publisher = new AtomicDirectoryPublisher(out, { nowMs: () => Date.now() + offset });
    await publisher.publish(files(1));
    make(out, dir);
    offset = RETAIN_MS + 1000;
    await publisher.publish(files(2));
    await publisher.publish(files(3));
    expect(readdirSync(out)).toContain(readdirSync(out).find((n) => n === '..1999_old' || n.startsWith('..1999_01')));
    expect(readFileSync(join(dir, 'victim', 'precious.txt'), 'utf8')).toBe('keep me');
  });

  it("fail/a version-named directory owned by another user is not removed", async () => {
    const dir = tempDir();
    const out = join(dir, 'out');
    let offset = 0;
    const clock = { nowMs: () => Date.now() + offset };
    const first = await new AtomicDirectoryPublisher(out, clock).publish(files(1));
    // The same directory seen by a publisher running as another user: first is not its to remove.
    const other = new AtomicDirectoryPublisher(out, clock, { user: lstatSync(join(out, first)).uid + 1 });
    offset = RETAIN_MS + 1000;
    await other.publish(files(2));
    await other.publish(files(3));
    expect(versions(out)).toContain(first);
  });
});
