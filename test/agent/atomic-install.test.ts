/**
 * The install contract: cert, key and bundle are published as one unit. A
 * reader that resolves OUT/..data once (as Envoy's watched_directory and
 * Kubernetes projected volumes do), or reads combined.pem in one read, never
 * sees a key that is not its certificate's, nor a partial file, however fast
 * the versions change; a proxy opening the stable names (OUT/svid.pem...)
 * never finds one missing, nor ..data, once the first version is out; and old
 * versions do not pile up.
 */
import { lstatSync, mkdirSync, readdirSync, readlinkSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AtomicDirectoryPublisher, RETAIN_MS, type PublishedFile } from '../../src/agent/installer.js';
import { systemClock } from '../../src/time/clock.js';
import { agentArgs, installedVersion, startAgent } from '../support/agent-process.js';
import { svidCheck } from '../support/conformance.js';
import { startConsistencyReader, type ReaderReport } from '../support/consistency-reader.js';
import { mintSvid, type Credential } from '../support/svids.js';
import { startTestCa } from '../support/test-ca.js';
import { tempDir } from '../support/temp-dir.js';
import { sleep } from '../support/wait.js';
import { enrollAgent, readInstalled, writeTrustBundle } from '../support/workloads.js';

/** Names every installation has; the agent may publish more (each must follow the same layout). */
const REQUIRED_NAMES = ['svid.pem', 'svid_key.pem', 'bundle.pem', 'combined.pem'];

/** The version directories in `out` (..<version>, not ..data). */
function versionDirs(out: string): string[] {
  return readdirSync(out).filter((n) => n.startsWith('..') && n !== '..data' && lstatSync(join(out, n)).isDirectory());
}

const mode = (path: string) => statSync(path).mode & 0o777;

/**
 * What `out` must look like between publications: ..data pointing at a version
 * directory; besides it at most the previous version and those younger than
 * the retention (kept for readers still reading them); every other entry a
 * stable name linked through ..data to the file of the same name (no
 * temporary links or files left).
 */
function expectTidyLayout(out: string): void {
  const current = readlinkSync(join(out, '..data'));
  const versions = versionDirs(out);
  expect(versions).toContain(current);
  // Old as of the last publication, when the agent prunes: measured from now, a slow machine ages versions it has not had to prune yet.
  const publishedAt = statSync(join(out, current)).mtimeMs;
  const old = versions.filter((v) => v !== current && publishedAt - statSync(join(out, v)).mtimeMs > RETAIN_MS + 1000);
  expect(old.length).toBeLessThanOrEqual(1);
  const stable = readdirSync(out).filter((n) => n !== '..data' && !versions.includes(n));
  expect(stable).toEqual(expect.arrayContaining(REQUIRED_NAMES));
  expect(Object.fromEntries(stable.map((n) => [n, readlinkSync(join(out, n))]))).toEqual(Object.fromEntries(stable.map((n) => [n, join('..data', n)])));
  expect(readdirSync(join(out, current)).sort()).toEqual([...stable].sort());
}

function filesOf(c: Credential): PublishedFile[] {
  return [
    { name: 'svid.pem', data: c.chainPem, mode: 0o644 },
    { name: 'svid_key.pem', data: c.keyPem, mode: 0o600 },
    { name: 'bundle.pem', data: c.bundlePem, mode: 0o644 },
    { name: 'combined.pem', data: c.keyPem + c.chainPem, mode: 0o600 },
  ];
}

describe('atomic installation', () => {
  it('AtomicDirectoryPublisher: 200 publications of distinct key pairs, never a mismatched, partial or missing file for a concurrent reader', { timeout: 60_000 }, async () => {
    const ca = await startTestCa();
    const credentials: Credential[] = [];
    for (let batch = 0; batch < 10; batch++) {
      credentials.push(...(await Promise.all(Array.from({ length: 20 }, (_, i) => mintSvid(ca.localApp, `spiffe://example.org/w/${batch * 20 + i}`)))));
    }
    const out = join(tempDir(), 'out');
    const publisher = new AtomicDirectoryPublisher(out, systemClock);
    await publisher.publish(filesOf(credentials[0]!));

    const reader = startConsistencyReader(out);
    let last = '';
    let report: ReaderReport;
    try {
      for (const c of credentials.slice(1)) last = await publisher.publish(filesOf(c));
    } finally {
      report = await reader.stop();
    }

    expect({ mismatches: report.mismatches, partials: report.partials, missing: report.missing }).toEqual({ mismatches: [], partials: [], missing: [] });
    // The reader really ran alongside the publications, through many versions, all three ways.
    expect(report.versionsSeen).toBeGreaterThan(20);
    expect(report.pairReads).toBeGreaterThan(200);
    expect(report.stableReads).toBeGreaterThan(200);
    expect(report.combinedReads).toBeGreaterThan(200);

    expect(await publisher.currentVersion()).toBe(last);
    expectTidyLayout(out);
    const installed = readInstalled(out);
    expect({ serial: installed.leaf.serialNumber, keyMatches: installed.keyMatches }).toEqual({ serial: credentials.at(-1)!.chain[0]!.serialNumber, keyMatches: true });
    expect({ key: mode(join(out, 'svid_key.pem')), combined: mode(join(out, 'combined.pem')), svid: mode(join(out, 'svid.pem')) }).toEqual({ key: 0o600, combined: 0o600, svid: 0o644 });
  });

  it('the reader itself notices files rewritten in place (the spiffe-helper way), so its silence above means something', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const credentials = await Promise.all(Array.from({ length: 4 }, (_, i) => mintSvid(ca.localApp, `spiffe://example.org/w/${i}`)));
    const out = join(tempDir(), 'out');
    const version = join(out, '..v1');
    mkdirSync(version, { recursive: true });
    for (const f of filesOf(credentials[0]!)) writeFileSync(join(version, f.name), f.data, { mode: f.mode });
    symlinkSync('..v1', join(out, '..data'));
    for (const name of REQUIRED_NAMES) symlinkSync(join('..data', name), join(out, name));

    const reader = startConsistencyReader(out);
    let report: ReaderReport;
    try {
      for (let i = 0; i < 300; i++) {
        // Certificate, then key, then combined, each truncated and rewritten where the reader reads.
        for (const f of filesOf(credentials[i % credentials.length]!)) {
          writeFileSync(join(version, f.name), f.data);
          await sleep(1);
        }
      }
    } finally {
      report = await reader.stop();
    }
    expect({ mismatched: report.mismatchCount > 0, partial: report.partialCount > 0 }).toEqual({ mismatched: true, partial: true });
  });

  it('the reader itself notices ..data swapped by unlink and symlink (not one rename), so its silence above means something', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const credentials = await Promise.all(Array.from({ length: 2 }, (_, i) => mintSvid(ca.localApp, `spiffe://example.org/w/${i}`)));
    const out = join(tempDir(), 'out');
    for (const [i, c] of credentials.entries()) {
      mkdirSync(join(out, `..v${i}`), { recursive: true });
      for (const f of filesOf(c)) writeFileSync(join(out, `..v${i}`, f.name), f.data, { mode: f.mode });
    }
    symlinkSync('..v0', join(out, '..data'));
    for (const name of REQUIRED_NAMES) symlinkSync(join('..data', name), join(out, name));

    const reader = startConsistencyReader(out);
    let report: ReaderReport;
    try {
      for (let i = 1; i <= 100; i++) {
        unlinkSync(join(out, '..data'));
        await sleep(2);
        symlinkSync(`..v${i % 2}`, join(out, '..data'));
        await sleep(1);
      }
    } finally {
      report = await reader.stop();
    }
    expect(report.missingCount).toBeGreaterThan(0);
    // Every version it read was whole: only the moments without ..data are wrong here.
    expect({ mismatches: report.mismatches, partials: report.partials }).toEqual({ mismatches: [], partials: [] });
  });

  it('the agent binary rotating a 4-second SVID: a concurrent reader never sees a mismatched, partial or missing file', { timeout: 60_000 }, async () => {
    // The CA's own serving certificate lives --svid-max-ttl and the periodic check that renews it is off
    // in tests: one minute outlives this test.
    const ca = await startTestCa({ 'svid-ttl': '4s', 'svid-max-ttl': '1m', 'intermediate-ttl': '10m' });
    const dir = tempDir();
    const out = join(dir, 'out');
    const { token } = await enrollAgent(ca, 'fast-node', 'spiffe://example.org/ns/fast', { ttl: '4s' });
    const agent = startAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out, joinToken: token }, '--combined'));
    await agent.waitForLog((l) => l.msg === 'installed a new SVID', 15_000);

    const reader = startConsistencyReader(out);
    const versions = new Set<string>();
    const until = Date.now() + 15_000;
    let report: ReaderReport;
    try {
      while (Date.now() < until) {
        versions.add(installedVersion(out)!);
        await sleep(50);
      }
    } finally {
      report = await reader.stop();
    }
    // Checked while the agent runs, on the version it has just installed: one it installed earlier
    // may have under two seconds left, less than the checker takes on a loaded machine.
    const isInstall = (l: Record<string, unknown>) => l.msg === 'installed a new SVID';
    const installedSoFar = new Set(agent.logLines().filter(isInstall).map((l) => l.serial));
    await agent.waitForLog((l) => isInstall(l) && !installedSoFar.has(l.serial), 10_000);
    const check = svidCheck(join(out, installedVersion(out)!), ['--trust-domain', 'example.org', '--spiffe-id', 'spiffe://example.org/ns/fast', '--max-ttl', '4']);
    const exit = await agent.stop();

    expect({ mismatches: report.mismatches, partials: report.partials, missing: report.missing }).toEqual({ mismatches: [], partials: [], missing: [] });
    expect(report.pairReads).toBeGreaterThan(100);
    expect(report.stableReads).toBeGreaterThan(100);
    expect(report.combinedReads).toBeGreaterThan(100);
    // A 4-second SVID is renewed about every 2 seconds.
    expect(versions.size).toBeGreaterThanOrEqual(5);
    expect(report.versionsSeen).toBeGreaterThanOrEqual(5);
    expect(exit).toEqual({ code: 0, signal: null });

    expectTidyLayout(out);
    expect({ key: mode(join(out, 'svid_key.pem')), combined: mode(join(out, 'combined.pem')), svid: mode(join(out, 'svid.pem')), bundle: mode(join(out, 'bundle.pem')) })
      .toEqual({ key: 0o600, combined: 0o600, svid: 0o644, bundle: 0o644 });
    expect(check.ok, check.output).toBe(true);
  });
});
