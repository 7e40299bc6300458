/** Telling whether --out still holds what the agent published there, by stat alone. */
import { chmodSync, mkdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InstalledFiles } from '../../src/agent/installed-files.js';
import { AtomicDirectoryPublisher, type PublishedFile } from '../../src/agent/installer.js';
import { tempDir } from '../support/temp-dir.js';

const FILES: PublishedFile[] = [
  { name: 'svid.pem', data: 'the chain', mode: 0o644 },
  { name: 'svid_key.pem', data: 'the key', mode: 0o600 },
  { name: 'bundle.pem', data: 'the bundle', mode: 0o644 },
  { name: 'crl.pem', data: 'the CRL', mode: 0o644 },
];

/** --out as the agent leaves it, the version published, and the check that remembers it. */
async function published() {
  const out = join(tempDir(), 'out');
  const publisher = new AtomicDirectoryPublisher(out, { nowMs: () => Date.now() });
  const version = await publisher.publish(FILES);
  const installed = new InstalledFiles(out);
  await installed.remember(version, FILES.map((f) => f.name));
  return { out, version, installed };
}

describe('InstalledFiles.check', () => {
  it.each<{ what: string; change: (out: string, version: string) => void; says: string[] }>([
    { what: 'an untouched installation', change: () => undefined, says: [] },
    { what: 'the SVID link removed (rm svid.pem)', change: (out) => rmSync(join(out, 'svid.pem')), says: ['svid.pem is missing from --out'] },
    { what: "the key removed from the version's directory", change: (out, v) => rmSync(join(out, v, 'svid_key.pem')), says: ['svid_key.pem is missing from --out'] },
    {
      what: 'two files removed',
      change: (out) => ['bundle.pem', 'crl.pem'].forEach((n) => rmSync(join(out, n))),
      says: ['bundle.pem is missing from --out', 'crl.pem is missing from --out'],
    },
    { what: 'the key link replaced by a plain file (mv other svid_key.pem)', change: (out) => writeNew(out, 'svid_key.pem', 'another key'), says: ['svid_key.pem in --out was replaced by another file'] },
    { what: 'the key link replaced by a plain copy of the same bytes', change: (out) => writeNew(out, 'svid_key.pem', 'the key'), says: ['svid_key.pem in --out was replaced by another file'] },
    { what: 'the key link pointed at a file elsewhere', change: (out) => relink(out, 'svid_key.pem', join(out, '..', 'elsewhere.pem')), says: ['svid_key.pem in --out was replaced by another file'] },
    { what: 'the CRL rewritten in place, through its link (cp other crl.pem)', change: (out) => writeFileSync(join(out, 'crl.pem'), 'another CRL, longer'), says: ['crl.pem in --out was rewritten'] },
    {
      what: 'the CRL rewritten in place with as many bytes',
      change: (out) => {
        writeFileSync(join(out, 'crl.pem'), 'THE CRL');
        utimesSync(join(out, 'crl.pem'), new Date(), new Date(Date.now() + 5_000));
      },
      says: ['crl.pem in --out was rewritten'],
    },
    { what: 'the key made readable by all', change: (out) => chmodSync(join(out, 'svid_key.pem'), 0o644), says: ['svid_key.pem in --out had its mode changed to 0644'] },
    { what: 'the chain made unreadable to others', change: (out) => chmodSync(join(out, 'svid.pem'), 0o640), says: ['svid.pem in --out had its mode changed to 0640'] },
    { what: "the key made readable by the proxy's group (as some reload commands do)", change: (out) => chmodSync(join(out, 'svid_key.pem'), 0o640), says: [] },
    {
      what: '..data pointed at another directory',
      change: (out) => {
        mkdirSync(join(out, '..other'));
        for (const f of FILES) writeFileSync(join(out, '..other', f.name), f.data);
        relink(out, '..data', '..other');
      },
      says: ['..data in --out points at ..other, not at the version the agent published (VERSION)'],
    },
    { what: '..data removed', change: (out) => rmSync(join(out, '..data')), says: ['..data is missing from --out'] },
    { what: '--out removed altogether', change: (out) => rmSync(out, { recursive: true }), says: ['--out OUT is missing'] },
  ])('$what: $says', async ({ change, says }) => {
    const { out, version, installed } = await published();
    change(out, version);
    expect(await installed.check()).toEqual(says.map((s) => s.replace('VERSION', version).replace('OUT', out)));
  });

  it('says nothing before anything was published, and nothing once the same files are published again', async () => {
    const out = join(tempDir(), 'out');
    const installed = new InstalledFiles(out);
    expect(await installed.check()).toEqual([]);

    const publisher = new AtomicDirectoryPublisher(out, { nowMs: () => Date.now() });
    await installed.remember(await publisher.publish(FILES), FILES.map((f) => f.name));
    rmSync(join(out, 'svid.pem'));
    expect(await installed.check()).toEqual(['svid.pem is missing from --out']);
    await installed.remember(await publisher.publish(FILES), FILES.map((f) => f.name));
    expect(await installed.check()).toEqual([]);
  });
  it('finds nothing while a publication is under way, nor in a check it overlapped: --out is then between two versions, which is no loss', async () => {
    const { out, installed } = await published();
    const publisher = new AtomicDirectoryPublisher(out, { nowMs: () => Date.now() });
    const names = FILES.map((f) => f.name);
    rmSync(join(out, 'svid.pem'));
    // Begun before the publication, which puts svid.pem back: what it would find is about the version replaced.
    const overlapped = installed.check();
    await installed.publishing(async () => {
      const version = await publisher.publish(FILES);
      // ..data is swapped, the new version not yet remembered.
      expect(await installed.check()).toEqual([]);
      await installed.remember(version, names);
    });
    expect({ overlapped: await overlapped, after: await installed.check() }).toEqual({ overlapped: [], after: [] });
  });
});

/** `name` in `dir` replaced, as mv does, by a new plain file holding `data`. */
function writeNew(dir: string, name: string, data: string): void {
  writeFileSync(join(dir, `${name}.new`), data, { mode: 0o600 });
  renameSync(join(dir, `${name}.new`), join(dir, name));
}

/** `name` in `dir` replaced by a link to `target` (made when it is a path of a file that does not exist). */
function relink(dir: string, name: string, target: string): void {
  if (target.startsWith('/')) writeFileSync(target, 'the key');
  symlinkSync(target, join(dir, `${name}.new`));
  renameSync(join(dir, `${name}.new`), join(dir, name));
}
