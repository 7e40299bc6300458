/** One meshca-agent's resident memory and CPU: idle, and while it renews. */
import { spawn } from 'node:child_process';
import { readlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AdminClient } from '../../src/cli/admin-client.js';
import { cpuSeconds, residentMb, watch } from './proc-stats.js';

const AGENT_BIN = resolve(import.meta.dirname, '../../src/cli/meshca-agent.js');

export interface Footprint {
  readonly idle: { cores: number; peakRssMb: number; rssMb: number };
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

/** The entry's SVIDs live 20 s: the agent installs one, idles, and renews about 10 s later. */
export async function agentFootprint(admin: AdminClient, serverUrl: string, dir: string, idleSeconds: number): Promise<Footprint> {
  await admin.call('POST', '/v1/entries', { agent: 'footprint', spiffeId: 'spiffe://example.org/bench/footprint', ttl: '20s' });
  const { token } = await admin.call<{ token: string }>('POST', '/v1/tokens', { agent: 'footprint' });
  writeFileSync(join(dir, 'bundle.pem'), (await admin.raw('GET', '/v1/bundle.pem')).body);
  const out = join(dir, 'out');
  const child = spawn(process.execPath, [AGENT_BIN, '--server', serverUrl, '--trust-bundle', join(dir, 'bundle.pem'), '--join-token', token, '--out', out, '--log-level', 'warn'], {
    stdio: 'ignore',
  });
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
    const idle = await watch(child.pid!, Math.min(idleSeconds, 7));
    const rssMb = residentMb(child.pid!);
    // Around the renewal: CPU from just before it to just after it, less what idling costs meanwhile.
    const cpu0 = cpuSeconds(child.pid!);
    const t0 = performance.now();
    let peak = rssMb;
    await until(() => {
      peak = Math.max(peak, residentMb(child.pid!));
      return version() !== first;
    }, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    peak = Math.max(peak, residentMb(child.pid!));
    const elapsed = (performance.now() - t0) / 1000;
    const cpuMs = (cpuSeconds(child.pid!) - cpu0 - idle.cores * elapsed) * 1000;
    return { idle: { ...idle, rssMb }, renewal: { cpuMs, peakRssMb: peak } };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}
