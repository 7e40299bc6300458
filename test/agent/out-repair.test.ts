/**
 * The built `meshca-agent` against a real CA, with its files removed or
 * replaced in --out behind its back: /readyz names what is gone, and the
 * agent installs the same SVID again and reloads the proxy, asking the CA
 * for nothing new.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentArgs, getHealth, installedVersion, runAgent, startAgent, type AgentProcess } from '../support/agent-process.js';
import { svidCheck } from '../support/conformance.js';
import { startTestCa } from '../support/test-ca.js';
import { tempDir } from '../support/temp-dir.js';
import { freePort, waitFor } from '../support/wait.js';
import { enrollAgent, readInstalled, writeTrustBundle } from '../support/workloads.js';

const WEB = 'spiffe://example.org/ns/web';

/** A running agent that has installed an SVID for WEB and reloaded its "proxy" (which counts reloads in DIR/reloads). */
async function installedAgent(syncInterval: string) {
  const ca = await startTestCa();
  const dir = tempDir();
  const out = join(dir, 'out');
  const reloadsFile = join(dir, 'reloads');
  const healthPort = await freePort();
  const { token } = await enrollAgent(ca, 'node-1', WEB);
  const agent = startAgent(
    agentArgs(
      { server: ca.url, trustBundle: writeTrustBundle(ca, dir), out, joinToken: token },
      '--sync-interval', syncInterval,
      '--health-listen', `127.0.0.1:${healthPort}`,
      '--reload-cmd', `/bin/sh -c 'echo reloaded >> ${reloadsFile}'`,
    ),
  );
  const reloads = () => (existsSync(reloadsFile) ? readFileSync(reloadsFile, 'utf8').split('\n').filter(Boolean).length : 0);
  await waitFor('the SVID to be installed and the proxy reloaded', () => reloads() === 1, 15_000);
  await waitFor('/readyz to answer 200', async () => (await getHealth(healthPort, '/readyz')).status === 200, 5_000);
  return { agent, out, healthPort, reloads, installed: readInstalled(out) };
}

/** Once ..data has pointed at one version for a second: no publication of the agent's is under way. */
async function settled(out: string): Promise<void> {
  let version = installedVersion(out);
  let since = Date.now();
  await waitFor('--out to settle', () => {
    const now = installedVersion(out);
    if (now !== version) [version, since] = [now, Date.now()];
    return Date.now() - since >= 1_000;
  }, 10_000);
}

/** The warnings the agent logged about --out losing what it installed. */
const lossWarnings = (agent: AgentProcess) => agent.logLines().filter((l) => l.level === 40 && String(l.msg).startsWith('--out no longer holds what the agent installed'));

async function readyz(port: number): Promise<{ status: number; body: unknown }> {
  const answer = await getHealth(port, '/readyz');
  return { status: answer.status, body: JSON.parse(answer.body) };
}

/** What is done to --out behind the agent's back, and what the agent should say of it. */
const CHANGES = [
  { what: 'svid.pem removed', change: (out: string) => rmSync(join(out, 'svid.pem')), says: 'svid.pem is missing from --out' },
  {
    what: 'svid_key.pem replaced by another file',
    change: (out: string) => {
      writeFileSync(join(out, 'other-key.pem'), "-----BEGIN PRIVATE KEY-----\nnot this agent's\n-----END PRIVATE KEY-----\n", { mode: 0o600 });
      renameSync(join(out, 'other-key.pem'), join(out, 'svid_key.pem'));
    },
    says: 'svid_key.pem in --out was replaced by another file',
  },
];

/** --out holds the SVID, key and chain `installed` held, read through its stable names as a proxy reads them, and passes the conformance checker. */
function expectSameSvid(out: string, installed: ReturnType<typeof readInstalled>): void {
  const read = (name: string) => (existsSync(join(out, name)) ? readFileSync(join(out, name), 'utf8') : `no ${name}`);
  // The same certificate and key: no new issuance.
  expect({ serial: readInstalled(out).leaf.serialNumber, chain: read('svid.pem'), key: read('svid_key.pem') }).toEqual({
    serial: installed.leaf.serialNumber,
    chain: installed.chainPem,
    key: installed.keyPem,
  });
  const check = svidCheck(out, ['--trust-domain', 'example.org', '--spiffe-id', WEB]);
  expect(check.ok, check.output).toBe(true);
}

describe('meshca-agent with its files removed or replaced in --out', () => {
  // A sync an hour away: what puts the file back is the probe that saw it changed.
  it.each(CHANGES)('$what: /readyz 503 naming it, then the same SVID installed again at once, the proxy reloaded, and 200', { timeout: 30_000 }, async ({ change, says }) => {
    const { agent, out, healthPort, reloads, installed } = await installedAgent('1h');
    change(out);

    expect(await readyz(healthPort)).toEqual({ status: 503, body: { error: { code: 'not_ready', message: expect.stringMatching(new RegExp(`^${says.replace(/[.]/g, '\\.')}: `)) } } });
    await waitFor('the proxy to be reloaded with the files installed again', () => reloads() === 2, 10_000);
    await waitFor('/readyz to answer 200 again', async () => (await getHealth(healthPort, '/readyz')).status === 200, 5_000);
    expectSameSvid(out, installed);
    expect(agent.logLines().filter((l) => l.msg === 'installed a new SVID')).toHaveLength(1);
    expect(lossWarnings(agent).map((l) => l.lost)).toEqual([says]);
  });

  // No probe at all: the next sync (every 2 s here) notices and repairs.
  it.each(CHANGES)('$what: installed again at the next sync, the proxy reloaded, said once', { timeout: 30_000 }, async ({ change, says }) => {
    const { agent, out, healthPort, reloads, installed } = await installedAgent('2s');
    change(out);

    await waitFor('the proxy to be reloaded with the files installed again', () => reloads() === 2, 10_000);
    expectSameSvid(out, installed);
    expect(await readyz(healthPort)).toEqual({ status: 200, body: { status: 'ready' } });
    expect(agent.logLines().filter((l) => l.msg === 'installed a new SVID')).toHaveLength(1);
    expect(lossWarnings(agent).map((l) => l.lost)).toEqual([says]);
  });

  it('svid.pem removed under an agent that kept the SVID a previous run installed: /readyz 503 naming it, and the file back', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const out = join(dir, 'out');
    const healthPort = await freePort();
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const o = { server: ca.url, trustBundle: writeTrustBundle(ca, dir), out };
    const once = await runAgent(agentArgs({ ...o, joinToken: token }, '--state-dir', join(dir, 'state'), '--once'));
    expect(once.code, once.stdout + once.stderr).toBe(0);
    const installed = readInstalled(out);
    const agent = startAgent(agentArgs(o, '--state-dir', join(dir, 'state'), '--sync-interval', '1h', '--health-listen', `127.0.0.1:${healthPort}`));
    await agent.waitForLog((l) => l.msg === 'keeping the valid SVID already installed in --out', 15_000);
    await waitFor('/readyz to answer 200', async () => (await getHealth(healthPort, '/readyz')).status === 200, 10_000);
    // The first sync may bring a newer CRL, which the agent then installs: the file is removed once that is done,
    // not while a publication of the agent's own could put it back before the probe looks.
    await waitFor('the first sync', async () => /^meshca_agent_syncs_total [1-9]/m.test((await getHealth(healthPort, '/metrics')).body), 10_000);
    await settled(out);
    rmSync(join(out, 'svid.pem'));

    expect((await readyz(healthPort)).status).toBe(503);
    await waitFor('svid.pem to be back', () => existsSync(join(out, 'svid.pem')), 10_000);
    await waitFor('/readyz to answer 200 again', async () => (await getHealth(healthPort, '/readyz')).status === 200, 5_000);
    expectSameSvid(out, installed);
    expect(lossWarnings(agent).map((l) => l.lost)).toEqual(['svid.pem is missing from --out']);
  });
});
