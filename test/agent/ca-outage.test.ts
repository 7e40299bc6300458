/**
 * The CA going away: the proxy keeps serving with the SVID it has while that
 * is valid, the agent keeps retrying, and once the CA is back the agent renews
 * by itself: no restart, no new join token. A restarted agent needs no token
 * either while its agent SVID in --state-dir is valid.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentArgs, getHealth, installedVersion, runAgent, startAgent } from '../support/agent-process.js';
import { cleanupLater } from '../support/cleanup.js';
import { svidCheck } from '../support/conformance.js';
import { Scrape } from '../support/prometheus.js';
import { meshedNginx, startLoad, type Outcome } from '../support/meshed-nginx.js';
import { servedSerial } from '../support/nginx.js';
import { startCaAt } from '../support/restartable-ca.js';
import { startTestCa, type Settings } from '../support/test-ca.js';
import { tempDir } from '../support/temp-dir.js';
import { freePort, sleep, waitFor } from '../support/wait.js';
import { enrollAgent, readInstalled, writeTrustBundle, type InstalledSet } from '../support/workloads.js';

const OUTAGE_MS = 20_000;

/** A CA, and an agent that attested with a join token and installed an SVID into `out` in one --once run, saving its state. */
async function firstRunWithStateDir() {
  const ca = await startTestCa();
  const dir = tempDir();
  const trustBundle = writeTrustBundle(ca, dir);
  const out = join(dir, 'out');
  const stateDir = join(dir, 'state');
  const { token } = await enrollAgent(ca, 'node-1', 'spiffe://example.org/ns/web');
  const first = await runAgent(agentArgs({ server: ca.url, trustBundle, out, joinToken: token }, '--state-dir', stateDir, '--once'));
  expect(first.code, first.stdout + first.stderr).toBe(0);
  return { ca, dir, trustBundle, out, stateDir, token };
}

describe('a CA outage', () => {
  it('longer than the renewal interval: nginx keeps serving, /readyz stays 200, and the agent renews by itself once the CA is back', { timeout: 120_000 }, async () => {
    // Agent SVIDs and the CA's serving certificate (2 minutes) outlive the outage; the workload SVID (30 s) is due for renewal during it.
    const settings: Settings = { 'svid-ttl': '2m', 'svid-max-ttl': '2m', 'intermediate-ttl': '1h' };
    const first = await startTestCa(settings);
    const { dataDir } = first.config;
    const port = first.address.port;
    const healthPort = await freePort();
    const mesh = await meshedNginx(first, {
      webTtl: '30s',
      clientTtl: '2m',
      agentFlags: (nginx) => ['--reload-cmd', nginx.reloadCommand, '--health-listen', `127.0.0.1:${healthPort}`],
    });

    const readiness: Array<{ atMs: number; status: number }> = [];
    let probing = true;
    cleanupLater(() => (probing = false));
    const prober = (async () => {
      while (probing) {
        readiness.push({ atMs: Date.now(), ...(await getHealth(healthPort, '/readyz')) });
        await sleep(200);
      }
    })();
    const load = startLoad(mesh);

    // The outage starts right after an installation: that SVID (30 s) must carry nginx through it.
    let before: InstalledSet | undefined;
    let after: InstalledSet | undefined;
    let outcomes: Outcome[];
    let outageStarted = 0;
    let restarted = 0;
    try {
      await first.close();
      outageStarted = Date.now();
      // Read once the CA is closed and the agent had a moment to install an answer it got while the CA was closing.
      await sleep(500);
      before = readInstalled(mesh.out);
      await sleep(OUTAGE_MS);
      expect(installedVersion(mesh.out), 'nothing can be installed while the CA is away').toBe(before.version);

      await startCaAt(dataDir, port, settings);
      restarted = Date.now();
      await waitFor('the agent to install a new SVID from the returned CA', () => installedVersion(mesh.out) !== before!.version, 15_000);
      after = readInstalled(mesh.out);
      // nginx serves the new SVID (or a later one, should the agent have renewed again meanwhile).
      await waitFor('nginx to serve an SVID installed after the outage', async () => (await servedSerial(mesh.nginx.port, mesh.clientTls)) !== before!.leaf.serialNumber, 10_000);
      await sleep(1_000);
    } finally {
      outcomes = await load.stop();
      probing = false;
      await prober;
    }

    // The outage was real and long enough: the SVID came due while the CA was away, and the agent kept trying.
    const validUntil = Date.parse(before!.leaf.validTo);
    expect(restarted).toBeLessThan(validUntil);
    const warnings = mesh.agent.logLines().filter((l) => l.msg === 'could not reach or use the CA; will retry' && Date.parse(String(l.time)) >= outageStarted);
    expect(warnings.length).toBeGreaterThan(0);

    const failures = outcomes.filter((o) => !o.ok);
    expect(failures.slice(0, 5), `${failures.length} of ${outcomes.length} requests failed`).toEqual([]);
    expect(outcomes.filter((o) => o.via === 'curl' && o.atMs > outageStarted && o.atMs < restarted).length).toBeGreaterThan(20);
    const notReady = readiness.filter((r) => r.status !== 200);
    expect(notReady.slice(0, 5), `${notReady.length} of ${readiness.length} /readyz probes were not 200`).toEqual([]);

    expect(after!.leaf.serialNumber).not.toBe(before!.leaf.serialNumber);
    expect(after!.keyMatches).toBe(true);
    expect(svidCheck(mesh.out, ['--trust-domain', 'example.org', '--max-ttl', '30']).ok).toBe(true);
    expect(mesh.agent.running()).toBe(true);
    expect(mesh.agent.logLines().filter((l) => l.msg === 'attested with the join token')).toEqual([]);
  });

  it('outlasting the SVID: /readyz turns 503 when it expires, and the agent recovers within seconds of the CA coming back', { timeout: 90_000 }, async () => {
    const settings: Settings = { 'svid-ttl': '2m', 'svid-max-ttl': '2m', 'intermediate-ttl': '1h' };
    const ca = await startTestCa(settings);
    const dir = tempDir();
    const out = join(dir, 'out');
    const healthPort = await freePort();
    const { token } = await enrollAgent(ca, 'node-1', 'spiffe://example.org/ns/web', { ttl: '6s' });
    const agent = startAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out, joinToken: token }, '--health-listen', `127.0.0.1:${healthPort}`));
    await agent.waitForLog((l) => l.msg === 'installed a new SVID', 15_000);

    await ca.close();
    const outageStarted = Date.now();
    await sleep(500);
    const before = readInstalled(out);
    expect((await getHealth(healthPort, '/readyz')).status).toBe(200);
    await waitFor('/readyz to answer 503', async () => (await getHealth(healthPort, '/readyz')).status === 503, 15_000);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(before.leaf.validTo));
    await agent.waitForLog((l) => l.msg === 'the installed SVID has expired and could not be renewed', 5_000);
    await sleep(Math.max(0, outageStarted + 10_000 - Date.now()));

    await startCaAt(ca.config.dataDir, ca.address.port, settings);
    const back = Date.now();
    // Its agent SVID (2 minutes) is still good, so nothing stands in the way but the agent's own retry delay,
    // which should be of the order of the time it has been failing (10 s), not its one-minute ceiling.
    await waitFor('the agent to install a new SVID after the CA came back', () => installedVersion(out) !== before.version, 15_000, 200);
    expect(Date.now() - back).toBeLessThan(15_000);
    await waitFor('/readyz to answer 200 again', async () => (await getHealth(healthPort, '/readyz')).status === 200, 5_000);
    expect(readInstalled(out).keyMatches).toBe(true);
  });

  it('a restarted agent with --state-dir and no --join-token reuses its agent SVID and installs an SVID', { timeout: 60_000 }, async () => {
    const { ca, dir, trustBundle, out, stateDir, token } = await firstRunWithStateDir();
    const firstSerial = readInstalled(out).leaf.serialNumber;
    expect({
      dir: statSync(stateDir).mode & 0o777,
      credential: statSync(join(stateDir, 'agent_credential.pem')).mode & 0o777,
    }).toEqual({ dir: 0o700, credential: 0o600 });

    // The token is spent: without the state directory it gets nowhere.
    const spent = await runAgent(agentArgs({ server: ca.url, trustBundle, out: join(dir, 'elsewhere'), joinToken: token }, '--once'));
    expect(spent.code).not.toBe(0);
    expect(spent.stdout + spent.stderr).toContain('no SVID could be installed');

    // Into another --out: in the first one it would keep the valid SVID it finds (see the next test).
    const healthPort = await freePort();
    const otherOut = join(dir, 'other-out');
    const agent = startAgent(agentArgs({ server: ca.url, trustBundle, out: otherOut }, '--state-dir', stateDir, '--health-listen', `127.0.0.1:${healthPort}`));
    await agent.waitForLog((l) => l.msg === 'installed a new SVID', 15_000);
    expect(agent.logLines().map((l) => l.msg)).toContain('reusing the agent SVID from the state directory');
    expect(agent.logLines().map((l) => l.msg)).not.toContain('attested with the join token');
    const installed = readInstalled(otherOut);
    expect(installed.leaf.serialNumber).not.toBe(firstSerial);
    expect({ spiffeId: installed.spiffeId, keyMatches: installed.keyMatches }).toEqual({ spiffeId: 'spiffe://example.org/ns/web', keyMatches: true });
    expect((await getHealth(healthPort, '/readyz')).status).toBe(200);
    expect(await agent.stop()).toEqual({ code: 0, signal: null });
  });

  it('a restarted agent keeps the valid SVID it finds in --out: /readyz 200 and its expiry in /metrics while the CA is still away', { timeout: 60_000 }, async () => {
    const { ca, trustBundle, out, stateDir } = await firstRunWithStateDir();
    const installed = readInstalled(out);
    await ca.close();

    const healthPort = await freePort();
    const agent = startAgent(agentArgs({ server: ca.url, trustBundle, out }, '--state-dir', stateDir, '--health-listen', `127.0.0.1:${healthPort}`));
    await agent.waitForLog((l) => l.msg === 'could not reach or use the CA; will retry', 15_000);
    expect((await getHealth(healthPort, '/readyz')).status).toBe(200);
    const expiry = new Scrape((await getHealth(healthPort, '/metrics')).body).value('meshca_agent_svid_expiry_seconds');
    expect(expiry).toBeGreaterThan(0);
    expect(expiry).toBeLessThanOrEqual((Date.parse(installed.leaf.validTo) - Date.now()) / 1000 + 1);
    expect(installedVersion(out)).toBe(installed.version);
    expect(await agent.stop()).toEqual({ code: 0, signal: null });
  });
});
