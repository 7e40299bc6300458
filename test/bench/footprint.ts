/**
 * One meshca-agent's resident memory and CPU: idle, and while it renews.
 *
 * Idle is measured over IDLE_SECONDS, which covers at least two of the
 * agent's default sync intervals (it re-syncs entries, bundle and CRL with
 * the CA every --sync-interval, 30 s by default), so the periodic work an idle
 * agent does is in the window. The entry's SVIDs live RENEWAL_TTL, long enough
 * that the agent's first renewal comes after the window (checked: a renewal
 * inside it fails the measurement); the renewal is then measured on its own.
 */
import { spawn } from 'node:child_process';
import { readlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AdminClient } from '../../src/cli/admin-client.js';
import { AGENT_OPTIONS } from '../../src/config/agent-config.js';
import { parseDuration } from '../../src/time/duration.js';
import { answeredWithin } from './load.js';
import { stopChild, trackChild } from './meshca-target.js';
import { cpuSeconds, residentMb, watch } from './proc-stats.js';

const AGENT_BIN = resolve(import.meta.dirname, '../../src/cli/meshca-agent.js');

/** The agent's default --sync-interval, in seconds. */
export const SYNC_INTERVAL_SECONDS = parseDuration(AGENT_OPTIONS.syncInterval.default);
/** Two default sync intervals and a little more, so that at least two syncs fall in the window wherever it starts. */
export const IDLE_SECONDS = 2 * SYNC_INTERVAL_SECONDS + 5;
/**
 * The workload SVID's lifetime: renewed about half-way (at 45–55 % of it as the CA books it, 40–60 % by the agent's
 * own jitter, counted from a notBefore set back by a tenth), so 95 s after installation at the earliest: after the idle window.
 */
export const RENEWAL_TTL = '4m';

export interface Footprint {
  /** Over `seconds` of idling: the mean share of a core, and the largest resident set sampled (every 200 ms). */
  readonly idle: { seconds: number; syncIntervalSeconds: number; svidTtl: string; cores: number; peakRssMb: number };
  /** CPU the renewal took (key generation, CSR, request, installation), and the peak RSS around it. */
  readonly renewal: { cpuMs: number; peakRssMb: number };
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting for the agent');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The agent installs a 4-minute SVID, idles for IDLE_SECONDS (measured), then renews it about two minutes after installation. */
export async function agentFootprint(admin: AdminClient, serverUrl: string, dir: string): Promise<Footprint> {
  await answeredWithin('the footprint entry', admin.call('POST', '/v1/entries', { agent: 'footprint', spiffeId: 'spiffe://example.org/bench/footprint', ttl: RENEWAL_TTL }));
  const { token } = await answeredWithin('the footprint token', admin.call<{ token: string }>('POST', '/v1/tokens', { agent: 'footprint' }));
  writeFileSync(join(dir, 'bundle.pem'), (await answeredWithin('the trust bundle', admin.raw('GET', '/v1/bundle.pem'))).body);
  const out = join(dir, 'out');
  const child = trackChild(
    spawn(process.execPath, [AGENT_BIN, '--server', serverUrl, '--trust-bundle', join(dir, 'bundle.pem'), '--join-token', token, '--out', out, '--log-level', 'warn'], {
      stdio: 'ignore',
    }),
  );
  try {
    const version = () => {
      try {
        return readlinkSync(join(out, '..data'));
      } catch {
        return undefined;
      }
    };
    await until(() => version() !== undefined, 15_000);
    const first = version();
    await new Promise((r) => setTimeout(r, 1000));
    const idle = await watch(child.pid!, IDLE_SECONDS);
    if (version() !== first) throw new Error(`the agent renewed during the ${IDLE_SECONDS} s idle window: its CPU figure would not be idle`);
    // Around the renewal: CPU from 3 s before its installation was seen (a renewal takes well under that) to just after it,
    // less what idling costs over the same span; sampled every 100 ms while waiting, so the wait's syncs are left out.
    const samples: Array<{ t: number; cpu: number }> = [];
    let peak = residentMb(child.pid!);
    await until(() => {
      peak = Math.max(peak, residentMb(child.pid!));
      samples.push({ t: performance.now(), cpu: cpuSeconds(child.pid!) });
      if (samples.length > 40) samples.shift();
      return version() !== first;
    }, 180_000);
    await new Promise((r) => setTimeout(r, 300));
    peak = Math.max(peak, residentMb(child.pid!));
    const seen = samples[samples.length - 1]!.t;
    const before = samples.find((s) => s.t >= seen - 3000) ?? samples[0]!;
    const elapsed = (performance.now() - before.t) / 1000;
    const cpuMs = (cpuSeconds(child.pid!) - before.cpu - idle.cores * elapsed) * 1000;
    return {
      idle: { seconds: IDLE_SECONDS, syncIntervalSeconds: SYNC_INTERVAL_SECONDS, svidTtl: RENEWAL_TTL, cores: idle.cores, peakRssMb: idle.peakRssMb },
      renewal: { cpuMs, peakRssMb: peak },
    };
  } finally {
    await stopChild(child);
  }
}
