/**
 * The agent's reconcile loop on a fake clock against an in-memory CA: what it
 * installs, when it renews, and how it behaves when the CA or the proxy fails.
 */
import { X509Certificate } from 'node:crypto';
import { chownSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { CaRequestError, type EntryWire } from '../../src/agent/ca-api.js';
import { newKeyWithCsr } from '../../src/agent/credentials.js';
import type { PublishedFile } from '../../src/agent/installer.js';
import { renderAgentMetrics } from '../../src/agent/metrics.js';
import { Sidecar, SidecarConfigurationError, type SidecarSettings } from '../../src/agent/sidecar.js';
import { StateStore } from '../../src/agent/state-store.js';
import { renewalTime, backoffDelay } from '../../src/agent/timing.js';
import type { RandomSource } from '../../src/random/random-source.js';
import { FakeCaApi } from '../support/fake-ca-api.js';
import { FakeClock } from '../support/fake-clock.js';
import { MiniCa } from '../support/mini-ca.js';
import { fixedRandom, seededRandom } from '../support/seeded-random.js';
import { tempDir } from '../support/temp-dir.js';

interface Harness {
  clock: FakeClock;
  ca: FakeCaApi;
  sidecar: Sidecar;
  published: PublishedFile[][];
  reloads: { ok: number; failing: boolean };
  /**
   * Set `failure` to make --out refuse publications, as a full or read-only
   * disk does; `lost` to what the check of --out finds gone from it (each
   * publication makes it whole again).
   */
  out: { failure?: Error; lost?: string[] };
  logs: Array<{ level: string; msg: string; err?: string }>;
}

async function harness(
  settings: Partial<SidecarSettings> = {},
  random: RandomSource = seededRandom('agent'),
  reuse: {
    clock?: FakeClock; ca?: FakeCaApi; state?: StateStore; trustPem?: string; out?: readonly PublishedFile[];
    readJoinToken?: () => Promise<string | undefined>;
    readTrustBundle?: () => Promise<string>;
    /** No --reload-cmd or --pid-file: nothing to reload. */
    noReload?: true;
  } = {},
): Promise<Harness> {
  const clock = reuse.clock ?? new FakeClock(Date.UTC(2026, 10, 25, 12, 0, 0));
  const ca = reuse.ca ?? (await FakeCaApi.create(clock));
  const published: PublishedFile[][] = [];
  const reloads = { ok: 0, failing: false };
  const out: Harness['out'] = {};
  const logs: Harness['logs'] = [];
  const log = (level: string) => (obj: { err?: string }, msg: string) => logs.push({ level, msg, ...(obj.err ? { err: obj.err } : {}) });
  const sidecar = new Sidecar(
    {
      client: ca,
      publish: async (files) => {
        if (out.failure) throw out.failure;
        published.push([...files]);
        out.lost = [];
      },
      checkPublished: async () => out.lost ?? [],
      reload: reuse.noReload
        ? undefined
        : async () => {
          if (reloads.failing) throw new Error('nginx: [emerg] something');
          reloads.ok++;
        },
      clock,
      random,
      log: { info: log('info'), warn: log('warn'), error: log('error') },
      state: reuse.state,
      // What --out holds when the agent starts: the files of its last publication.
      readPublished: reuse.out && (async () => reuse.out),
      readJoinToken: reuse.readJoinToken,
      readTrustBundle: reuse.readTrustBundle,
    },
    { joinToken: 'good-token', keyType: 'ec-p256', syncIntervalMs: 30_000, combined: false, ...settings },
    reuse.trustPem ?? ca.bundlePem,
  );
  return { clock, ca, sidecar, published, reloads, out, logs };
}

const serialOf = (files: PublishedFile[]) => new X509Certificate(files.find((f) => f.name === 'svid.pem')!.data).serialNumber;
const bundleOf = (files: PublishedFile[]) => files.find((f) => f.name === 'bundle.pem')!.data;
const crlOf = (files: PublishedFile[]) => files.find((f) => f.name === 'crl.pem')?.data;
const halfLifeOf = (c: { notBeforeMs: number; notAfterMs: number }) => c.notBeforeMs + (c.notAfterMs - c.notBeforeMs) / 2;

/** A --state-dir whose `save` fails as a full disk does while `disk.full`. */
function stateDirRefusing(save: 'saveBundle' | 'saveCredential' | 'saveRetiredRoots', dir: string, disk: { full: boolean }): StateStore {
  const state = new StateStore(dir);
  const real = state[save].bind(state) as (arg: never) => Promise<void>;
  state[save] = async (arg: never) => {
    if (disk.full) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    await real(arg);
  };
  return state;
}

/** Steps until the loop's own wait reaches `untilMs` on the fake clock, as the real timer would. */
async function runFor(h: Harness, seconds: number): Promise<void> {
  const end = h.clock.nowMs() + seconds * 1000;
  while (h.clock.nowMs() < end) {
    const wait = await h.sidecar.step();
    h.clock.advance(Math.max(1, Math.ceil(Math.min(wait, end - h.clock.nowMs()) / 1000)));
  }
}

/**
 * An agent that installed an SVID with --state-dir, and `restart(afterSeconds)`:
 * the same agent started again that much later, with its saved state restored
 * and, when `o.out` is given, those files found in --out.
 */
async function agentWithSavedState() {
  const clock = new FakeClock(Date.UTC(2026, 10, 25, 12, 0, 0));
  const stateDir = tempDir();
  const state = new StateStore(stateDir);
  const first = await harness({}, fixedRandom(0.5), { clock, state });
  first.ca.addEntry('spiffe://example.org/ns/web');
  await first.sidecar.step();
  const restart = async (afterSeconds: number, o: { out?: readonly PublishedFile[]; settings?: Partial<SidecarSettings> } = {}) => {
    clock.advance(afterSeconds);
    const restarted = await harness(o.settings ?? {}, fixedRandom(0.5), { clock, ca: first.ca, state, ...(o.out ? { out: o.out } : {}) });
    await restarted.sidecar.restore();
    return restarted;
  };
  return { clock, state, stateDir, first, restart };
}

/** The one installed SVID is kept two seconds before `renewAtMs` and replaced a second after it. */
async function expectRenewedAt(h: Harness, renewAtMs: number): Promise<void> {
  h.clock.set(renewAtMs - 2000);
  await h.sidecar.step();
  expect(h.published).toHaveLength(1);
  h.clock.set(renewAtMs + 1000);
  await h.sidecar.step();
  expect(h.published).toHaveLength(2);
}

describe('first run', () => {
  it('attests, installs svid.pem, svid_key.pem (0600) and bundle.pem together, then reloads the proxy', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    expect(h.ca.calls).toEqual(['attest', 'sync', 'svids']);
    expect(h.published).toHaveLength(1);
    expect(h.published[0]!.map((f) => [f.name, f.mode])).toEqual([
      ['svid.pem', 0o644],
      ['svid_key.pem', 0o600],
      ['bundle.pem', 0o644],
    ]);
    expect(h.reloads.ok).toBe(1);
    expect(h.sidecar.ready()).toBe(true);
  });

  it('without a reload to run (no --reload-cmd or --pid-file), installs and is ready, and counts no reload', async () => {
    const h = await harness({}, seededRandom('agent'), { noReload: true });
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    const { counters, reloadPending } = h.sidecar.status();
    expect({ published: h.published.length, ready: h.sidecar.ready(), reloadPending, reloads: counters.reloads, reloadFailures: counters.reloadFailures })
      .toEqual({ published: 1, ready: true, reloadPending: false, reloads: 0, reloadFailures: 0 });
  });

  it('also writes combined.pem (key, then chain) with --combined', async () => {
    const h = await harness({ combined: true });
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    const combined = h.published[0]!.find((f) => f.name === 'combined.pem')!;
    expect(combined.mode).toBe(0o600);
    expect(combined.data.indexOf('PRIVATE KEY')).toBeLessThan(combined.data.indexOf('CERTIFICATE'));
  });

  it('refuses to choose among several entries without --spiffe-id, listing them', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.ca.addEntry('spiffe://example.org/ns/db');
    const error = await h.sidecar.step().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SidecarConfigurationError);
    expect((error as Error).message).toContain('spiffe://example.org/ns/web');
    expect((error as Error).message).toContain('spiffe://example.org/ns/db');
  });

  it('installs the entry named by --spiffe-id among several', async () => {
    const h = await harness({ spiffeId: 'spiffe://example.org/ns/db' });
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.ca.addEntry('spiffe://example.org/ns/db');
    await h.sidecar.step();
    expect(h.sidecar.status().installed?.spiffeId).toBe('spiffe://example.org/ns/db');
  });

  it('waits, without installing, while no entry grants the --spiffe-id', async () => {
    const h = await harness({ spiffeId: 'spiffe://example.org/ns/db' });
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    expect(h.published).toHaveLength(0);
    expect(h.logs.some((l) => l.level === 'warn' && l.msg.includes('--spiffe-id'))).toBe(true);
    h.ca.addEntry('spiffe://example.org/ns/db');
    await runFor(h, 31);
    expect(h.sidecar.status().installed?.spiffeId).toBe('spiffe://example.org/ns/db');
  });
});


/** A sidecar that has attested and synced once, with the count of its syncs so far. */
async function syncedOnce(syncIntervalMs: number) {
  const h = await harness({ syncIntervalMs });
  h.ca.addEntry('spiffe://example.org/ns/web');
  await h.sidecar.step();
  const syncs = () => h.ca.calls.filter((c) => c === 'sync').length;
  return { h, syncs, before: syncs() };
}

describe('renewal', () => {
  it.each([
    ['earliest', 0, 0.45],
    ['middle', 0.5, 0.5],
    ['latest', 0.9999, 0.55],
  ])('renews the workload SVID at half of its remaining life when received, with ±10 %% jitter (%s draw)', async (_name, draw, fraction) => {
    const h = await harness({}, fixedRandom(draw));
    h.ca.addEntry('spiffe://example.org/ns/web');
    const receivedAt = h.clock.nowMs();
    await h.sidecar.step();
    const installed = h.sidecar.status().installed!;
    // Counted from receipt: the CA sets notBefore back for clock skew.
    expect(installed.notBeforeMs).toBeLessThan(receivedAt);
    const life = installed.notAfterMs - receivedAt;
    await expectRenewedAt(h, receivedAt + life * fraction);
    expect(serialOf(h.published[1]!)).not.toBe(serialOf(h.published[0]!));
    expect(h.reloads.ok).toBe(2);
  });

  it.each([
    ['inside its window: followed', 0.42, 0.42],
    ['at 90 % of the life: ignored for its own jitter', 0.9, 0.5],
    ['at 10 % of the life: ignored for its own jitter', 0.1, 0.5],
  ])('takes the CA\'s suggested renewal time when it is %s', async (_name, suggested, fraction) => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.ca.renewAfterFraction = suggested;
    const receivedAt = h.clock.nowMs();
    await h.sidecar.step();
    await expectRenewedAt(h, receivedAt + (h.sidecar.status().installed!.notAfterMs - receivedAt) * fraction);
  });

  it('follows the CA\'s suggestion for its own agent SVID too', async () => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.ca.renewAfterFraction = 0.41;
    h.ca.agentTtl = 3600;
    h.ca.workloadTtl = 24 * 3600;
    await runFor(h, 0.41 * 3600 - 60);
    expect(h.ca.count('renew')).toBe(0);
    await runFor(h, 120);
    expect(h.ca.count('renew')).toBe(1);
  });

  it('spreads renewal times across the window instead of repeating one', () => {
    const random = seededRandom('fleet');
    const times = Array.from({ length: 1000 }, () => renewalTime(0, 3_600_000, random) / 3_600_000);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(0.45);
    expect(Math.max(...times)).toBeLessThanOrEqual(0.55);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(0.09);
  });

  it('renews its own agent SVID at half-life over mutual TLS, without the token', async () => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.ca.workloadTtl = 600;
    await runFor(h, 31 * 60);
    expect(h.ca.count('attest')).toBe(1);
    expect(h.ca.count('renew')).toBe(1);
  });

  it.each([
    ['1 minute', 60],
    ['20 minutes', 20 * 60],
  ])('renews an agent SVID saved in --state-dir at half of its life counted from its notBefore, not from the restart (restarted %s after issuance)', async (_name, afterSeconds) => {
    const { clock, first, restart } = await agentWithSavedState();
    const halfLife = halfLifeOf(first.sidecar.status().agentSvid!);
    const restarted = await restart(afterSeconds);
    clock.set(halfLife - 2000);
    await restarted.sidecar.step();
    expect(first.ca.count('renew')).toBe(0);
    clock.set(halfLife + 1000);
    await restarted.sidecar.step();
    expect(first.ca.count('renew')).toBe(1);
  });

  it("fail/does not take a saved credential another user owns (neither the agent's user nor root): warns, naming the files, and attests with its join token", async () => {
    const { clock, stateDir, first } = await agentWithSavedState();
    // Another user's files: this test's user, or one root makes them over to; the restarted agent is yet another.
    const planter = process.geteuid!() === 0 ? 54321 : process.geteuid!();
    for (const name of readdirSync(stateDir)) chownSync(join(stateDir, name), planter, planter);
    const restarted = await harness({}, fixedRandom(0.5), { clock, ca: first.ca, state: new StateStore(stateDir, planter + 1) });
    await restarted.sidecar.restore();
    expect(restarted.sidecar.status().agentSvid).toBeUndefined();
    expect(restarted.logs.filter((l) => l.msg.startsWith('ignored files in the state directory that another user owns')).map((l) => l.level)).toEqual(['warn']);
    const before = first.ca.calls.length;
    await restarted.sidecar.step();
    expect(first.ca.calls.slice(before)).toEqual(['attest', 'sync', 'svids']);
  });

  it('renews in its first step (as a --once run does) a saved agent SVID already past half of its life, and saves the new one', async () => {
    const { first, state, restart } = await agentWithSavedState();
    const restarted = await restart(35 * 60);
    const savedSerial = restarted.sidecar.status().agentSvid!.serial;
    const before = first.ca.calls.length;
    await restarted.sidecar.step();
    expect(first.ca.calls.slice(before)).toEqual(['renew', 'sync', 'svids']);
    const saved = await state.load();
    expect(new X509Certificate(saved.credential!.chainPem).serialNumber.toLowerCase()).not.toBe(savedSerial);
  });

  it('picks up a changed entry at the next sync with a new SVID', async () => {
    const h = await harness();
    const entry = h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.entries[0] = { ...entry, revision: 2, dns: ['web.example'] };
    await runFor(h, 31);
    expect(h.published).toHaveLength(2);
  });

  it.each([
    ['a few seconds', 5],
    ['three minutes', 180],
    ['an hour', 3600],
  ])('syncs again within one interval when the clock is set back by %s after a sync', async (_name, seconds) => {
    const { h, syncs, before } = await syncedOnce(30_000);
    h.clock.advance(-seconds);
    await runFor(h, 30);
    expect(syncs()).toBeGreaterThan(before);
    expect(renderAgentMetrics(h.sidecar.status(), h.clock, '0')).toMatch(/^meshca_agent_seconds_since_last_sync [0-9]/m);
  });

  it('syncs at the next step when asked to (SIGHUP), long before the interval is up, and once only', async () => {
    const { h, syncs, before } = await syncedOnce(3_600_000);
    h.clock.advance(10);
    h.sidecar.requestSync();
    await h.sidecar.step();
    await h.sidecar.step();
    expect(syncs()).toBe(before + 1);
  });

  it('syncs again straight after a sync that was under way when asked to: its answer may predate the asking', async () => {
    const { h, syncs, before } = await syncedOnce(3_600_000);
    const sync = h.ca.sync.bind(h.ca);
    h.ca.sync = async () => {
      h.ca.sync = sync;
      h.sidecar.requestSync();
      return sync();
    };
    h.clock.advance(10);
    h.sidecar.requestSync();
    expect(await h.sidecar.step()).toBeLessThan(1_000);
    await h.sidecar.step();
    expect(syncs()).toBe(before + 2);
  });

  it('installs a new bundle and reloads as soon as a sync shows it, keeping the SVID', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    const newRoot = (await FakeCaApi.create(h.clock)).bundlePem;
    h.ca.bundlePem = h.ca.bundlePem + newRoot;
    await runFor(h, 31);
    expect(h.published).toHaveLength(2);
    expect(h.published[1]!.find((f) => f.name === 'bundle.pem')!.data).toBe(h.ca.bundlePem);
    expect(serialOf(h.published[1]!)).toBe(serialOf(h.published[0]!));
    expect(h.reloads.ok).toBe(2);
  });
});

describe('trust bundle changes', () => {
  it('installs a bundle it learned while renewing its own agent SVID, in the step that also syncs', async () => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.workloadTtl = 4 * 3600; // so that only the agent SVID (1 hour) is due
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.bundlePem += (await FakeCaApi.create(h.clock)).bundlePem;
    h.clock.advance(31 * 60);
    await h.sidecar.step();
    expect(h.ca.calls.slice(-2)).toEqual(['renew', 'sync']);
    expect(h.published).toHaveLength(2);
    expect(bundleOf(h.published[1]!)).toBe(h.ca.bundlePem);
    expect(serialOf(h.published[1]!)).toBe(serialOf(h.published[0]!));
  });

  it.each([
    ['a new bundle', '503', new CaRequestError(503, 'unavailable', 'the CA is shutting down'), async (ca: FakeCaApi) => void (ca.bundlePem += (await FakeCaApi.create(new FakeClock())).bundlePem)],
    ['a new CRL', '429', new CaRequestError(429, 'rate_limited', 'too many requests', 60), async (ca: FakeCaApi) => void (await ca.publishCrl(['7e57']))],
  ])('installs %s that a sync shows even when the CA refuses (%s) the workload SVID due in the same step', async (_what, _status, refusal, change) => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.agentTtl = 4 * 3600; // so that only the workload SVID (1 hour) is due
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    await change(h.ca);
    h.ca.refusals.set('svids', refusal);
    h.clock.advance(31 * 60);
    await h.sidecar.step();
    expect(h.ca.calls.slice(-2)).toEqual(['sync', 'svids']);
    expect(h.published).toHaveLength(2);
    expect({ bundle: bundleOf(h.published[1]!), crl: crlOf(h.published[1]!) }).toEqual({ bundle: h.ca.bundlePem, crl: h.ca.crlPem });
    expect(serialOf(h.published[1]!)).toBe(serialOf(h.published[0]!));
    expect(h.reloads.ok).toBe(2);
  });

  it('fail/a CA answer that sets the retry (429 with Retry-After) still sets it when --out also refuses the new CRL: the disk\'s failure is said, not put in its place', async () => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.agentTtl = 4 * 3600;
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    await h.ca.publishCrl(['7e57']);
    h.ca.refusals.set('svids', new CaRequestError(429, 'rate_limited', 'too many requests', 20 * 60));
    h.out.failure = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    h.clock.advance(31 * 60);
    await h.sidecar.step();
    expect(h.logs.filter((l) => l.level === 'error').map((l) => l.msg)).toContain('could not install the SVID in --out: ENOSPC: no space left on device, write; will retry');
    const asked = h.ca.count('svids');
    // Retry-After asks 20 minutes, capped at half of the 29 minutes the SVID has left; without it, the wait drawn is half that.
    await runFor(h, 10 * 60);
    expect(h.ca.count('svids')).toBe(asked);
    await runFor(h, 5 * 60);
    expect(h.ca.count('svids')).toBeGreaterThan(asked);
  });

  it('saves the CA\'s bundle in --state-dir as ca_bundle.pem also when it is --trust-bundle to the byte, and writes it again only when it changes', async () => {
    const stateDir = tempDir();
    const state = new StateStore(stateDir);
    const saves: string[] = [];
    const save = state.saveBundle.bind(state);
    state.saveBundle = async (pem: string) => {
      saves.push(pem);
      await save(pem);
    };
    const h = await harness({}, fixedRandom(0.5), { state });
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    expect(readFileSync(join(stateDir, 'ca_bundle.pem'), 'utf8')).toBe(h.ca.bundlePem);
    await runFor(h, 61);
    expect(saves).toEqual([h.ca.bundlePem]);
  });

  it('saves a new bundle in --state-dir at a later sync when saving it failed, so a restart still trusts the new root', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 25, 12, 0, 0));
    const stateDir = tempDir();
    const disk = { full: false };
    const state = stateDirRefusing('saveBundle', stateDir, disk);
    const h = await harness({}, fixedRandom(0.5), { clock, state });
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.bundlePem += (await FakeCaApi.create(clock)).bundlePem;
    disk.full = true;
    await runFor(h, 31);
    expect((await new StateStore(stateDir).load()).bundlePem).not.toBe(h.ca.bundlePem);
    disk.full = false;
    await runFor(h, 31);
    expect((await new StateStore(stateDir).load()).bundlePem).toBe(h.ca.bundlePem);
  });

  it('says no CRL is installed while the CRLs the CA offers are refused (what --once exits 1 for), until it offers ones it can install', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 25, 12, 0, 0));
    const h = await harness({}, fixedRandom(0.5), { clock });
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    expect([h.published.length, h.sidecar.crlsNotInstalled()]).toEqual([1, undefined]);
    h.ca.crlPem = await (await MiniCa.create(clock)).crlPem([]);
    await runFor(h, 31);
    expect(h.sidecar.crlsNotInstalled()).toEqual({ validFromMs: undefined });
    await h.ca.publishCrl();
    await runFor(h, 10 * 60);
    expect(h.sidecar.crlsNotInstalled()).toBeUndefined();
    expect(crlOf(h.published.at(-1)!)).toBe(h.ca.crlPem);
  });

  it('keeps renewing and installing CRLs while --state-dir cannot be written, the new bundle held in memory', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 25, 12, 0, 0));
    const state = stateDirRefusing('saveBundle', tempDir(), { full: true });
    const h = await harness({}, fixedRandom(0.5), { clock, state });
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    const first = serialOf(h.published[0]!);
    h.ca.bundlePem += (await FakeCaApi.create(clock)).bundlePem;
    await h.ca.publishCrl(['0badc0de']);
    await runFor(h, 3 * 3600); // three lifetimes of the workload SVID
    const last = h.published.at(-1)!;
    expect({
      renewed: serialOf(last) !== first,
      ready: h.sidecar.ready(),
      bundle: bundleOf(last) === h.ca.bundlePem,
      crl: crlOf(last) === h.ca.crlPem,
      trusted: h.ca.configured!.trustPem === h.ca.bundlePem,
    }).toEqual({ renewed: true, ready: true, bundle: true, crl: true, trusted: true });
    expect(h.ca.count('svids')).toBeLessThan(10);
    expect(h.logs.some((l) => l.level === 'warn' && l.msg.startsWith('could not save the trust bundle'))).toBe(true);
  });

  it('attests once and renews on time while --state-dir cannot save the agent SVID, counting each refusal, and saves it once it can', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 25, 12, 0, 0));
    const stateDir = tempDir();
    const disk = { full: true };
    const state = stateDirRefusing('saveCredential', stateDir, disk);
    const h = await harness({}, fixedRandom(0.5), { clock, state });
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    await runFor(h, 2 * h.ca.agentTtl); // two lifetimes of the agent SVID
    expect({ attests: h.ca.count('attest'), renewed: h.ca.count('renew') >= 2, ready: h.sidecar.ready() }).toEqual({ attests: 1, renewed: true, ready: true });
    expect((await new StateStore(stateDir).load()).credential).toBeUndefined();
    const refusals = h.logs.filter((l) => l.level === 'error' && l.msg.startsWith('could not save the agent SVID in the state directory'));
    expect(refusals).not.toHaveLength(0);
    // On /metrics: until a save succeeds, a restart needs a new join token.
    expect(h.sidecar.status().counters.stateWriteFailures).toBe(refusals.length);
    disk.full = false;
    await runFor(h, 31);
    expect((await new StateStore(stateDir).load()).credential?.chainPem).toBe(h.sidecar.status().agentSvid!.chainPem);
  });

  it('counts an attestation in flight until the SVID it bought is saved, so that a stop waits for the save', async () => {
    const state = new StateStore(tempDir());
    let release!: () => void;
    const saving = new Promise<void>((resolve) => (release = resolve));
    const save = state.saveCredential.bind(state);
    let seenWhileSaving: boolean | undefined;
    const h = await harness({}, fixedRandom(0.5), { state });
    state.saveCredential = async (c) => {
      seenWhileSaving = h.sidecar.attestationInFlight();
      await saving;
      await save(c);
    };
    h.ca.addEntry('spiffe://example.org/ns/web');
    const step = h.sidecar.step();
    await vi.waitFor(() => expect(seenWhileSaving).toBe(true));
    release();
    await step;
    expect({ inFlight: h.sidecar.attestationInFlight(), saved: (await state.load()).credential !== undefined }).toEqual({ inFlight: false, saved: true });
  });

  it('on restart trusts both the saved bundle and --trust-bundle until the CA sends its own', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 25, 12, 0, 0));
    const oldCa = await FakeCaApi.create(clock);
    const state = new StateStore(tempDir());
    await state.saveBundle(oldCa.bundlePem);
    const h = await harness({}, seededRandom('agent'), { clock, state });
    await h.sidecar.restore();
    h.ca.failure = new Error('connect ECONNREFUSED');
    await h.sidecar.step();
    const trusted = h.ca.configured!.trustPem;
    expect(trusted).toContain(oldCa.bundlePem.trim());
    expect(trusted).toContain(h.ca.bundlePem.trim());
  });
});

describe('when things fail', () => {
  it('keeps the installed SVID while the CA is down, backs off, and recovers by itself', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.failure = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8443'), { code: 'ECONNREFUSED' });
    await runFor(h, 40 * 60);
    expect(h.published).toHaveLength(1);
    expect(h.sidecar.ready()).toBe(true);
    const attemptsWhileDown = h.ca.calls.length;
    h.ca.failure = undefined;
    // The next attempt comes within half of the SVID's remaining life (20 minutes left).
    await runFor(h, 10 * 60 + 1);
    expect(h.published).toHaveLength(2);
    expect(h.ca.count('attest')).toBe(1);
    // Backoff: far fewer attempts over 40 minutes than one per second.
    expect(attemptsWhileDown).toBeLessThan(120);
  });

  it.each([
    ['unreachable', () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8443'), { code: 'ECONNREFUSED' })],
    ['answering 429 with Retry-After: 1 hour', () => new CaRequestError(429, 'rate_limited', 'too many requests', 3600)],
  ])('renews its agent SVID before it expires, without a new token, when the CA is %s across its renewal and back before its expiry (the workload SVID outliving it)', async (_how, failure) => {
    // Agent SVID: 1 hour, renewal due at 32.4 minutes (the 0.9 draw). Workload SVID: 4 hours.
    const h = await harness({}, fixedRandom(0.9));
    h.ca.workloadTtl = 4 * 3600;
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    const firstAgentSvid = h.sidecar.status().agentSvid!;
    await runFor(h, 32 * 60);
    h.ca.failure = failure();
    await runFor(h, 23 * 60);
    expect(h.logs.some((l) => l.msg.startsWith('could not reach or use the CA'))).toBe(true);
    h.ca.failure = undefined;
    await runFor(h, 10 * 60);
    const agentSvid = h.sidecar.status().agentSvid;
    expect(agentSvid?.serial).not.toBe(firstAgentSvid.serial);
    expect(agentSvid!.notAfterMs).toBeGreaterThan(h.clock.nowMs());
    expect(h.ca.count('attest')).toBe(1);
    expect(h.logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([]);
  });

  it('fail/installs nothing the CA issued for another SPIFFE ID than the entry grants, and keeps asking', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.ca.workloadIdentity = 'spiffe://example.org/ns/payments';
    await h.sidecar.step();
    expect(h.published).toEqual([]);
    expect(h.sidecar.ready()).toBe(false);
    expect(h.logs.some((l) => l.err?.includes('it issued spiffe://example.org/ns/payments, not spiffe://example.org/ns/web'))).toBe(true);
    h.ca.workloadIdentity = undefined;
    await runFor(h, 60);
    expect(h.published).toHaveLength(1);
    expect(h.sidecar.ready()).toBe(true);
  });

  it.each<[string, string[], string[]]>([
    ['DNS names where the entry grants none', [], ['web.example']],
    ['none of the DNS names the entry grants', ['web.example'], []],
    ['other DNS names than the entry grants', ['web.example', 'web.internal'], ['web.example', 'payments.internal']],
  ])('fail/installs no SVID the CA issued with %s, and keeps asking', async (_name, granted, issued) => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.ca.entries[0] = { ...h.ca.entries[0]!, dns: granted };
    h.ca.workloadDnsNames = issued;
    await h.sidecar.step();
    expect(h.published).toEqual([]);
    expect(h.sidecar.ready()).toBe(false);
    expect(h.logs.some((l) => l.err?.includes(`its certificate names the DNS names [${issued.join(', ')}], where the entry grants [${granted.join(', ')}]`))).toBe(true);
    h.ca.workloadDnsNames = undefined;
    await runFor(h, 60);
    expect(h.published).toHaveLength(1);
    expect(h.sidecar.ready()).toBe(true);
  });

  it('pass/installs an SVID whose DNS names are the entry\'s in another order and case', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.ca.entries[0] = { ...h.ca.entries[0]!, dns: ['web.example', 'web.internal'] };
    h.ca.workloadDnsNames = ['WEB.internal', 'web.example'];
    await h.sidecar.step();
    expect(h.published).toHaveLength(1);
  });

  it('fail/is not ready while the installed SVID is not valid yet (a CA clock far ahead of its own, unnoticed)', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.ca.workloadNotBeforeDelay = 3600;
    await h.sidecar.step();
    expect(h.published).toHaveLength(1);
    expect(h.sidecar.notReadyReason()).toBe('the installed SVID is not valid yet');
  });

  it('has its client refuse as the CA any server whose chain the CA\'s CRLs revoke, and drop its connections when they change', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    expect(h.ca.distrusted?.('0123abcd')).toBe(false);
    await h.ca.publishCrl(['0123abcd']);
    await runFor(h, 31);
    expect(h.ca.distrusted?.('0123abcd')).toBe(true);
    expect(h.ca.crlChanges).toBe(1);
  });

  it("neither republishes nor reloads for another replica's copy of the same CRL, and installs the one that revokes", async () => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.agentTtl = 4 * 3600; // nothing due for the ten minutes that follow
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.ca.publishCrl([], 1);
    await h.sidecar.step();
    const before = { published: h.published.length, reloads: h.reloads.ok, poolResets: h.ca.crlChanges };
    // Behind a balancer, each sync reaches another replica, whose CRL lists the same but carries its own signature and number.
    for (let sync = 0; sync < 20; sync++) {
      await h.ca.publishCrl([], 2 + sync);
      await runFor(h, 30);
    }
    expect({ published: h.published.length, reloads: h.reloads.ok, poolResets: h.ca.crlChanges }).toEqual(before);
    await h.ca.publishCrl(['0badc0de'], 30);
    await runFor(h, 31);
    expect(crlOf(h.published.at(-1)!)).toBe(h.ca.crlPem);
    expect(h.reloads.ok).toBe(before.reloads + 1);
  });

  it('fail/counts a sync whose answer it refuses (a CRL nobody the bundle vouches for signed) as a failed sync, not a sync, and asks again at the retry', async () => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    const synced = h.sidecar.status().lastSyncMs!;
    h.ca.crlPem = await (await MiniCa.create(h.clock)).crlPem([]);
    await runFor(h, 31);
    expect(h.sidecar.status().counters).toMatchObject({ syncs: 1, syncFailures: 1 });
    expect(h.sidecar.status().lastSyncMs).toBe(synced);
    // The retry (fixedRandom(0.5): half of the 20 minutes its SVID allows) asks again.
    await runFor(h, 16 * 60);
    expect(h.sidecar.status().counters).toMatchObject({ syncs: 1, syncFailures: 2 });
    expect(h.ca.count('sync')).toBe(3);
  });

  it('says so at error level and turns unready when the SVID expires with the CA unreachable', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.failure = new Error('connect ECONNREFUSED');
    await runFor(h, 61 * 60);
    expect(h.sidecar.notReadyReason()).toBe('the installed SVID has expired');
    expect(h.logs.filter((l) => l.level === 'error' && l.msg.includes('installed SVID has expired'))).toHaveLength(1);
  });

  it.each([
    {
      name: 'the CA refuses the agent itself (evicted), which revokes the installed SVID too',
      happen: async (h: Harness) => void h.ca.refusals.set('sync', new CaRequestError(403, 'agent_evicted', 'agent node-1 was evicted')),
      reason: 'the CA refused this agent (evicted, banned, its SVID revoked, or superseded by another agent under its name): an eviction or ban revokes the installed SVID too, and until the agent attests again it learns of no revocation',
    },
    {
      name: 'the last CRL lists the installed SVID and the CA will not issue a new one yet',
      happen: async (h: Harness) => {
        await h.ca.publishCrl([h.sidecar.status().installed!.serial]);
        h.ca.refusals.set('svids', new CaRequestError(503, 'unavailable', 'try again later'));
      },
      reason: 'the installed SVID is revoked (listed in the CRL)',
    },
  ])('fail/turns unready while $name, though the SVID has not expired, and says why', async ({ happen, reason }) => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    await happen(h);
    await runFor(h, 31);
    expect({ ready: h.sidecar.ready(), expired: h.sidecar.status().installed!.notAfterMs <= h.clock.nowMs() }).toEqual({ ready: false, expired: false });
    expect(h.sidecar.notReadyReason()).toBe(reason);
  });

  it('fail/--out that cannot take the SVID: said as a local failure and counted as one, and the SVID is installed once it can, without asking the CA again', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.out.failure = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    // Tried again at the backoff for an agent without an SVID (at most 5 s), not at the next sync, 30 s away.
    expect(await h.sidecar.step()).toBeLessThanOrEqual(5000);
    await runFor(h, 10);
    const asked = h.ca.count('svids');
    expect(asked).toBe(1);
    const refusals = h.logs.filter((l) => l.msg.startsWith('could not install the SVID in --out: ENOSPC'));
    expect(refusals).not.toHaveLength(0);
    expect(h.logs.filter((l) => l.msg.startsWith('could not reach or use the CA'))).toEqual([]);
    // Each refusal on /metrics, none as the CA's: an alert on a full disk needs no log search.
    const { renewalFailures, outWriteFailures } = h.sidecar.status().counters;
    expect({ renewalFailures, outWriteFailures }).toEqual({ renewalFailures: 0, outWriteFailures: refusals.length });
    delete h.out.failure;
    await runFor(h, 6);
    expect({ asked: h.ca.count('svids'), published: h.published.length, ready: h.sidecar.ready() }).toEqual({ asked, published: 1, ready: true });
  });

  it('retries a failing reload with backoff and never gives up the installation; not ready until the proxy has taken an SVID from it', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.reloads.failing = true;
    await runFor(h, 20);
    expect(h.sidecar.status().counters.reloadFailures).toBeGreaterThan(2);
    expect(h.sidecar.notReadyReason()).toBe('the proxy has not been reloaded since the agent started (reloading it failed), so what it serves is unknown');
    h.reloads.failing = false;
    await runFor(h, 120);
    expect(h.reloads.ok).toBe(1);
    expect(h.sidecar.ready()).toBe(true);
  });

  it('stops renewing an entry that was deleted but keeps the installed SVID', async () => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.entries = [];
    await runFor(h, 31 * 60);
    expect(h.published).toHaveLength(1);
    expect(h.sidecar.ready()).toBe(true);
    // It syncs once per --sync-interval (30 s), not on every wake once the old renewal time has passed.
    expect(h.ca.count('sync')).toBeLessThanOrEqual(31 * 2 + 2);
  });

  it('keeps its identity when an operator grants the agent a second entry while it serves', async () => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.addEntry('spiffe://example.org/ns/db');
    await runFor(h, 31 * 60);
    expect(h.published).toHaveLength(2);
    expect(h.published.map((files) => new X509Certificate(files.find((f) => f.name === 'svid.pem')!.data).subjectAltName)).toEqual([
      'URI:spiffe://example.org/ns/web',
      'URI:spiffe://example.org/ns/web',
    ]);
    expect(h.logs.some((l) => l.level === 'error' && l.msg.includes('choose one with --spiffe-id'))).toBe(true);
  });

  it('fail/a proxy that cannot be reloaded: ready while what it serves is valid, not ready once that expires (said once at error level), ready again once it reloads', async () => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    const first = h.sidecar.status().installed!;
    h.reloads.failing = true;
    await runFor(h, Math.ceil((first.renewAtMs - h.clock.nowMs()) / 1000) + 5);
    expect(h.sidecar.status().installed!.serial).not.toBe(first.serial);
    expect([h.sidecar.status().reloadPending, h.sidecar.ready()]).toEqual([true, true]);

    await runFor(h, (first.notAfterMs - h.clock.nowMs()) / 1000 + 60);
    expect(h.sidecar.notReadyReason()).toBe('the proxy was not reloaded (reloading it failed), and still serves an SVID that has expired');
    expect(h.logs.filter((l) => l.level === 'error' && l.msg.includes('still serves an SVID that has expired'))).toHaveLength(1);

    h.reloads.failing = false;
    await runFor(h, 31);
    expect([h.sidecar.status().reloadPending, h.sidecar.ready()]).toEqual([false, true]);
  });

  it('fail/an agent restarted with a proxy it cannot reload does not know what the proxy serves: not ready, though --out holds a valid SVID', async () => {
    const { first, restart } = await agentWithSavedState();
    const h = await restart(60, { out: first.published[0]! });
    h.reloads.failing = true;
    await h.sidecar.step();
    expect(h.sidecar.status().installed).toBeDefined();
    expect(h.sidecar.notReadyReason()).toBe('the proxy has not been reloaded since the agent started (reloading it failed), so what it serves is unknown');
    h.reloads.failing = false;
    await runFor(h, 31);
    expect(h.sidecar.ready()).toBe(true);
  });

  it('keeps retrying a failing reload every 30 seconds at most, however long it fails', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.reloads.failing = true;
    await runFor(h, 60 * 60);
    expect(h.sidecar.status().counters.reloadFailures).toBeGreaterThanOrEqual(120);
  });

  it('waits no longer than half of what its SVID has left, whatever Retry-After asks', async () => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.failure = new CaRequestError(429, 'rate_limited', 'too many requests', 3600);
    h.clock.advance(50 * 60); // ten minutes left; renewal long due
    await h.sidecar.step();
    const refusedAt = h.ca.calls.length;
    h.ca.failure = undefined;
    await runFor(h, 5 * 60 + 1);
    expect(h.ca.calls.length).toBeGreaterThan(refusedAt);
    expect(h.published).toHaveLength(2);
  });

  it('attests with an unused join token at once when a sync finds its saved agent SVID refused', async () => {
    const { first, restart } = await agentWithSavedState();
    const restarted = await restart(60);
    first.ca.refusals.set('sync', new CaRequestError(403, 'agent_evicted', 'agent node-1 was evicted'));
    expect(await restarted.sidecar.step()).toBe(50); // the shortest wait: the retry is due now
    first.ca.refusals.delete('sync');
    const before = first.ca.calls.length;
    await restarted.sidecar.step();
    expect(first.ca.calls.slice(before, before + 2)).toEqual(['attest', 'sync']);
  });

  it('backs off while the CA refuses to attest a banned agent, keeping the token, and attests with it once unbanned', async () => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.ca.refusals.set('attest', new CaRequestError(403, 'agent_banned', 'agent node-1 is banned'));
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const wait = await h.sidecar.step();
      waits.push(wait);
      h.clock.advance(Math.ceil(wait / 1000));
    }
    expect(h.ca.count('attest')).toBe(5);
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(500); // before: 50 ms, some 40 requests a second for as long as the ban lasts
    h.ca.refusals.delete('attest');
    await runFor(h, 10);
    expect({ attests: h.ca.count('attest'), installed: h.published.length, ready: h.sidecar.ready() }).toEqual({ attests: 6, installed: 1, ready: true });
  });

  it('waits as long as a CA that answers Retry-After asks', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.ca.failure = new CaRequestError(429, 'rate_limited', 'too many requests', 120);
    await h.sidecar.step();
    await runFor(h, 119);
    expect(h.ca.calls).toHaveLength(1);
    h.ca.failure = undefined;
    await runFor(h, 2);
    expect(h.published).toHaveLength(1);
  });

  it('waits no longer than its longest backoff (20 minutes) whatever Retry-After asks, with nothing installed yet', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.ca.failure = new CaRequestError(503, 'ca_unavailable', 'busy', 1e300);
    await h.sidecar.step();
    h.ca.failure = undefined;
    await runFor(h, 20 * 60 + 1);
    expect(h.published).toHaveLength(1);
  });

  it('attests with a new join token in the step where the CA refuses to renew its saved agent SVID', async () => {
    const { first, state, restart } = await agentWithSavedState();
    const refusedSerial = first.sidecar.status().agentSvid!.serial;
    // Restarted with a new token near the end of its agent SVID's life (renewal
    // long due, so its first step renews), and evicted meanwhile.
    const restarted = await restart(55 * 60);
    expect(restarted.sidecar.status().agentSvid?.serial).toBe(refusedSerial);
    first.ca.refusals.set('renew', new CaRequestError(403, 'agent_evicted', 'agent node-1 was evicted'));
    const before = first.ca.calls.length;
    await restarted.sidecar.step();
    expect(first.ca.calls.slice(before, before + 2)).toEqual(['renew', 'attest']);
    const saved = await state.load();
    expect(new X509Certificate(saved.credential!.chainPem).serialNumber.toLowerCase()).toBe(restarted.sidecar.status().agentSvid!.serial);
    expect(restarted.sidecar.status().agentSvid!.serial).not.toBe(refusedSerial);
  });

  it('refused and without a new token, tries (and says so) once a sync interval, also as its installed SVID runs out', async () => {
    const h = await harness({}, fixedRandom(0.5));
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.failure = new CaRequestError(403, 'agent_evicted', 'agent node-1 was evicted');
    await runFor(h, 58 * 60);
    const said = () => h.logs.filter((l) => l.err?.startsWith('no valid agent SVID and no unused join token')).length;
    const before = said();
    await runFor(h, 4 * 60); // the installed SVID's last two minutes, and two after it
    expect(said() - before).toBeGreaterThanOrEqual(7);
    expect(said() - before).toBeLessThanOrEqual(9);
  });

  it('superseded (another agent attested under its name), drops its agent SVID as refused and says it was superseded, not evicted', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.failure = new CaRequestError(401, 'certificate_superseded', 'the client certificate was superseded');
    await runFor(h, 31);
    expect(h.sidecar.status().agentRefused).toBe(true);
    expect(h.logs.filter((l) => l.level === 'error' && l.msg.startsWith('the CA refused the agent SVID')).map((l) => l.msg)).toEqual([
      "the CA refused the agent SVID: another agent attested under this agent's name since, which revoked it; the agent must attest again with a new join token",
    ]);
  });

  it('drops an agent SVID the CA refuses, and without a new token says what is needed', async () => {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.failure = new CaRequestError(403, 'agent_evicted', 'agent node-1 was evicted');
    await runFor(h, 31);
    h.ca.failure = undefined;
    // With a valid workload SVID installed, retries are spread over up to ten minutes.
    await runFor(h, 20 * 60);
    expect(h.ca.count('attest')).toBe(1);
    expect(h.logs.some((l) => l.level === 'error' && l.msg.includes('refused the agent SVID'))).toBe(true);
    // Its token came from the command line or the environment, read only at start: a restart is what takes a new one.
    expect(h.logs.at(-1)?.err).toBe(
      'no valid agent SVID and no unused join token: restart the agent with a new one (meshca token create --agent node-1) in MESHCA_AGENT_JOIN_TOKEN or --join-token-file',
    );
  });
});

describe('files removed or replaced in --out behind the agent', () => {
  const LOST = 'svid.pem is missing from --out';
  const NOT_READY = `${LOST}: the proxy would fail at its next reload or restart; the agent installs the files again`;
  const lossWarnings = (h: Harness) => h.logs.filter((l) => l.level === 'warn' && l.msg.startsWith('--out no longer holds what the agent installed'));

  /** An agent that has installed an SVID, with `woken` counting the steps its probes asked for. */
  async function installed() {
    const h = await harness();
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    const woken = { count: 0 };
    h.sidecar.onOutLost = () => woken.count++;
    return { h, woken };
  }

  it('fail/a probe names what is gone, warns once however many probes see it, and asks for a step, which installs the same files again and reloads', async () => {
    const { h, woken } = await installed();
    const asked = [...h.ca.calls];
    h.out.lost = [LOST];
    for (let probe = 0; probe < 3; probe++) expect(await h.sidecar.probeReadiness()).toBe(NOT_READY);
    expect({ woken: woken.count, warnings: lossWarnings(h).length, ready: h.sidecar.ready() }).toEqual({ woken: 1, warnings: 1, ready: false });

    await h.sidecar.step();
    expect(h.published).toHaveLength(2);
    expect(h.published[1]).toEqual(h.published[0]);
    // Nothing new was asked of the CA, and the proxy reloaded the files installed again.
    expect({ asked: h.ca.calls, reloads: h.reloads.ok }).toEqual({ asked, reloads: 2 });
    expect(await h.sidecar.probeReadiness()).toBeUndefined();
    expect(lossWarnings(h)).toHaveLength(1);
    expect(h.sidecar.status().counters.outRepairs).toBe(1);
  });

  it('fail/against something that keeps changing --out, installs again at each sync, asks for an early step once per sync interval at most, and warns once per loss', async () => {
    const { h, woken } = await installed();
    // The loop as the composition root runs it: at the wait each step returns, or at once when a probe asks.
    let nextStepMs = h.clock.nowMs() + (await h.sidecar.step());
    for (let second = 5; second <= 120; second += 5) {
      h.clock.advance(5);
      h.out.lost = [LOST];
      const before = woken.count;
      expect(await h.sidecar.probeReadiness()).toBe(NOT_READY);
      if (woken.count > before || h.clock.nowMs() >= nextStepMs) nextStepMs = h.clock.nowMs() + (await h.sidecar.step());
    }
    const repairs = h.published.length - 1;
    // Every 30 s (--sync-interval), plus the first loss at once: not at each of the 24 probes.
    expect({ woken: woken.count, repairs }).toEqual({ woken: 1, repairs: 5 });
    expect(lossWarnings(h)).toHaveLength(repairs);
    expect(h.ca.count('svids')).toBe(1);
  });

  it('fail/against something that keeps changing --out while the proxy\'s reload fails, installs again at most every half sync interval, not at every reload retry', async () => {
    const { h } = await installed();
    h.reloads.failing = true;
    // The loop as the composition root runs it, without probes: at the wait each step returns (reload retries come sooner).
    const end = h.clock.nowMs() + 120_000;
    while (h.clock.nowMs() < end) {
      h.out.lost = [LOST];
      const wait = await h.sidecar.step();
      h.clock.advance(Math.max(1, Math.ceil(wait / 1000)));
    }
    // The first loss at once, then at most one each 15 s (half the 30-s --sync-interval); the reload is retried far more often.
    expect(h.published.length - 1).toBeLessThanOrEqual(1 + 120 / 15);
    expect(h.ca.count('svids')).toBe(1);
  });

  it('fail/installs the files again before asking the CA anything, so that a CA that does not answer does not hold the repair', async () => {
    const { h } = await installed();
    h.out.lost = [LOST];
    h.clock.advance(31);
    // A sync that never answers, as from a CA that accepted the connection and went quiet.
    h.ca.sync = () => new Promise(() => {});
    void h.sidecar.step();
    await vi.waitFor(() => expect(h.published).toHaveLength(2));
    expect(serialOf(h.published[1]!)).toBe(serialOf(h.published[0]!));
  });

  it('fail/repairs a loss seen while a request to the CA was in flight as soon as that request ends, in the same step', async () => {
    const { h } = await installed();
    h.clock.advance(31);
    let answer: (() => void) | undefined;
    const sync = h.ca.sync.bind(h.ca);
    h.ca.sync = () => new Promise((resolve, reject) => (answer = () => void sync().then(resolve, reject)));
    const step = h.sidecar.step();
    await vi.waitFor(() => expect(answer).toBeDefined());
    h.out.lost = [LOST];
    answer!();
    await step;
    expect(h.published).toHaveLength(2);
    expect(serialOf(h.published[1]!)).toBe(serialOf(h.published[0]!));
  });

  it('pass/a loss seen soon after a repair is warned of with the time from which it will be put back, not as being put back now', async () => {
    const { h } = await installed();
    h.out.lost = [LOST];
    await h.sidecar.probeReadiness();
    await h.sidecar.step();
    const repairedAt = h.clock.nowMs();
    expect(lossWarnings(h).map((l) => l.msg)).toEqual([`--out no longer holds what the agent installed (${LOST}); installing the same SVID, key, bundle and CRL again`]);
    h.clock.advance(5);
    h.out.lost = [LOST];
    await h.sidecar.probeReadiness();
    // Half the 30-s --sync-interval after the repair.
    const from = new Date(repairedAt + 15_000).toISOString();
    expect(lossWarnings(h).map((l) => l.msg)[1]).toBe(
      `--out no longer holds what the agent installed (${LOST}); installing the same SVID, key, bundle and CRL again at the first step from ${from} (after one repair, the next waits half --sync-interval)`,
    );
  });

  it('fail/warns of a second, different loss seen while the first was being put back', async () => {
    const { h } = await installed();
    h.out.lost = [LOST];
    await h.sidecar.probeReadiness();
    h.out.lost = [LOST, 'bundle.pem is missing from --out'];
    await h.sidecar.probeReadiness();
    expect(lossWarnings(h)).toHaveLength(2);
  });

  it('fail/installs the files again while the CA is down and backing off: it needs no CA', async () => {
    const { h } = await installed();
    h.ca.failure = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8443'), { code: 'ECONNREFUSED' });
    await runFor(h, 120);
    const asked = h.ca.calls.length;
    h.out.lost = [LOST];
    h.clock.advance(1);
    await h.sidecar.step();
    expect({ published: h.published.length, asked: h.ca.calls.length, ready: await h.sidecar.probeReadiness() }).toEqual({ published: 2, asked, ready: undefined });
    expect(serialOf(h.published[1]!)).toBe(serialOf(h.published[0]!));
  });

  it('fail/--out that cannot take the files again: said at error level, not ready, and installed at a later step once it can, warned of once', async () => {
    const { h } = await installed();
    h.out.lost = [LOST];
    h.out.failure = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    await h.sidecar.step();
    expect(h.published).toHaveLength(1);
    expect(h.logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['could not install the SVID in --out: ENOSPC: no space left on device, write; will retry']);
    expect(await h.sidecar.probeReadiness()).toBe(NOT_READY);

    h.out.failure = undefined;
    h.clock.advance(30);
    await h.sidecar.step();
    expect({ published: h.published.length, ready: await h.sidecar.probeReadiness(), warnings: lossWarnings(h).length }).toEqual({ published: 2, ready: undefined, warnings: 1 });
  });
});

describe('restarted with an SVID already installed in --out', () => {
  it('pass/a valid one for the entry is kept: ready at once, its expiry reported, and the CA retried at the pace of an agent with a valid SVID', async () => {
    const { first, restart } = await agentWithSavedState();
    first.ca.failure = new Error('connect ECONNREFUSED');
    const restarted = await restart(10 * 60, { out: first.published[0]! });
    expect(restarted.sidecar.ready()).toBe(true);
    expect(restarted.sidecar.status().installed?.serial).toBe(first.sidecar.status().installed!.serial);
    // The workload SVID (1 hour, from 12:00) has 50 minutes left.
    expect(renderAgentMetrics(restarted.sidecar.status(), restarted.clock, '0')).toMatch(/^meshca_agent_svid_expiry_seconds 3000$/m);
    const before = first.ca.calls.length;
    await runFor(restarted, 10 * 60);
    // Without a valid SVID it would try every few seconds: over a hundred times in 10 minutes.
    expect(first.ca.calls.length - before).toBeLessThan(5);
    expect({ published: restarted.published.length, ready: restarted.sidecar.ready() }).toEqual({ published: 0, ready: true });
  });

  // A crash between installing and reloading leaves the proxy on the files before: nothing else would reload it.
  it.each([
    { ca: 'down', failure: new Error('connect ECONNREFUSED') },
    { ca: 'there', failure: undefined },
  ])('pass/a kept one is reloaded into the proxy once at start, with the CA $ca', async ({ failure }) => {
    const { first, restart } = await agentWithSavedState();
    first.ca.failure = failure;
    const restarted = await restart(10 * 60, { out: first.published[0]! });
    await runFor(restarted, 10 * 60);
    expect({ published: restarted.published.length, reloads: restarted.reloads.ok }).toEqual({ published: 0, reloads: 1 });
  });

  it('pass/a valid one for the entry is renewed at half of its life, not at once, when the CA is there', async () => {
    const { clock, first, restart } = await agentWithSavedState();
    const halfLife = halfLifeOf(first.sidecar.status().installed!);
    const restarted = await restart(10 * 60, { out: first.published[0]! });
    await restarted.sidecar.step();
    expect(first.ca.calls.at(-1)).toBe('sync');
    clock.set(halfLife - 2000);
    await restarted.sidecar.step();
    expect(restarted.published).toHaveLength(0);
    clock.set(halfLife + 1000);
    await restarted.sidecar.step();
    expect(restarted.published).toHaveLength(1);
  });

  it.each([
    ['fail/its key is not its certificate\'s', 10 * 60, {}, (files: PublishedFile[], otherKey: string) => files.map((f) => (f.name === 'svid_key.pem' ? { ...f, data: otherKey } : f))],
    ['fail/it has expired', 61 * 60, {}, (files: PublishedFile[]) => files],
    ['fail/it is not for --spiffe-id', 10 * 60, { spiffeId: 'spiffe://example.org/ns/db' }, (files: PublishedFile[]) => files],
  ])('%s: it counts as none (not ready, retried at the pace of an agent without one)', async (_name, afterSeconds, settings, alter) => {
    const { first, restart } = await agentWithSavedState();
    first.ca.failure = new Error('connect ECONNREFUSED');
    const otherKey = (await newKeyWithCsr('ec-p256')).keyPem;
    const restarted = await restart(afterSeconds, { out: alter(first.published[0]!, otherKey), settings });
    expect({ ready: restarted.sidecar.ready(), installed: restarted.sidecar.status().installed }).toEqual({ ready: false, installed: undefined });
  });

  it.each([
    ['other DNS names', (e: EntryWire) => ({ ...e, revision: 2, dns: ['web.example'] })],
    ['another SPIFFE ID', (e: EntryWire) => ({ ...e, revision: 2, spiffeId: 'spiffe://example.org/ns/db' })],
  ])('fail/one the entry no longer matches (changed to %s while the agent was down) is replaced in the first step', async (_what, change) => {
    const { first, restart } = await agentWithSavedState();
    const restarted = await restart(10 * 60, { out: first.published[0]! });
    first.ca.entries[0] = change(first.ca.entries[0]!);
    await restarted.sidecar.step();
    expect(restarted.published).toHaveLength(1);
    expect(restarted.sidecar.status().installed?.spiffeId).toBe(first.ca.entries[0]!.spiffeId);
  });

  it('fail/one another CA issued (a CA rebuilt, or the agent moved to another) is replaced in the first step, as no peer of this bundle takes it', async () => {
    const { clock, first, restart } = await agentWithSavedState();
    const elsewhere = await harness({}, fixedRandom(0.5), { clock });
    elsewhere.ca.addEntry('spiffe://example.org/ns/web');
    await elsewhere.sidecar.step();
    const foreign = elsewhere.published[0]!;
    const restarted = await restart(10 * 60, { out: foreign });
    expect(restarted.sidecar.status().installed?.serial).toBe(serialOf(foreign).toLowerCase());
    await restarted.sidecar.step();
    expect(restarted.published).toHaveLength(1);
    expect(serialOf(restarted.published[0]!)).not.toBe(serialOf(foreign));
    expect(bundleOf(restarted.published[0]!)).toBe(first.ca.bundlePem);
  });

  it('fail/one another CA issued is not ready, and says why, while the CA will not issue its replacement', async () => {
    const { clock, first, restart } = await agentWithSavedState();
    const elsewhere = await harness({}, fixedRandom(0.5), { clock });
    elsewhere.ca.addEntry('spiffe://example.org/ns/web');
    await elsewhere.sidecar.step();
    const restarted = await restart(10 * 60, { out: elsewhere.published[0]! });
    first.ca.refusals.set('svids', new CaRequestError(503, 'ca_unavailable', 'busy'));
    await restarted.sidecar.step();
    expect({ ready: restarted.sidecar.ready(), reason: restarted.sidecar.notReadyReason() }).toEqual({
      ready: false,
      reason: 'the installed SVID does not chain to the trust bundle (another CA issued it)',
    });
  });
});

/**
 * An agent with --state-dir that the CA then refused (evicted) in its next
 * sync, as the first run after `meshca agent evict` notices it: `restart` is
 * a retried init container or a restarted sidecar.
 */
async function evictedAgent() {
  const saved = await agentWithSavedState();
  saved.first.ca.refusals.set('sync', new CaRequestError(403, 'agent_evicted', 'agent node-1 was evicted'));
  saved.clock.advance(31);
  await saved.first.sidecar.step();
  expect(saved.first.sidecar.status().agentRefused).toBe(true);
  return saved;
}

const NO_TOKEN = { joinToken: undefined };
const refusedAndReady = (h: Harness) => ({ refused: h.sidecar.status().agentRefused, ready: h.sidecar.ready() });

describe('a new join token written to --join-token-file', () => {
  /** --join-token-file as the agent reads it: `token` is its content, `failure` what reading it throws. */
  function tokenFile(token: string) {
    const file: { token: string; failure?: Error; reads: number } = { token, reads: 0 };
    const read = async () => {
      file.reads++;
      if (file.failure) throw file.failure;
      return file.token;
    };
    return { file, read };
  }

  it.each([
    { name: 'evicted (its agent SVID refused at a sync)', call: 'sync', status: 403, code: 'agent_evicted' },
    { name: 'its agent SVID revoked (refused at renewal)', call: 'renew', status: 401, code: 'certificate_revoked' },
  ])('pass/lets an agent the CA refused, $name, in again at its next step, without a restart', async ({ call, status, code }) => {
    const { file, read } = tokenFile('good-token');
    const h = await harness({}, fixedRandom(0.5), { readJoinToken: read });
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.refusals.set(call, new CaRequestError(status, code, 'refused'));
    await runFor(h, call === 'renew' ? 40 * 60 : 31);
    expect(h.sidecar.status().agentRefused).toBe(true);
    // The file still holds the token that was spent: it is not tried again, however often the agent looks.
    await runFor(h, 10 * 60);
    const before = { attests: h.ca.count('attest'), reads: file.reads };
    expect(before.attests).toBe(1);
    expect(before.reads).toBeGreaterThan(10);

    h.ca.refusals.delete(call);
    h.ca.acceptedToken = 'second-token';
    file.token = 'second-token\n';
    await runFor(h, 30); // one sync interval at most, however long the backoff
    expect({ attests: h.ca.count('attest'), refused: h.sidecar.status().agentRefused, ready: h.sidecar.ready() }).toEqual({
      attests: 2, refused: false, ready: true,
    });
    expect(h.logs.filter((l) => l.msg === 'found a new join token in --join-token-file')).toHaveLength(1);
  });

  /** An agent that installed an SVID and was then evicted (refused at a sync), its --join-token-file still holding the spent token. */
  async function evicted() {
    const { file, read } = tokenFile('good-token');
    const h = await harness({}, fixedRandom(0.5), { readJoinToken: read });
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.refusals.set('sync', new CaRequestError(403, 'agent_evicted', 'agent node-1 was evicted'));
    await runFor(h, 31);
    h.ca.refusals.delete('sync');
    return { h, file };
  }

  it('fail/evicted, with only the spent token in --join-token-file, says to write a new one there for its own name, not to restart', async () => {
    const { h } = await evicted();
    await runFor(h, 60);
    const advice = h.logs.filter((l) => l.err?.startsWith('no valid agent SVID')).map((l) => l.err);
    expect(advice.at(-1)).toBe(
      'no valid agent SVID and no unused join token: write a new one (meshca token create --agent node-1) to --join-token-file, which the agent reads again at each step',
    );
  });

  it('fail/is not ready between attesting again after an eviction and taking in the sync that says what it revoked', async () => {
    const { h, file } = await evicted();
    expect(h.sidecar.status().agentRefused).toBe(true);
    h.ca.acceptedToken = 'second-token';
    file.token = 'second-token\n';
    // The sync after the attestation is held until the test lets it through, as a slow CA would.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const sync = h.ca.sync.bind(h.ca);
    let syncing = false;
    h.ca.sync = async () => {
      syncing = true;
      await held;
      return sync();
    };
    const step = h.sidecar.step();
    while (!syncing) await new Promise((resolve) => setImmediate(resolve));
    expect(h.ca.count('attest')).toBe(2);
    expect(h.sidecar.status().agentRefused).toBe(false);
    expect(h.sidecar.notReadyReason()).toBe(
      'the agent attested again after the CA refused it, and has not yet synced the CRLs that may revoke the installed SVID (an eviction or ban revokes it too)',
    );
    release();
    await step;
    expect(h.sidecar.ready()).toBe(true);
  });

  it('pass/ends the backoff of a banned agent once a new token is written after the unban', async () => {
    const { file, read } = tokenFile('good-token');
    const h = await harness({}, fixedRandom(0.5), { readJoinToken: read });
    h.ca.addEntry('spiffe://example.org/ns/web');
    h.ca.refusals.set('attest', new CaRequestError(403, 'agent_banned', 'agent node-1 is banned'));
    await runFor(h, 5 * 60);
    const attempts = h.ca.count('attest');
    h.ca.refusals.delete('attest');
    h.ca.acceptedToken = 'after-unban';
    file.token = 'after-unban';
    const wait = await h.sidecar.step();
    expect({ attests: h.ca.count('attest'), installed: h.published.length, ready: h.sidecar.ready() }).toEqual({
      attests: attempts + 1, installed: 1, ready: true,
    });
    expect(wait).toBeGreaterThan(50);
  });

  it('fail/a token file it cannot read is said once, not at every step, and read again until it can be', async () => {
    const { file, read } = tokenFile('good-token');
    const h = await harness({}, fixedRandom(0.5), { readJoinToken: read });
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    h.ca.refusals.set('sync', new CaRequestError(403, 'agent_evicted', 'agent node-1 was evicted'));
    file.failure = Object.assign(new Error("EACCES: permission denied, open '/etc/meshca/join-token'"), { code: 'EACCES' });
    await runFor(h, 5 * 60);
    expect(h.logs.filter((l) => l.msg.startsWith('could not read --join-token-file'))).toEqual([
      { level: 'warn', msg: 'could not read --join-token-file again for a new join token', err: "EACCES: permission denied, open '/etc/meshca/join-token'" },
    ]);
    h.ca.refusals.delete('sync');
    h.ca.acceptedToken = 'second-token';
    file.failure = undefined;
    file.token = 'second-token';
    await runFor(h, 30);
    expect(h.sidecar.status().agentRefused).toBe(false);
  });

  it('pass/a token made for another agent name is taken, with a warning naming both identities', async () => {
    const { h, file } = await evicted();
    h.ca.agentName = 'node-2';
    h.ca.acceptedToken = 'node-2-token';
    file.token = 'node-2-token';
    await runFor(h, 30);
    expect(h.sidecar.status().agentSvid?.spiffeId).toBe('spiffe://example.org/meshca/agent/node-2');
    expect(h.logs.filter((l) => l.level === 'warn' && l.msg.startsWith('attested as'))).toEqual([
      {
        level: 'warn',
        msg: 'attested as spiffe://example.org/meshca/agent/node-2, not as spiffe://example.org/meshca/agent/node-1 as before: the join token was made for another agent name, whose entries it now serves',
      },
    ]);
  });

  it('pass/is not read while the agent holds an agent SVID', async () => {
    const { file, read } = tokenFile('good-token');
    const h = await harness({}, fixedRandom(0.5), { readJoinToken: read });
    h.ca.addEntry('spiffe://example.org/ns/web');
    await runFor(h, 10 * 60);
    expect({ reads: file.reads, attests: h.ca.count('attest') }).toEqual({ reads: 1, attests: 1 });
  });
});

describe('roots added to --trust-bundle', () => {
  async function withBundleFile() {
    const reads = { count: 0 };
    const file: { pem: string; failure?: Error } = { pem: '' };
    const read = async () => {
      reads.count++;
      if (file.failure) throw file.failure;
      return file.pem;
    };
    const h = await harness({}, fixedRandom(0.5), { readTrustBundle: read });
    file.pem = h.ca.bundlePem;
    h.ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    // The CA now serves under a root this agent never had (a rotation it slept through, forced).
    const newRoot = (await FakeCaApi.create(h.clock)).bundlePem;
    h.ca.requiredRoot = newRoot;
    h.ca.bundlePem = `${h.ca.bundlePem}${newRoot}`;
    return { h, file, reads, newRoot };
  }

  it('pass/an agent that cannot verify the CA any more trusts, at its next step, roots the operator added to --trust-bundle, and installs them', async () => {
    const { h, file, newRoot } = await withBundleFile();
    await runFor(h, 120);
    expect(h.logs.some((l) => l.err === 'unable to get local issuer certificate')).toBe(true);
    file.pem = h.ca.bundlePem; // the operator's copy of the CA's new bundle
    const syncs = h.ca.count('sync');
    await runFor(h, 30); // one sync interval at most, whatever the backoff
    expect(h.ca.count('sync')).toBeGreaterThan(syncs);
    expect(h.ca.configured?.trustPem).toContain(newRoot.trim());
    expect(bundleOf(h.published.at(-1)!)).toContain(newRoot.trim());
    expect(h.logs.filter((l) => l.msg.startsWith('trusting the roots added to --trust-bundle'))).toHaveLength(1);
  });

  it('fail/a --trust-bundle that holds nothing readable is warned of once, and the agent keeps the roots it has', async () => {
    const { h, file } = await withBundleFile();
    const trusted = h.ca.configured?.trustPem;
    file.pem = 'not a certificate';
    await runFor(h, 300);
    expect(h.logs.filter((l) => l.msg === 'could not read --trust-bundle again for roots added since the start')).toEqual([
      { level: 'warn', msg: 'could not read --trust-bundle again for roots added since the start', err: 'it holds no PEM certificate' },
    ]);
    expect(h.ca.configured?.trustPem).toBe(trusted);
  });

  // `root retire` leaves the old root in a ConfigMap made from `meshca bundle` before it; whoever holds that root's key
  // and can make the CA unreachable would otherwise pass for the CA at every outage.
  it.each([
    ['left in a --trust-bundle that held it at start', (old: string, current: string) => ({ atStart: old + current, later: old + current })],
    ['written to --trust-bundle after the CA dropped it', (old: string, current: string) => ({ atStart: current, later: old + current })],
  ])('fail/a root the CA has retired, %s, is not trusted again while the CA cannot be reached', async (_case, files) => {
    const clock = new FakeClock(Date.UTC(2026, 10, 25, 12, 0, 0));
    const ca = await FakeCaApi.create(clock);
    const current = ca.bundlePem;
    const retired = (await FakeCaApi.create(clock)).bundlePem;
    const { atStart, later } = files(retired, current);
    const file = { pem: atStart };
    ca.bundlePem = retired + current; // prepared, then activated: both roots in the CA's bundle
    const h = await harness({}, fixedRandom(0.5), { clock, ca, trustPem: atStart, readTrustBundle: async () => file.pem });
    ca.addEntry('spiffe://example.org/ns/web');
    await h.sidecar.step();
    ca.bundlePem = current; // retired
    await runFor(h, 60);
    expect(bundleOf(h.published.at(-1)!)).toBe(current);
    file.pem = later;
    ca.failure = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8443'), { code: 'ECONNREFUSED' });
    await runFor(h, 300);
    expect({
      trusted: h.ca.configured?.trustPem,
      installed: bundleOf(h.published.at(-1)!),
      taken: h.logs.filter((l) => l.msg.startsWith('trusting the roots added to --trust-bundle')),
    }).toEqual({ trusted: current, installed: current, taken: [] });
  });

  it('pass/is not read while the CA answers', async () => {
    const { h, reads } = await withBundleFile();
    h.ca.requiredRoot = undefined;
    await runFor(h, 40 * 60); // past the workload SVID's renewal at half of its hour
    expect({ reads: reads.count, renewed: h.published.length > 1 }).toEqual({ reads: 0, renewed: true });
  });
});

// `root retire` leaves the old root in a ConfigMap made from `meshca bundle` before it. Within one run the agent keeps it
// out (above); a restart, which starts from --trust-bundle again, must not take it back while the CA cannot be reached,
// or whoever holds that root's key and can intercept the agent passes for the CA, and installs its own bundle.
describe('a root the CA retired, still in --trust-bundle, across restarts', () => {
  /**
   * The CA held both roots and then retired one; the agent (with --state-dir)
   * synced before and after. `upgraded`: the agent first ran a build that
   * kept no record of retired roots, and saved the bundle of both roots; this
   * build starts from that state directory and syncs after the retirement.
   */
  async function agentThatSawRetirement({ upgraded = false, stateDir = tempDir(), state = new StateStore(stateDir) } = {}) {
    const clock = new FakeClock(Date.UTC(2026, 10, 25, 12, 0, 0));
    const ca = await FakeCaApi.create(clock);
    const current = ca.bundlePem;
    const retired = (await FakeCaApi.create(clock)).bundlePem;
    const configMap = retired + current; // made before the retirement, never updated
    if (upgraded) await state.saveBundle(retired + current);
    ca.bundlePem = upgraded ? current : retired + current;
    const first = await harness({}, fixedRandom(0.5), { clock, ca, state, trustPem: configMap, readTrustBundle: async () => configMap });
    await first.sidecar.restore();
    ca.addEntry('spiffe://example.org/ns/web');
    await first.sidecar.step();
    ca.bundlePem = current; // `meshca authority root retire`
    await runFor(first, 60);
    expect(bundleOf(first.published.at(-1)!)).toBe(current);
    return { clock, ca, state, stateDir, current, retired, configMap, first };
  }

  /** The agent restarted (a pod rescheduled, an OOM kill) with `trustBundle` as --trust-bundle, and run for five minutes while the CA refuses connections. */
  async function restartedWhileCaUnreachable(
    was: { clock: FakeClock; ca: FakeCaApi; state: StateStore; configMap: string; first: Harness },
    trustBundle = was.configMap,
  ): Promise<Harness> {
    was.ca.failure = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8443'), { code: 'ECONNREFUSED' });
    const h = await harness({}, fixedRandom(0.5), {
      clock: was.clock, ca: was.ca, state: was.state, trustPem: trustBundle, readTrustBundle: async () => trustBundle, out: was.first.published.at(-1)!,
    });
    await h.sidecar.restore();
    await runFor(h, 300);
    return h;
  }

  const whatItTrusts = (h: Harness, roots: Record<string, string>) => {
    const holds = (pem: string | undefined) => Object.fromEntries(Object.entries(roots).map(([name, root]) => [name, pem?.includes(root.trim()) ?? false]));
    return { verifiesTheCaWith: holds(h.ca.configured?.trustPem), installed: holds(h.published.map(bundleOf).join('')) };
  };

  it('fail/is not trusted again, nor installed, by an agent restarted while the CA cannot be reached', async () => {
    const was = await agentThatSawRetirement();
    const h = await restartedWhileCaUnreachable(was);
    expect(whatItTrusts(h, { retired: was.retired, current: was.current })).toEqual({
      verifiesTheCaWith: { retired: false, current: true },
      installed: { retired: false, current: false }, // nothing new to install: --out already holds the CA's bundle
    });
  });

  it('fail/is left out while a root the CA never held, which --trust-bundle gained ahead of `root prepare`, is taken', async () => {
    const was = await agentThatSawRetirement();
    const next = (await FakeCaApi.create(was.clock)).bundlePem;
    const h = await restartedWhileCaUnreachable(was, was.configMap + next);
    expect(whatItTrusts(h, { retired: was.retired, current: was.current, next }).verifiesTheCaWith).toEqual({ retired: false, current: true, next: true });
  });

  it('fail/is left out by an agent killed after recording the retirement but before saving the bundle that made it', async () => {
    const was = await agentThatSawRetirement();
    await was.state.saveBundle(was.retired + was.current); // the bundle saved before the retirement
    const h = await restartedWhileCaUnreachable(was);
    expect(whatItTrusts(h, { retired: was.retired, current: was.current }).verifiesTheCaWith).toEqual({ retired: false, current: true });
  });

  it('fail/is left out once an agent upgraded from a build that kept no record has seen the CA without it', async () => {
    const was = await agentThatSawRetirement({ upgraded: true });
    const h = await restartedWhileCaUnreachable(was);
    expect(whatItTrusts(h, { retired: was.retired, current: was.current }).verifiesTheCaWith).toEqual({ retired: false, current: true });
  });

  it('fail/is recorded at a later sync when --state-dir refused the record, so that a restart then leaves it out', async () => {
    const stateDir = tempDir();
    const disk = { full: true };
    const was = await agentThatSawRetirement({ stateDir, state: stateDirRefusing('saveRetiredRoots', stateDir, disk) });
    expect(was.first.logs.some((l) => l.level === 'warn' && l.msg.startsWith('could not save the trust bundle or the retired roots'))).toBe(true);
    disk.full = false;
    await runFor(was.first, 31);
    const h = await restartedWhileCaUnreachable(was);
    expect(whatItTrusts(h, { retired: was.retired, current: was.current }).verifiesTheCaWith).toEqual({ retired: false, current: true });
  });

  it('fail/says so at error level when every root left to trust was retired, rather than trust it', async () => {
    const was = await agentThatSawRetirement();
    rmSync(join(was.stateDir, 'ca_bundle.pem')); // and --trust-bundle holds the retired root alone
    const h = await restartedWhileCaUnreachable(was, was.retired);
    expect({
      trusted: h.ca.configured?.trustPem,
      said: h.logs.filter((l) => l.msg.startsWith('the CA has retired every root --trust-bundle holds')).map((l) => l.level),
    }).toEqual({ trusted: '', said: ['error'] });
  });

  // Written by one rename, the record is damaged only from outside the agent: the restart trusts as an agent without it did.
  it('fail/a record of retired roots that cannot be read is warned of, and written anew at the next sync', async () => {
    const was = await agentThatSawRetirement();
    writeFileSync(join(was.stateDir, 'retired_roots.pem'), '-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n');
    const h = await harness({}, fixedRandom(0.5), { clock: was.clock, ca: was.ca, state: was.state, trustPem: was.configMap, out: was.first.published.at(-1)! });
    await h.sidecar.restore();
    expect(h.logs.filter((l) => l.msg.startsWith('the record of retired roots in the state directory is unreadable')).map((l) => l.level)).toEqual(['warn']);
    await runFor(h, 60);
    expect((await was.state.load()).retiredRoots).toEqual([]);
  });
});

describe('restarted after the CA refused the agent', () => {
  // What --once exits on (1 when refused) and /readyz answers: the SVID in --out is valid-looking, but the eviction revoked it.
  it.each([
    { name: 'its SVID still in --out', out: true },
    { name: 'nothing in --out', out: false },
  ])('fail/with $name: refused and not ready at start and after a single step (--once), without a new join token', async ({ out }) => {
    const { first, restart } = await evictedAgent();
    const restarted = await restart(60, { settings: NO_TOKEN, ...(out ? { out: first.published[0]! } : {}) });
    const atStart = refusedAndReady(restarted);
    await restarted.sidecar.step();
    expect({ atStart, afterOneStep: refusedAndReady(restarted) }).toEqual({
      atStart: { refused: true, ready: false },
      afterOneStep: { refused: true, ready: false },
    });
    expect(restarted.sidecar.status().installed?.serial).toBe(out ? first.sidecar.status().installed!.serial : undefined);
  });

  it('fail/stays refused however often it restarts, also once the CA no longer answers', async () => {
    const { first, restart } = await evictedAgent();
    await restart(60, { settings: NO_TOKEN, out: first.published[0]! });
    first.ca.failure = new Error('connect ECONNREFUSED');
    const again = await restart(60, { settings: NO_TOKEN, out: first.published[0]! });
    await again.sidecar.step();
    expect(refusedAndReady(again)).toEqual({ refused: true, ready: false });
  });

  it('pass/attesting with a new join token ends the refusal: ready again, and the record of it gone from --state-dir', async () => {
    const { first, stateDir, restart } = await evictedAgent();
    first.ca.refusals.delete('sync'); // re-enrolled: the CA accepts the new token's agent SVID
    const restarted = await restart(60, { out: first.published[0]! });
    const before = { ...refusedAndReady(restarted), files: readdirSync(stateDir) };
    await restarted.sidecar.step();
    expect({ before, after: { ...refusedAndReady(restarted), files: readdirSync(stateDir) } }).toEqual({
      before: { refused: true, ready: false, files: ['agent_refused.json', 'ca_bundle.pem'] },
      after: { refused: false, ready: true, files: ['agent_credential.pem', 'ca_bundle.pem'] },
    });
    const later = await restart(60, { settings: NO_TOKEN });
    expect(refusedAndReady(later).refused).toBe(false);
  });
});

/** A state directory whose process is killed right after the refusal is recorded, before the refused credential is removed. */
class KilledBeforeForgetting extends StateStore {
  override async forgetCredential(): Promise<void> {
    throw new Error('killed');
  }
}

/** A state directory whose disk refuses writes while `full` is set (ENOSPC). */
class FillingDisk extends StateStore {
  full = false;
  override async recordRefusal(r: Parameters<StateStore['recordRefusal']>[0]): Promise<void> {
    if (this.full) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    return super.recordRefusal(r);
  }
}

describe('a refusal the state directory could not take at once', () => {
  it('fail/is recorded, and the refused credential forgotten, at a later step once the disk takes it: a restart then starts refused', async () => {
    const { clock, first, stateDir, restart } = await agentWithSavedState();
    const disk = new FillingDisk(stateDir);
    const running = await harness(NO_TOKEN, fixedRandom(0.5), { clock, ca: first.ca, state: disk });
    await running.sidecar.restore();
    first.ca.refusals.set('sync', new CaRequestError(403, 'agent_evicted', 'agent node-1 was evicted'));
    disk.full = true;
    clock.advance(31);
    await running.sidecar.step();
    expect(readdirSync(stateDir)).toEqual(['agent_credential.pem', 'ca_bundle.pem']);
    expect(running.logs.filter((l) => l.level === 'error').map((l) => l.msg)).toContain(
      'could not record in the state directory that the CA refused the agent (is its disk full or read-only?); tried again at the next step',
    );

    disk.full = false;
    clock.advance(31);
    await running.sidecar.step();
    expect(readdirSync(stateDir)).toEqual(['agent_refused.json', 'ca_bundle.pem']);
    const restarted = await restart(60, { settings: NO_TOKEN, out: first.published[0]! });
    expect(refusedAndReady(restarted)).toEqual({ refused: true, ready: false });
  });
});

describe('restarted after a crash', () => {
  it('removes the temporary file a crash left in --state-dir while saving the agent credential (it holds a private key)', async () => {
    const { stateDir, restart } = await agentWithSavedState();
    const leftover = join(stateDir, '.agent_credential.pem.0123456789ab.tmp');
    writeFileSync(leftover, 'a private key and its certificate', { mode: 0o600 });
    await restart(60);
    expect(existsSync(leftover)).toBe(false);
  });

  it('fail/killed after recording a refusal but before forgetting the refused credential, it starts refused, not with that credential', async () => {
    const { clock, first, stateDir, restart } = await agentWithSavedState();
    const killed = await harness(NO_TOKEN, fixedRandom(0.5), { clock, ca: first.ca, state: new KilledBeforeForgetting(stateDir) });
    await killed.sidecar.restore();
    first.ca.refusals.set('sync', new CaRequestError(403, 'agent_evicted', 'agent node-1 was evicted'));
    await killed.sidecar.step();
    const restarted = await restart(60, { settings: NO_TOKEN, out: first.published[0]! });
    expect({ ...refusedAndReady(restarted), agentSvid: restarted.sidecar.status().agentSvid }).toEqual({ refused: true, ready: false, agentSvid: undefined });
  });
});

describe('backoff', () => {
  it.each([
    [1, 500, 1000],
    [2, 1000, 2000],
    [3, 2000, 4000],
    [10, 30_000, 60_000],
  ])('retry %i waits between %i and %i ms', (attempt, min, max) => {
    const random = seededRandom(`b${attempt}`);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(attempt, { initialMs: 1000, maxMs: 60_000 }, random);
      expect(d).toBeGreaterThanOrEqual(min);
      expect(d).toBeLessThanOrEqual(max);
    }
  });
});
