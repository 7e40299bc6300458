/**
 * A publication into --out whose disk fills up (ENOSPC) or turns read-only
 * (EROFS) at any step: the proxy must go on reading the set installed before,
 * whole and with its own key, nothing the failed publication wrote may stay
 * behind (a copy of the new key among it), and once the disk takes writes
 * again the next publication must succeed and leave --out tidy.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { AtomicDirectoryPublisher, isVersionName, RETAIN_MS, SwapNotDurableError, type PublishedFile } from '../../src/agent/installer.js';
import { accept, failDirectorySyncsFrom, refuseFrom, type Refusal } from '../support/refusing-fs.js';
import { tempDir } from '../support/temp-dir.js';

vi.mock('node:fs/promises', async (real) => (await import('../support/refusing-fs.js')).refusingFs(await real<object>()));

const version = (n: number, extra: readonly string[] = []): PublishedFile[] =>
  ['svid.pem', 'svid_key.pem', 'bundle.pem', ...extra].map((name) => ({ name, data: `${name} of version ${n}`.repeat(50), mode: name === 'svid_key.pem' ? 0o600 : 0o644 }));

const versions = (dir: string) => readdirSync(dir).filter(isVersionName).sort();

/** What the proxy reads under the stable names, unless every one reads that file of `files` (with its mode). */
function proxyReadsOtherThan(dir: string, files: readonly PublishedFile[]): string[] {
  return files.flatMap((f) => {
    const path = join(dir, f.name);
    try {
      const data = readFileSync(path, 'utf8');
      if (data !== f.data) return [`${f.name} reads ${JSON.stringify(data.slice(0, 30))}…, not ${JSON.stringify(f.data.slice(0, 30))}…`];
      const mode = statSync(path).mode & 0o777;
      return mode === f.mode ? [] : [`${f.name} is ${mode.toString(8)}, not ${f.mode.toString(8)}`];
    } catch (err) {
      return [`${f.name}: ${(err as NodeJS.ErrnoException).code}`];
    }
  });
}

/** Stable names of the new publication that the installed set lacks: there, they must read nothing, not a file of their own. */
function strayFiles(dir: string, names: readonly string[]): string[] {
  return names.flatMap((name) => (existsSync(join(dir, name)) && !lstatSync(join(dir, name)).isSymbolicLink() ? [`${name} is a file of its own`] : []));
}

const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.tmp')).map((n) => `left ${n}`);

describe.each<Refusal>(['ENOSPC', 'EROFS'])('a publication into --out whose disk refuses (%s) from any step on', (kind) => {
  it('leaves the set installed before for the proxy, and the next publication once the disk takes writes again succeeds and tidies --out', async () => {
    const problems: string[] = [];
    for (let steps = 0; ; steps++) {
      accept();
      const dir = join(tempDir(), 'out');
      let now = Date.now();
      const publisher = new AtomicDirectoryPublisher(dir, { nowMs: () => now });
      const before = version(1);
      const installed = await publisher.publish(before);
      const next = version(2, ['crl.pem']);
      refuseFrom(steps, kind);
      const outcome = await publisher.publish(next).then(() => 'published' as const, (err: NodeJS.ErrnoException) => err);
      accept();
      const point = `${kind} after ${steps} steps`;
      if (outcome === 'published') {
        problems.push(...proxyReadsOtherThan(dir, next).map((p) => `${point}, published anyway: ${p}`));
        break;
      }
      const failed = [
        ...(outcome.code === kind ? [] : [`failed with ${outcome.code ?? outcome.message}, not ${kind}`]),
        ...(readlinkSync(join(dir, '..data')) === installed ? [] : ['..data no longer points at the installed version']),
        ...proxyReadsOtherThan(dir, before),
        ...strayFiles(dir, ['crl.pem']),
        // A full disk still removes: what the failed publication began (a copy of the new key among it) must not stay.
        // A read-only one refuses that too: the next publication removes it.
        ...(kind === 'ENOSPC' ? leftovers(dir) : []),
        ...(kind === 'ENOSPC' && versions(dir).join() !== installed ? [`versions left: ${versions(dir).join(', ')}`] : []),
      ];
      now += RETAIN_MS + 1000;
      const recovered = await publisher.publish(version(3)).then(() => [], (err: Error) => [`the next publication failed: ${err.message}`]);
      const after = [...recovered, ...proxyReadsOtherThan(dir, version(3)), ...leftovers(dir), ...(versions(dir).length > 2 ? [`versions left after recovery: ${versions(dir).join(', ')}`] : [])];
      problems.push(...failed.map((p) => `${point}: ${p}`), ...after.map((p) => `${point}, then: ${p}`));
    }
    expect(problems).toEqual([]);
  });
});

describe('an agent restarted while --out is still read-only', () => {
  it('fail/finds the set installed before, which the proxy still serves, when a failed publication left temporary links it cannot remove, rather than nothing (not ready, and an SVID asked for that cannot be installed)', async () => {
    const dir = join(tempDir(), 'out');
    const publisher = new AtomicDirectoryPublisher(dir, { nowMs: () => Date.now() });
    await publisher.publish(version(1));
    // Read-only from the step that leaves ...data's temporary link behind (see above), and still so at the restart.
    let steps = 0;
    for (; leftovers(dir).length === 0; steps++) {
      refuseFrom(steps, 'EROFS');
      await publisher.publish(version(2)).catch(() => undefined);
      accept();
    }
    refuseFrom(0, 'EROFS');
    const found = await new AtomicDirectoryPublisher(dir, { nowMs: () => Date.now() }).currentFiles().catch((err: Error) => err.message);
    accept();
    expect(found).toEqual(byName(version(1)));
  });

  it('fail/finds the set installed before when a stable name it would make again is missing (the watch on --out then reports it)', async () => {
    const dir = join(tempDir(), 'out');
    await new AtomicDirectoryPublisher(dir, { nowMs: () => Date.now() }).publish(version(1));
    unlinkSync(join(dir, 'bundle.pem'));
    refuseFrom(0, 'EROFS');
    const found = await new AtomicDirectoryPublisher(dir, { nowMs: () => Date.now() }).currentFiles().catch((err: Error) => err.message);
    accept();
    expect({ found, bundle: existsSync(join(dir, 'bundle.pem')) }).toEqual({ found: byName(version(1)), bundle: false });
  });
});

/** In name order, as a version is read back. */
function byName(files: readonly PublishedFile[]): PublishedFile[] {
  return [...files].sort((a, b) => (a.name < b.name ? -1 : 1));
}

describe('a publication into --out whose directory fsyncs fail (EIO) from any one on', () => {
  it('fails as not made while ..data points at the set installed before, and as made but not durable (naming the new version) once ..data points at the new one', async () => {
    const problems: string[] = [];
    for (let syncs = 0; ; syncs++) {
      accept();
      const dir = join(tempDir(), 'out');
      const publisher = new AtomicDirectoryPublisher(dir, { nowMs: () => Date.now() });
      const before = version(1);
      const installed = await publisher.publish(before);
      const next = version(2);
      failDirectorySyncsFrom(syncs);
      const outcome = await publisher.publish(next).then(() => 'published' as const, (err: Error) => err);
      accept();
      const current = readlinkSync(join(dir, '..data'));
      const point = `EIO after ${syncs} directory syncs`;
      if (outcome === 'published') {
        problems.push(...proxyReadsOtherThan(dir, next).map((p) => `${point}, published: ${p}`));
        break;
      }
      if (outcome instanceof SwapNotDurableError) {
        problems.push(
          ...(outcome.version === current ? [] : [`${point}: not durable, naming ${outcome.version}, but ..data points at ${current}`]),
          ...proxyReadsOtherThan(dir, next).map((p) => `${point}, not durable: ${p}`),
          // A crash now may bring the previous ..data back: its version must still be there.
          ...(versions(dir).includes(installed) ? [] : [`${point}: not durable, and the version installed before is gone`]),
        );
      } else if (current !== installed) {
        problems.push(`${point}: failed with ${outcome.message}, though ..data points at the new version ${current}`);
      } else {
        problems.push(...proxyReadsOtherThan(dir, before).map((p) => `${point}, failed: ${p}`));
      }
    }
    expect(problems).toEqual([]);
  });
});
