/**
 * The agent next to a real HAProxy: HAProxy terminates mutual TLS with the
 * combined.pem the agent installs (--combined), verifies clients against the
 * bundle and CRL it installs, and re-reads them all when the agent signals its
 * master (--pid-file, --reload-signal SIGUSR2).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentArgs, runAgent, startAgent } from '../support/agent-process.js';
import { asOperator, expiredCredential } from '../support/callers.js';
import { svidCheck } from '../support/conformance.js';
import { makeForeignCredential } from '../support/foreign-ca.js';
import { mintSvid } from '../support/svids.js';
import { startHaproxy } from '../support/haproxy.js';
import { curl, servedSerial, type ClientFiles } from '../support/nginx.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait.js';
import { enrollAgent, readInstalled, writeTrustBundle } from '../support/workloads.js';

const WEB_ID = 'spiffe://example.org/ns/web';
const CLIENT_ID = 'spiffe://example.org/ns/client';

/** The CA names HAProxy asks client certificates of (its CertificateRequest): the roots of the ca-file it has loaded. */
function clientCaNames(port: number): string[] {
  const run = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`], { input: '', encoding: 'utf8', timeout: 5000 });
  const lines = run.stdout.split('\n');
  const start = lines.indexOf('Acceptable client certificate CA names');
  if (start < 0) return [];
  const end = lines.findIndex((line, i) => i > start && !/^[A-Za-z]+ = /.test(line));
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

async function mustRun(args: string[], what: string): Promise<void> {
  const run = await runAgent(args);
  if (run.code !== 0) throw new Error(`${what} exited ${run.code}:\n${run.stdout}${run.stderr}`);
}

/**
 * An init-style --once run gives HAProxy its first files; then the agent runs
 * on, signalling HAProxy's master after each installation. The web entry gains
 * a DNS name before the continuous agent starts, so that the agent replaces
 * the SVID at once and the test sees HAProxy serve it, which only a working
 * reload brings about.
 */
async function meshedHaproxy(ca: TestCa) {
  const dir = tempDir();
  const trustBundle = writeTrustBundle(ca, dir);
  const out = join(dir, 'web');
  const stateDir = join(dir, 'web-state');
  const web = await enrollAgent(ca, 'web-node', WEB_ID);
  await mustRun(agentArgs({ server: ca.url, trustBundle, out, joinToken: web.token }, '--state-dir', stateDir, '--combined', '--once'), 'the web agent (--once)');

  const clientDir = join(dir, 'client');
  const client = await enrollAgent(ca, 'client-node', CLIENT_ID);
  await mustRun(agentArgs({ server: ca.url, trustBundle, out: clientDir, joinToken: client.token }, '--once'), 'the client agent (--once)');
  const clientSet = readInstalled(clientDir);
  const clientTls = { ca: ca.bundlePem, cert: clientSet.chainPem, key: clientSet.keyPem };

  const haproxy = await startHaproxy({ svidDir: out, prefix: join(dir, 'haproxy') });
  const installedBefore = readInstalled(out).leaf.serialNumber;
  await asOperator(ca, 'PATCH', `/v1/entries/${web.entryId}`, { dns: ['localhost', 'web.localhost'] });
  const agent = startAgent(
    agentArgs({ server: ca.url, trustBundle, out }, '--state-dir', stateDir, '--combined', '--sync-interval', '1s', '--pid-file', haproxy.pidFile, '--reload-signal', 'SIGUSR2'),
  );
  await waitFor('the continuous agent to install its first SVID', () => readInstalled(out).leaf.serialNumber !== installedBefore, 15_000);
  await waitFor('HAProxy to serve the SVID the agent installed', async () => (await servedSerial(haproxy.port, clientTls)) === readInstalled(out).leaf.serialNumber, 15_000);
  const clientFiles: ClientFiles = { cacert: trustBundle, cert: join(clientDir, 'svid.pem'), key: join(clientDir, 'svid_key.pem') };
  return { out, trustBundle, haproxy, agent, client: clientFiles, clientSerial: clientSet.leaf.serialNumber };
}

describe('HAProxy terminating mutual TLS with the files the agent installs', () => {
  it('serves the SVID from combined.pem, reloaded by SIGUSR2 to its master, and admits a client of the trust domain', { timeout: 60_000 }, async () => {
    const ca = await startTestCa();
    const mesh = await meshedHaproxy(ca);

    const answer = await curl(mesh.haproxy.port, mesh.client);
    expect(answer, answer.stderr).toMatchObject({ exitCode: 0, status: 200 });
    expect(JSON.parse(answer.body)).toEqual({ verify: 0, serial: mesh.clientSerial });
    expect(svidCheck(mesh.out, ['--trust-domain', 'example.org']).ok).toBe(true);
    expect(mesh.haproxy.output()).not.toMatch(/\[ALERT\]/);
    expect(mesh.haproxy.running()).toBe(true);
  });

  it('refuses in the handshake a client without a certificate, with one from a foreign CA, with an expired one, and one revoked after it connected once', { timeout: 90_000 }, async () => {
    const ca = await startTestCa();
    const mesh = await meshedHaproxy(ca);
    const foreign = makeForeignCredential(tempDir(), CLIENT_ID);
    const expiredDir = tempDir();
    const expired = await expiredCredential(ca, CLIENT_ID);
    writeFileSync(join(expiredDir, 'cert.pem'), expired.chainPem);
    writeFileSync(join(expiredDir, 'key.pem'), expired.keyPem, { mode: 0o600 });
    expect((await curl(mesh.haproxy.port, mesh.client)).status).toBe(200);

    await asOperator(ca, 'POST', '/v1/certificates/revoke', { serial: mesh.clientSerial, reason: 'keyCompromise' });
    let revoked = await curl(mesh.haproxy.port, mesh.client);
    await waitFor(
      'the agent to install the new CRL and HAProxy to refuse the revoked client',
      async () => (revoked = await curl(mesh.haproxy.port, mesh.client)).status === 0,
      20_000,
    );

    const refusals = {
      'no certificate': await curl(mesh.haproxy.port, { cacert: mesh.trustBundle }),
      'a foreign CA': await curl(mesh.haproxy.port, { cacert: mesh.trustBundle, cert: foreign.files.cert, key: foreign.files.key }),
      'an expired SVID': await curl(mesh.haproxy.port, { cacert: mesh.trustBundle, cert: join(expiredDir, 'cert.pem'), key: join(expiredDir, 'key.pem') }),
      'a revoked SVID': revoked,
    };
    // No HTTP answer at all: HAProxy ends the handshake with the TLS alert that names the reason.
    const alerts = Object.fromEntries(Object.entries(refusals).map(([what, r]) => [what, { status: r.status, alert: /alert ([a-z ]+)/.exec(r.stderr)?.[1]?.trim() }]));
    expect(alerts).toEqual({
      'no certificate': { status: 0, alert: 'certificate required' },
      'a foreign CA': { status: 0, alert: 'unknown ca' },
      'an expired SVID': { status: 0, alert: 'certificate expired' },
      'a revoked SVID': { status: 0, alert: 'certificate revoked' },
    });
    expect(mesh.agent.running()).toBe(true);
  });

  it('admits a client whose SVID the new root\'s intermediate signed right after activation, before HAProxy\'s agent syncs again', { timeout: 90_000 }, async () => {
    const ca = await startTestCa();
    const mesh = await meshedHaproxy(ca);
    const count = (file: string, block: string) => readFileSync(join(mesh.out, file), 'utf8').split(`-----BEGIN ${block}-----`).length - 1;
    const rootsBefore = count('bundle.pem', 'CERTIFICATE');

    await asOperator(ca, 'POST', '/v1/authorities/root/prepare');
    // One sync installs the bundle with the new root and the CRLs of that moment; HAProxy then hears nothing more from it.
    await waitFor('the agent to install the bundle with the prepared root', () => count('bundle.pem', 'CERTIFICATE') === rootsBefore + 1, 20_000);
    // A client of the old root gets in before the reload as after it: what tells is the CA names HAProxy now sends.
    await waitFor('HAProxy to reload on it', () => clientCaNames(mesh.haproxy.port).length === rootsBefore + 1, 20_000);
    await mesh.agent.stop();
    await asOperator(ca, 'POST', '/v1/authorities/root/activate', { force: true });

    const fresh = await mintSvid(ca.localApp, CLIENT_ID);
    const files = tempDir();
    writeFileSync(join(files, 'cert.pem'), fresh.chainPem);
    writeFileSync(join(files, 'key.pem'), fresh.keyPem, { mode: 0o600 });
    // HAProxy checks a CRL for every CA of the chain: the new intermediate's has been in crl.pem since the prepare.
    const answer = await curl(mesh.haproxy.port, { cacert: mesh.trustBundle, cert: join(files, 'cert.pem'), key: join(files, 'key.pem') });
    expect({ status: answer.status, alert: /alert ([a-z ]+)/.exec(answer.stderr)?.[1]?.trim() }).toEqual({ status: 200, alert: undefined });
  });
});
