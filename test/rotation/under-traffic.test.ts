/**
 * Ten pairs of agents whose workloads make mutual-TLS handshakes continuously
 * while the CA rotates its intermediate on schedule and an operator rotates
 * the root — with the CA killed (SIGKILL) between prepare and activate. Not one
 * handshake may fail, and every agent must have the new root in its bundle
 * before any SVID chaining to it is installed anywhere.
 */
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/cli/admin-client.js';
import { localEndpoint } from '../../src/cli/local-endpoint.js';
import { decodeCertificates } from '../../src/x509/pem.js';
import { cleanupLater } from '../support/cleanup.js';
import { svidCheck } from '../support/conformance.js';
import { runAgent, startPair, type Publication, type RunningAgent, type TrafficPair } from '../support/mesh.js';
import { isRunning, startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';
import type { AuthorityView } from '../../src/server/json-views.js';

const PAIRS = 10;
const LIFETIMES = [
  // SVIDs renew at half-life, 4 s here: room for the CA's restart (about 1.5 s, longer on a busy machine) plus the
  // agents' retry before the SVIDs held at the SIGKILL expire.
  '--intermediate-ttl', '48s', // prepared at 24 s, active at 40 s
  '--svid-ttl', '8s',
  '--svid-max-ttl', '8s',
  '--root-propagation', '6s',
  '--rotation-schedule', '* * * * * *',
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

describe('rotation under traffic', () => {
  let ca: ServerProcess | undefined;
  const agents: RunningAgent[] = [];
  const pairs: TrafficPair[] = [];

  it('drops no handshake through two intermediate rotations, a root rotation and a SIGKILL between prepare and activate', { timeout: 180_000 }, async () => {
    const dataDir = tempDir('rot');
    // The agents' --out directories, beside the data directory rather than in it, removed with it.
    const outs = tempDir('rot-out');
    // Registered after the directories, so run before they are removed: the CA rotates every second and would write into them meanwhile.
    cleanupLater(async () => {
      await Promise.all(pairs.map((p) => p.stop()));
      for (const a of agents) a.stop();
      if (ca && isRunning(ca.pid)) await ca.stop();
    });
    ca = await startServer(['--data-dir', dataDir, ...LIFETIMES]);
    const port = ca.address.split(':')[1]!;
    const admin = new AdminClient(localEndpoint(dataDir));
    const authorities = async () => (await admin.call<{ authorities: AuthorityView[] }>('GET', '/v1/authorities')).authorities;
    const trustPem = (await admin.raw('GET', '/v1/bundle.pem')).body;
    const [oldRootId] = (await authorities()).filter((a) => a.kind === 'root').map((a) => a.id);

    const publications: Publication[] = [];
    for (let i = 0; i < PAIRS; i++) {
      for (const side of ['server', 'client'] as const) {
        const name = `${side}-${i}`;
        await admin.call('POST', '/v1/entries', { agent: name, spiffeId: `spiffe://example.org/pair/${i}/${side}`, dns: ['localhost'] });
        const { token } = await admin.call<{ token: string }>('POST', '/v1/tokens', { agent: name });
        agents.push(runAgent({ name, serverUrl: ca.url, trustPem, token, out: join(outs, name), publications }));
      }
    }
    await until('every agent to install an SVID', async () => (agents.every((a) => a.sidecar.ready()) ? true : undefined), 30_000);
    for (let i = 0; i < PAIRS; i++) {
      pairs.push(
        await startPair(agents[2 * i]!.out, agents[2 * i + 1]!.out, {
          serverId: `spiffe://example.org/pair/${i}/server`,
          clientId: `spiffe://example.org/pair/${i}/client`,
        }),
      );
    }

    // 1. A scheduled intermediate rotation under the first root.
    const firstIntermediate = (await authorities()).find((a) => a.kind === 'intermediate' && a.state === 'active')!.id;
    await until('the first scheduled rotation', async () => {
      const active = (await authorities()).find((a) => a.kind === 'intermediate' && a.state === 'active');
      return active && active.id !== firstIntermediate ? active.id : undefined;
    }, 60_000);

    // 2. Prepare a new root, then kill the CA before it is activated, and start it again.
    const { id: newRootId } = await admin.call<{ id: string }>('POST', '/v1/authorities/root/prepare', {});
    process.kill(ca.pid, 'SIGKILL');
    await until('the CA to die', async () => (isRunning(ca!.pid) ? undefined : true), 5_000);
    ca = await startServer(['--data-dir', dataDir, ...LIFETIMES, '--listen', `127.0.0.1:${port}`]);
    const afterRestart = await authorities();
    expect(afterRestart.find((a) => a.id === newRootId)?.state).toBe('prepared');
    expect(decodeCertificates((await admin.raw('GET', '/v1/bundle.pem')).body)).toHaveLength(2);

    // 3. Activate once the new root has propagated; retire the old one once nothing chains to it.
    await until('activation after propagation', () => admin.call('POST', '/v1/authorities/root/activate', {}), 30_000);
    const activatedAt = Date.now();
    await until('the old root to be retirable', () => admin.call('POST', '/v1/authorities/root/retire', {}), 30_000);
    expect(decodeCertificates((await admin.raw('GET', '/v1/bundle.pem')).body)).toHaveLength(1);

    // 4. A scheduled intermediate rotation under the new root.
    const underNewRoot = (list: AuthorityView[]) => list.filter((a) => a.kind === 'intermediate' && a.parent === newRootId);
    await until('a scheduled rotation under the new root', async () => {
      const list = underNewRoot(await authorities());
      return list.some((a) => a.state === 'retired') && list.some((a) => a.state === 'active') ? true : undefined;
    }, 60_000);
    await sleep(2000);
    await Promise.all(pairs.map((p) => p.stop()));

    // Traffic never failed.
    const total = pairs.reduce((n, p) => n + p.handshakes.ok, 0);
    const failures = pairs.flatMap((p) => p.handshakes.errors);
    expect(failures).toEqual([]);
    expect(total).toBeGreaterThan(1000);
    expect(agents.flatMap((a) => a.problems.filter((p) => p.includes(' fatal: ') || p.includes(' error: ')))).toEqual([]);

    // The root rotation reached every agent's bundle before any SVID under it was installed anywhere.
    const newRoot = (await authorities()).find((a) => a.id === newRootId)!;
    expect(newRoot.state).toBe('active');
    const newRootCert = new X509Certificate(decodeCertificates((await admin.raw('GET', '/v1/bundle.pem')).body)[0]!);
    const trusts = (p: Publication) => decodeCertificates(p.files.get('bundle.pem')!).some((d) => new X509Certificate(d).fingerprint256 === newRootCert.fingerprint256);
    const chainsToNewRoot = (p: Publication) => {
      const [, intermediate] = decodeCertificates(p.files.get('svid.pem')!).map((d) => new X509Certificate(d));
      return intermediate !== undefined && intermediate.checkIssued(newRootCert) && intermediate.verify(newRootCert.publicKey);
    };
    const lastBundleInstall = Math.max(...agents.map((a) => publications.find((p) => p.agent === a.name && trusts(p))!.atMs));
    const firstNewRootSvid = Math.min(...publications.filter(chainsToNewRoot).map((p) => p.atMs));
    expect(lastBundleInstall).toBeLessThan(firstNewRootSvid);
    expect(firstNewRootSvid).toBeGreaterThanOrEqual(activatedAt - 1000);

    // Rotations really happened: two scheduled intermediate activations plus the one the root activation made.
    const list = await authorities();
    expect(list.filter((a) => a.kind === 'intermediate' && a.parent === oldRootId).length).toBeGreaterThanOrEqual(2);
    expect(underNewRoot(list).length).toBeGreaterThanOrEqual(2);
    expect(list.find((a) => a.id === oldRootId)?.state).toBe('retired');

    // What the agents installed passes the independent checker.
    for (const a of agents.slice(0, 2)) expect(svidCheck(a.out, ['--trust-domain', 'example.org', '--max-ttl', '6']).output).toMatch(/PASS/);
  });
});
