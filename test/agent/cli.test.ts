/** `meshca-agent` as an operator runs it: flags and environment, --once, choosing an identity, health, reload, stopping. */
import { execFileSync, spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_BIN, agentArgs, getHealth, runAgent, startAgent } from '../support/agent-process.js';
import { asOperator, joinToken } from '../support/callers.js';
import { cleanupLater } from '../support/cleanup.js';
import { callHttps } from '../support/http-client.js';
import { parseLogLines } from '../support/log-lines.js';
import { Scrape } from '../support/prometheus.js';
import { svidCheck } from '../support/conformance.js';
import { startTestCa } from '../support/test-ca.js';
import { tempDir } from '../support/temp-dir.js';
import { MiniCa } from '../support/mini-ca.js';
import { freePort, waitFor } from '../support/wait.js';
import { enrollAgent, readInstalled, registerWorkload, writeTrustBundle } from '../support/workloads.js';

const WEB = 'spiffe://example.org/ns/web';
const DB = 'spiffe://example.org/ns/db';
/** EX_CONFIG: what deploy/systemd's RestartPreventExitStatus= keeps from restarting. */
const EX_CONFIG = 78;
/** Settings this test's own environment might carry, cleared. */
const NO_SETTINGS = { MESHCA_AGENT_SERVER: '', MESHCA_AGENT_TRUST_BUNDLE: '', MESHCA_AGENT_OUT: '' };

/** A CA, and agent node-1 for WEB that has run --once with --state-dir: what a restarted agent finds. */
async function installedOnce(settings: Record<string, string> = {}) {
  const ca = await startTestCa(settings);
  const dir = tempDir();
  const { token } = await enrollAgent(ca, 'node-1', WEB);
  const o = { server: ca.url, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out') };
  expect((await runAgent(agentArgs({ ...o, joinToken: token }, '--state-dir', join(dir, 'state'), '--once'))).code).toBe(0);
  return { ca, dir, o };
}

/**
 * A TCP relay in front of the CA that delays by 2 s the answers on the first
 * connection to carry a request with a body (after its ClientHello, a record
 * larger than a handshake's last flight and a GET): the attestation.
 */
async function slowAttestationProxy(caUrl: string): Promise<{ url: string; attestationSent: () => boolean }> {
  let requestSent = false;
  const links = new Set<Socket>();
  const slow = createServer((client) => {
    const upstream = connect(Number(new URL(caUrl).port), '127.0.0.1');
    let chunks = 0;
    let delayed = false;
    for (const s of [client, upstream]) {
      links.add(s);
      s.on('error', () => undefined);
      s.on('close', () => (client.destroy(), upstream.destroy()));
    }
    client.on('data', (chunk: Buffer) => {
      if (chunks++ > 0 && chunk.length > 400 && !requestSent) requestSent = delayed = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => (delayed ? setTimeout(() => client.write(chunk), 2_000) : client.write(chunk)));
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  cleanupLater(() => {
    for (const s of links) s.destroy();
    return new Promise<void>((resolve) => slow.close(() => resolve()));
  });
  const port = (slow.address() as import('node:net').AddressInfo).port;
  return { url: `https://127.0.0.1:${port}`, attestationSent: () => requestSent };
}


/** A server that accepts connections and never answers, not even the TLS handshake; stopped when the test ends. */
async function silentServer(): Promise<{ port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const silent = createServer((s) => sockets.add(s));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  cleanupLater(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => silent.close(() => resolve()));
  });
  return { port: (silent.address() as import('node:net').AddressInfo).port, sockets };
}

describe('meshca-agent command line', () => {
  // A mistyped unit or manifest is a configuration error like any other: restarting will not fix it.
  it.each([
    { name: 'an unknown flag', args: ['--sever', 'https://ca.example:8443'], says: "error: unknown option '--sever'" },
    { name: 'a flag without its value', args: ['--once', '--out'], says: "error: option '--out <value>' argument missing" },
    { name: 'a value it cannot accept', args: ['--server', 'http://ca.example:8443'], says: '--server: "http://ca.example:8443" must be an https:// URL' },
    { name: 'a one-value flag given twice', args: ['--out', '/a', '--out', '/b'], says: '--out given twice ("/a", then "/b"): give it once' },
  ])('fail/$name exits 78', async ({ args, says }) => {
    const run = await runAgent(args, NO_SETTINGS);
    expect(run.code).toBe(EX_CONFIG);
    expect(run.stderr).toContain(says);
  });

  it('pass/--help exits 0 with the usage', async () => {
    const run = await runAgent(['--help'], NO_SETTINGS);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^Usage: meshca-agent/);
    // Defaults and variables said as meshca's commands say them.
    const help = run.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('--sync-interval <value> how often entries, bundle and CRL are re-synced (default: 30s, env: MESHCA_AGENT_SYNC_INTERVAL)');
    expect(help).not.toContain('; env ');
  });
});

describe('meshca-agent --once', () => {
  it.each([
    // 45 s: the CA sets thisUpdate 30 s back, so its CRLs are valid here some seconds after the run starts (time enough
    // for a slow start to find them not valid yet).
    { ahead: 45, code: 0, said: /^the CA's CRLs are not valid yet by this host's clock, which is behind the CA's; waiting \d+ s to install crl\.pem \(--once\)$/, crl: true },
    // Beyond the 5 minutes of skew the agent works with: not waited for.
    { ahead: 30 + 6 * 60, code: 1, said: /^the CA's CRLs are not valid yet by this host's clock, which is behind the CA's \(check time sync\), so no crl\.pem is installed, .*; exiting \(--once\)$/, crl: false },
  ])('with CRLs made by the CA while its clock ran $ahead s ahead, exits $code, having installed crl.pem: $crl', { timeout: 40_000 }, async ({ ahead, code, said, crl }) => {
    let aheadMs = 0;
    const ca = await startTestCa({}, { clock: { nowMs: () => Date.now() + aheadMs } });
    const dir = tempDir();
    const out = join(dir, 'out');
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    // A replica whose clock runs ahead made the CRLs the sync brings; the SVID is made on time.
    aheadMs = ahead * 1000;
    ca.core.crls.invalidate();
    await ca.core.crls.crls();
    aheadMs = 0;
    const run = await runAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out, joinToken: token }, '--once'), {}, 35_000);
    const messages = parseLogLines(run.stdout).map((l) => String(l.msg));
    expect(run.code, run.stdout + run.stderr).toBe(code);
    expect(messages.some((m) => said.test(m)), messages.join('\n')).toBe(true);
    expect(existsSync(join(out, 'svid.pem'))).toBe(true);
    expect(existsSync(join(out, 'crl.pem'))).toBe(crl);
    if (crl) expect(readFileSync(join(out, 'crl.pem'), 'utf8')).toBe((await ca.core.crls.crls()).pem);
  });

  it('installs in place of the empty directory Docker made for a bind mount of --out/svid.pem, and says a container mounting it must be restarted', { timeout: 40_000 }, async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const out = join(dir, 'out');
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    mkdirSync(join(out, 'svid.pem'), { recursive: true });
    const run = await runAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out, joinToken: token }, '--once'), {}, 35_000);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const warning = parseLogLines(run.stdout).find((l) => l.msg === 'removed an empty directory where a link to the installed SVID goes (Docker makes one for a bind mount whose source is missing); restart a container that mounts it to see the file');
    expect({ level: warning?.level, path: warning?.path }).toEqual({ level: 40, path: join(out, 'svid.pem') });
    expect(readInstalled(out).spiffeId).toBe(WEB);
  });

  it.each([
    ['flags', (o: { server: string; trustBundle: string; out: string; joinToken: string }) => ({ args: [...agentArgs(o), '--once'], env: {} })],
    [
      'MESHCA_AGENT_* variables',
      (o: { server: string; trustBundle: string; out: string; joinToken: string }) => ({
        args: [],
        env: { MESHCA_AGENT_SERVER: o.server, MESHCA_AGENT_TRUST_BUNDLE: o.trustBundle, MESHCA_AGENT_OUT: o.out, MESHCA_AGENT_JOIN_TOKEN: o.joinToken, MESHCA_AGENT_ONCE: 'true' },
      }),
    ],
  ])('configured by %s: installs a conforming SVID and exits 0', async (_how, invocation) => {
    const ca = await startTestCa();
    const dir = tempDir();
    const out = join(dir, 'out');
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const { args, env } = invocation({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out, joinToken: token });
    const run = await runAgent(args, env);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('SVID installed; exiting (--once)');
    const check = svidCheck(out, ['--trust-domain', 'example.org', '--spiffe-id', WEB]);
    expect(check.ok, check.output).toBe(true);
    expect(readInstalled(out).bundlePem).toBe(ca.bundlePem);
  });

  it.each([
    ['nothing at all', [], ['--server is required', '--trust-bundle is required', '--out is required']],
    [
      'several bad values',
      ['--server', 'http://ca.example:8443', '--trust-bundle', '/nonexistent/bundle.pem', '--out', 'out', '--sync-interval', 'soon', '--reload-cmd', 'true', '--pid-file', 'proxy.pid'],
      ['--server: "http://ca.example:8443" must be an https:// URL', '--trust-bundle: cannot read /nonexistent/bundle.pem: no such file (ENOENT)', '--sync-interval: ', 'give either --reload-cmd or --pid-file, not both'],
    ],
  ])('given %s, exits 78 listing every problem at once', async (_what, args, problems) => {
    const run = await runAgent([...args, '--once'], NO_SETTINGS);
    expect(run.code).toBe(EX_CONFIG);
    for (const problem of problems) expect(run.stderr).toContain(problem);
    expect(run.stderr.match(/^ {2}- /gm)?.length).toBe(problems.length);
  });

  it('fail/given an --out that is a link to a directory, exits 78 naming it before it spends the join token', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const dir = tempDir();
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'out'));
    const o = { server: ca.url, trustBundle: writeTrustBundle(ca, dir), joinToken: token };
    const refused = await runAgent(agentArgs({ ...o, out: join(dir, 'out') }, '--once'));
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({ code: EX_CONFIG, stderr: expect.stringContaining(`--out ${join(dir, 'out')} is a symbolic link; give the directory itself`) });
    // The token is still good: given the directory itself, the same token installs the SVID.
    expect((await runAgent(agentArgs({ ...o, out: join(dir, 'real') }, '--once'))).code).toBe(0);
  });

  // Whatever umask the unit or shell gives it, and whatever it logs at its most verbose, through a failing reload too.
  it.each(['000', '077'])('pass/under umask %s, writes every key 0600 where its readers can reach it, and logs no key at --log-level trace', { timeout: 30_000 }, async (umask) => {
    const ca = await startTestCa();
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const dir = tempDir();
    const out = join(dir, 'out');
    const state = join(dir, 'state');
    const args = agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out, joinToken: token }, '--state-dir', state, '--combined', '--log-level', 'trace', '--reload-cmd', 'sh -c "exit 3"', '--once');
    // Through sh for its umask; not spawnSync, which would block the CA in this process.
    const run = await new Promise<{ status: number | null; stdout: string }>((done) => {
      const child = spawn('sh', ['-c', `umask ${umask}; exec "$0" "$@"`, process.execPath, AGENT_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('close', (status) => done({ status, stdout }));
    });
    // The reload failed: exit 1, with the SVID installed all the same.
    expect(run.status, run.stdout).toBe(1);
    const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
    expect({
      out: mode(out), data: mode(join(out, '..data')), svid: mode(join(out, 'svid.pem')), bundle: mode(join(out, 'bundle.pem')),
      key: mode(join(out, 'svid_key.pem')), combined: mode(join(out, 'combined.pem')),
      stateDir: mode(state), credential: mode(join(state, 'agent_credential.pem')),
    }).toEqual({ out: '755', data: '755', svid: '644', bundle: '644', key: '600', combined: '600', stateDir: '700', credential: '600' });
    const logged = run.stdout;
    expect(logged).toContain('reloading the proxy failed');
    const keyLines = [join(out, 'svid_key.pem'), join(state, 'agent_credential.pem')]
      .flatMap((path) => readFileSync(path, 'utf8').split('-----END PRIVATE KEY-----')[0]!.split('\n').slice(1))
      .filter((line) => line.length > 20);
    expect({ label: logged.includes('PRIVATE KEY'), keyLines: keyLines.filter((line) => logged.includes(line)) }).toEqual({ label: false, keyLines: [] });
  });

  it.each([
    { flag: '--out', args: (file: string, dir: string) => ['--out', file, '--state-dir', join(dir, 'state')] },
    { flag: '--state-dir', args: (file: string, dir: string) => ['--out', join(dir, 'out'), '--state-dir', file] },
  ])('given a file as $flag, exits 78 naming it before attesting, so the join token is not spent', async ({ flag, args }) => {
    const ca = await startTestCa();
    const dir = tempDir();
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const common = ['--server', ca.url, '--trust-bundle', writeTrustBundle(ca, dir), '--join-token', token, '--once'];
    const refused = await runAgent([...common, ...args(file, dir)], NO_SETTINGS);
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({
      code: EX_CONFIG,
      stderr: `meshca-agent: invalid configuration:\n  - ${flag} ${file} is not a directory: give a directory (a missing one is made)\n`,
    });
    // The same token still admits the agent, given directories.
    expect((await runAgent([...common, '--out', join(dir, 'out'), '--state-dir', join(dir, 'state')], NO_SETTINGS)).code).toBe(0);
  });

  it('given a FIFO as --join-token-file, exits 78 naming it rather than wait for something to write it', async () => {
    const dir = tempDir();
    const fifo = join(dir, 'token');
    execFileSync('mkfifo', [fifo]);
    const trustBundle = join(dir, 'bundle.pem');
    writeFileSync(trustBundle, (await MiniCa.create()).bundlePem);
    const run = await runAgent(['--server', 'https://127.0.0.1:43999', '--trust-bundle', trustBundle, '--out', join(dir, 'out'), '--join-token-file', fifo, '--once'], NO_SETTINGS, 10_000);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: EX_CONFIG, stderr: expect.stringContaining(`--join-token-file: ${fifo} is not a regular file`) });
  });

  // A configuration error either way: a restart (systemd's RestartPreventExitStatus=78) would not choose for it.
  it.each([['--once'], ['(running continuously)']])('with two entries and no --spiffe-id, %s exits 78 naming both identities', { timeout: 30_000 }, async (mode) => {
    const ca = await startTestCa();
    const dir = tempDir();
    await registerWorkload(ca, 'node-1', WEB);
    await registerWorkload(ca, 'node-1', DB);
    const args = agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out'), joinToken: await joinToken(ca, 'node-1') });
    const run = await runAgent(mode === '--once' ? [...args, '--once'] : args);
    expect(run.code).toBe(EX_CONFIG);
    const said = run.stdout + run.stderr;
    expect(said).toContain(WEB);
    expect(said).toContain(DB);
    expect(said).toContain('--spiffe-id');
    expect(said).toContain('restarted with --spiffe-id: the join token is spent and, without --state-dir, the agent SVID it bought is not kept: give a new one too (meshca token create --agent node-1)');
    expect(existsSync(join(dir, 'out', '..data'))).toBe(false);
  });

  it('with two entries, no --spiffe-id and --state-dir, exits 78 saying no new token is needed; restarted with --spiffe-id and no token, it installs that identity', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const out = join(dir, 'out');
    const stateDir = join(dir, 'state');
    await registerWorkload(ca, 'node-1', WEB);
    await registerWorkload(ca, 'node-1', DB);
    const refused = await runAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out, joinToken: await joinToken(ca, 'node-1') }, '--state-dir', stateDir, '--once'));
    expect(refused.code).toBe(EX_CONFIG);
    expect(refused.stdout + refused.stderr).toContain('restarted with --spiffe-id: the agent SVID is kept in --state-dir, so no new join token is needed');
    const again = await runAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out }, '--state-dir', stateDir, '--spiffe-id', WEB, '--once'));
    expect(again.code, again.stdout + again.stderr).toBe(0);
    const check = svidCheck(out, ['--trust-domain', 'example.org', '--spiffe-id', WEB]);
    expect(check.ok, check.output).toBe(true);
  });

  it.each(['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'ed25519'])('--key-type %s: installs a conforming SVID with that kind of key', async (keyType) => {
    const ca = await startTestCa();
    const dir = tempDir();
    const out = join(dir, 'out');
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const run = await runAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out, joinToken: token }, '--key-type', keyType, '--once'));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const check = svidCheck(out, ['--trust-domain', 'example.org', '--spiffe-id', WEB]);
    expect(check.ok, check.output).toBe(true);
    const key = createPrivateKey(readInstalled(out).keyPem);
    const kind = key.asymmetricKeyType === 'ec' ? `ec-${key.asymmetricKeyDetails?.namedCurve}` : key.asymmetricKeyType === 'rsa' ? `rsa-${key.asymmetricKeyDetails?.modulusLength}` : key.asymmetricKeyType;
    expect(kind).toBe({ 'ec-p256': 'ec-prime256v1', 'ec-p384': 'ec-secp384r1', 'rsa-2048': 'rsa-2048', 'rsa-3072': 'rsa-3072', ed25519: 'ed25519' }[keyType]);
  });

  it('with a reload that fails, exits non-zero saying the proxy was not reloaded, and promises no retry', async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const run = await runAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out'), joinToken: token }, '--reload-cmd', '/bin/false', '--once'));
    expect(run.code).not.toBe(0);
    expect(run.code).not.toBeNull();
    const said = parseLogLines(run.stdout).map((l) => String(l.msg));
    expect(said).toContain('reloading the proxy failed');
    expect(said.filter((m) => m.includes('retry'))).toEqual([]);
    expect(said).not.toContain('SVID installed; exiting (--once)');
    expect(said.at(-1)).toBe('the SVID is installed in --out, but reloading the proxy failed: it may not be serving it; exiting (--once)');
  });

  it.each([
    { how: 'on the command line', flag: true, warned: true },
    { how: 'in MESHCA_AGENT_JOIN_TOKEN', flag: false, warned: false },
  ])('a join token given $how: warned of as readable by every local user: $warned', async ({ flag, warned }) => {
    const ca = await startTestCa();
    const dir = tempDir();
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const o = { server: ca.url, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out') };
    const run = await runAgent(agentArgs(flag ? { ...o, joinToken: token } : o, '--once'), flag ? {} : { MESHCA_AGENT_JOIN_TOKEN: token });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const warnings = parseLogLines(run.stdout).filter((l) => String(l.msg).includes('--join-token on the command line'));
    expect(warnings.length).toBe(warned ? 1 : 0);
    expect(run.stdout).not.toContain(token);
  });

  it.each([
    { what: 'one it creates', mode: undefined, warned: false },
    { what: 'an existing one every user may write to', mode: 0o777, warned: true },
  ])('--state-dir $what: warned of as shared: $warned', async ({ mode, warned }) => {
    const ca = await startTestCa();
    const dir = tempDir();
    const state = join(dir, 'state');
    if (mode !== undefined) {
      mkdirSync(state);
      chmodSync(state, mode);
    }
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const o = { server: ca.url, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out') };
    const run = await runAgent(agentArgs(o, '--state-dir', state, '--once'), { MESHCA_AGENT_JOIN_TOKEN: token });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const warnings = parseLogLines(run.stdout).filter((l) => String(l.msg).startsWith("--state-dir holds the agent's own key"));
    expect(warnings.length).toBe(warned ? 1 : 0);
    if (mode === undefined) expect(statSync(state).mode & 0o777).toBe(0o700);
  });

  it('with --combined over an --out a run without it filled, keeps the SVID and adds combined.pem (key, then chain)', async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const o = { server: ca.url, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out') };
    const first = await runAgent(agentArgs({ ...o, joinToken: token }, '--state-dir', join(dir, 'state'), '--once'));
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const before = readInstalled(o.out);
    expect(existsSync(join(o.out, 'combined.pem'))).toBe(false);

    const again = await runAgent(agentArgs(o, '--state-dir', join(dir, 'state'), '--combined', '--once'));
    expect(again.code, again.stdout + again.stderr).toBe(0);
    const after = readInstalled(o.out);
    expect(after.leaf.serialNumber).toBe(before.leaf.serialNumber);
    expect(readFileSync(join(o.out, after.version, 'combined.pem'), 'utf8')).toBe(after.keyPem + after.chainPem);
    expect(readFileSync(join(o.out, 'crl.pem'), 'utf8')).toContain('BEGIN X509 CRL');
  });

  it('exits 1 once the CA has refused the agent (evicted), although a valid SVID is in --out: eviction revoked it', async () => {
    const { ca, dir, o } = await installedOnce();
    await asOperator(ca, 'POST', '/v1/agents/node-1/evict', {});

    // The first run learns it from the CA; the next (a retried init container) from --state-dir, its credential gone.
    for (const run of ['first', 'next']) {
      const once = await runAgent(agentArgs(o, '--state-dir', join(dir, 'state'), '--once'));
      // In the order logged: under load, stdout has been seen to carry the last two lines swapped.
      const said = parseLogLines(once.stdout)
        .sort((a, b) => String(a.time).localeCompare(String(b.time)))
        .map((l) => String(l.msg));
      expect({ run, code: once.code, installed: said.includes('SVID installed; exiting (--once)') }).toEqual({ run, code: 1, installed: false });
      expect(said.at(-1), once.stdout + once.stderr).toMatch(/^the CA refused this agent .*give a new --join-token; exiting \(--once\)$/);
    }
  });

  it('exits 0 with a valid SVID in --out that is due while the CA is away, rather than fail the workload, and warns that it is due', { timeout: 30_000 }, async () => {
    const { dir, o } = await installedOnce({ 'svid-ttl': '15s' });
    const { leaf } = readInstalled(o.out);
    const [notBefore, notAfter] = [Date.parse(leaf.validFrom), Date.parse(leaf.validTo)];
    // Past any renewal point (at most 60 % of the life), with some six seconds of its life left.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, notBefore + 0.62 * (notAfter - notBefore) - Date.now())));
    const once = await runAgent(agentArgs({ ...o, server: `https://127.0.0.1:${await freePort()}` }, '--state-dir', join(dir, 'state'), '--once'));
    expect(Date.now()).toBeLessThan(notAfter);
    const said = parseLogLines(once.stdout).map((l) => `${String(l.level)} ${String(l.msg)}`);
    expect(once.code, once.stdout + once.stderr).toBe(0);
    expect(said).toContain('40 the valid SVID in --out is due for renewal, which the CA did not give now; keeping it and exiting (--once)');
  });

  it('after a run killed between swapping ..data and linking the stable names, restores the names and reloads the proxy with the SVID it keeps', async () => {
    const { dir, o } = await installedOnce();
    const installed = readInstalled(o.out);
    for (const name of ['svid.pem', 'svid_key.pem', 'bundle.pem', 'crl.pem']) rmSync(join(o.out, name));

    const reloads = join(dir, 'reloads');
    const run = await runAgent(agentArgs(o, '--state-dir', join(dir, 'state'), '--reload-cmd', `/bin/sh -c 'echo reloaded >> ${reloads}'`, '--once'));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const read = (name: string) => (existsSync(join(o.out, name)) ? readFileSync(join(o.out, name), 'utf8') : `no ${name}`);
    expect({ key: read('svid_key.pem'), chain: read('svid.pem'), reloads: existsSync(reloads) ? readFileSync(reloads, 'utf8') : '' }).toEqual({
      key: installed.keyPem,
      chain: installed.chainPem,
      reloads: 'reloaded\n',
    });
  });

  it('runs --reload-cmd without the join token in its environment (MESHCA_AGENT_JOIN_TOKEN), but with the rest', async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const envFile = join(dir, 'reload-env');
    const run = await runAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out') }, '--reload-cmd', `/bin/sh -c 'env > ${envFile}'`, '--once'), {
      MESHCA_AGENT_JOIN_TOKEN: token,
      PROXY_CONFIG: '/etc/nginx/nginx.conf',
    });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const seen = readFileSync(envFile, 'utf8');
    expect({ token: seen.includes(token), rest: seen.includes('PROXY_CONFIG=/etc/nginx/nginx.conf') }).toEqual({ token: false, rest: true });
  });

  it('with two entries and --spiffe-id, installs that identity', async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const out = join(dir, 'out');
    await registerWorkload(ca, 'node-1', WEB);
    await registerWorkload(ca, 'node-1', DB);
    const run = await runAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out, joinToken: await joinToken(ca, 'node-1') }, '--spiffe-id', DB, '--once'));
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const check = svidCheck(out, ['--trust-domain', 'example.org', '--spiffe-id', DB]);
    expect(check.ok, check.output).toBe(true);
  });

  it.each([
    ['with --once', ['--once']],
    ['running on', []],
  ])('stopped %s while the CA answers its attestation, waits for the answer and saves the SVID the join token bought', { timeout: 30_000 }, async (_mode, flags) => {
    const ca = await startTestCa();
    const dir = tempDir();
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const slow = await slowAttestationProxy(ca.url);
    const o = { server: slow.url, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out') };
    const agent = startAgent(agentArgs(o, '--state-dir', join(dir, 'state'), ...flags), { MESHCA_AGENT_JOIN_TOKEN: token });
    await waitFor('the attestation to reach the CA', slow.attestationSent, 10_000, 10);

    // The step finishes within the grace: it installs the SVID, and the exit status says so.
    expect(await agent.stop('SIGTERM', 10_000)).toEqual({ code: 0, signal: null });
    expect(agent.output()).toContain('waiting up to 5 s for the attestation in flight');
    // The token is spent; the saved credential is what lets the next run work without a new one.
    const next = await runAgent(agentArgs({ ...o, server: ca.url }, '--state-dir', join(dir, 'state'), '--once'));
    expect(next.code, next.stdout + next.stderr).toBe(0);
  });

  it('stopped with no attestation in flight, exits at once with 128 + the signal number: not a success', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    // Accepts connections and never answers, not even the TLS handshake: no attestation reaches the CA.
    const { port, sockets } = await silentServer();
    const agent = startAgent(agentArgs({ server: `https://127.0.0.1:${port}`, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out'), joinToken: 'unused' }, '--once'));
    await waitFor('the agent to connect', () => sockets.size > 0, 10_000, 20);

    expect(await agent.stop('SIGTERM', 5_000)).toEqual({ code: 143, signal: null });
    expect(agent.output()).toContain('stopping; installed files stay in place');
  });
});

describe('meshca-agent running continuously', () => {
  it('serves /healthz at once and /readyz 503 until an SVID is installed, then 200', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const healthPort = await freePort();
    const token = await joinToken(ca, 'node-1');
    const agent = startAgent(
      agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out'), joinToken: token }, '--health-listen', `127.0.0.1:${healthPort}`, '--sync-interval', '1s'),
    );
    // No entry grants node-1 anything yet.
    await agent.waitForLog((l) => l.msg === 'no registration entry grants this agent an identity yet', 15_000);
    expect((await getHealth(healthPort, '/healthz')).status).toBe(200);
    const waiting = await getHealth(healthPort, '/readyz');
    expect({ status: waiting.status, body: JSON.parse(waiting.body) }).toEqual({
      status: 503,
      body: { error: { code: 'not_ready', message: 'no SVID is installed yet' } },
    });

    await registerWorkload(ca, 'node-1', WEB);
    await waitFor('/readyz to answer 200', async () => (await getHealth(healthPort, '/readyz')).status === 200, 10_000);
    expect(readInstalled(join(dir, 'out')).spiffeId).toBe(WEB);
    expect((await getHealth(healthPort, '/healthz')).status).toBe(200);
    // Read once from package.json, as --version prints it.
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const scrape = new Scrape((await getHealth(healthPort, '/metrics')).body);
    expect(scrape.samples('meshca_agent_build_info')).toEqual([{ labels: { version, nodejs: process.versions.node }, value: 1 }]);
  });

  it('lets an evicted agent in again once a new join token is written to --join-token-file, without a restart', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const out = join(dir, 'out');
    const healthPort = await freePort();
    const tokenFile = join(dir, 'join-token');
    // As a kubelet updates a mounted Secret: a new file renamed over the old one.
    const writeToken = (token: string) => {
      writeFileSync(`${tokenFile}.new`, `${token}\n`, { mode: 0o600 });
      renameSync(`${tokenFile}.new`, tokenFile);
    };
    writeToken((await enrollAgent(ca, 'node-1', WEB)).token);
    const agent = startAgent(
      agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out }, '--join-token-file', tokenFile, '--state-dir', join(dir, 'state'),
        '--health-listen', `127.0.0.1:${healthPort}`, '--sync-interval', '1s'),
    );
    await waitFor('/readyz to answer 200', async () => (await getHealth(healthPort, '/readyz')).status === 200, 15_000);
    const evicted = readInstalled(out).leaf.serialNumber;

    await asOperator(ca, 'POST', '/v1/agents/node-1/evict', {});
    await agent.waitForLog((l) => l.msg === 'the CA refused the agent SVID; the agent must attest again with a new join token', 10_000);
    expect((await getHealth(healthPort, '/readyz')).status).toBe(503);
    expect((await getHealth(healthPort, '/metrics')).body).toMatch(/^meshca_agent_ready 0$/m);

    // Something other than a file there neither hangs the agent nor is taken for a token: said, and looked at again.
    rmSync(tokenFile);
    execFileSync('mkfifo', [tokenFile]);
    const fifo = await agent.waitForLog((l) => l.msg === 'could not read --join-token-file again for a new join token', 10_000);
    expect(fifo.err).toBe(`${tokenFile} is not a regular file`);
    expect((await getHealth(healthPort, '/healthz')).status).toBe(200);
    rmSync(tokenFile);
    writeToken(await joinToken(ca, 'node-1'));
    await agent.waitForLog((l) => l.msg === 'found a new join token in --join-token-file', 10_000);
    await waitFor('/readyz to answer 200 again', async () => (await getHealth(healthPort, '/readyz')).status === 200, 10_000);
    expect(agent.running()).toBe(true);
    expect((await getHealth(healthPort, '/metrics')).body).toMatch(/^meshca_agent_ready 1$/m);
    expect(readInstalled(out).leaf.serialNumber).not.toBe(evicted);
    const check = svidCheck(out, ['--trust-domain', 'example.org', '--spiffe-id', WEB]);
    expect(check.ok, check.output).toBe(true);
    expect(agent.output()).not.toContain(readFileSync(tokenFile, 'utf8').trim());
  });

  it('started with a bundle from before a root rotation, cannot verify the CA; trusts it once the new root is added to --trust-bundle, without a restart', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const out = join(dir, 'out');
    const trustBundle = writeTrustBundle(ca, dir); // the root before the rotation only
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    expect((await ca.localApp.inject({ method: 'POST', url: '/v1/authorities/root/prepare' })).statusCode).toBe(201);
    expect((await ca.localApp.inject({ method: 'POST', url: '/v1/authorities/root/activate', payload: { force: true } })).statusCode).toBe(200);
    const bundle = (await ca.localApp.inject({ method: 'GET', url: '/v1/bundle.pem' })).body;
    const newRoot = (bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g) ?? []).filter((pem) => !ca.bundlePem.includes(pem.trim()));
    expect(newRoot).toHaveLength(1);
    await waitFor('the CA to serve under the new root', async () => (await callHttps(ca.url, { path: '/healthz', ca: newRoot[0]! }).catch(() => ({ status: 0 }))).status === 200, 10_000);
    const agent = startAgent(agentArgs({ server: ca.url, trustBundle, out, joinToken: token }, '--sync-interval', '1s'));
    await agent.waitForLog((l) => l.msg === 'could not reach or use the CA; will retry', 15_000);

    writeFileSync(`${trustBundle}.new`, bundle);
    renameSync(`${trustBundle}.new`, trustBundle);
    await agent.waitForLog((l) => l.msg === "trusting the roots added to --trust-bundle since the start, until the CA's own bundle replaces them", 10_000);
    await agent.waitForLog((l) => l.msg === 'installed a new SVID', 10_000);
    expect(readInstalled(out).bundlePem).toBe(bundle);
  });

  it('applies a changed entry (new DNS names) at the next sync, without a restart', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const out = join(dir, 'out');
    const { token, entryId } = await enrollAgent(ca, 'node-1', WEB, { dns: ['web.example'] });
    const agent = startAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out, joinToken: token }, '--sync-interval', '1s'));
    await agent.waitForLog((l) => l.msg === 'installed a new SVID', 15_000);
    expect(readInstalled(out).leaf.subjectAltName).toBe(`DNS:web.example, URI:${WEB}`);

    await asOperator(ca, 'PATCH', `/v1/entries/${entryId}`, { dns: ['web.internal'] });
    await waitFor('the changed entry to be installed', () => readInstalled(out).leaf.subjectAltName === `DNS:web.internal, URI:${WEB}`, 10_000);
    expect(readInstalled(out).keyMatches).toBe(true);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('stops within a second of %s and leaves the installed files in place', { timeout: 30_000 }, async (signal) => {
    const ca = await startTestCa();
    const dir = tempDir();
    const out = join(dir, 'out');
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const healthPort = await freePort();
    const agent = startAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out, joinToken: token }, '--health-listen', `127.0.0.1:${healthPort}`));
    await agent.waitForLog((l) => l.msg === 'installed a new SVID', 15_000);
    const installed = readInstalled(out);

    const asked = Date.now();
    const exit = await agent.stop(signal, 5_000);
    expect(Date.now() - asked).toBeLessThan(1_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(readInstalled(out).version).toBe(installed.version);
    const check = svidCheck(out, ['--trust-domain', 'example.org', '--spiffe-id', WEB]);
    expect(check.ok, check.output).toBe(true);
    expect((await getHealth(healthPort, '/healthz')).status).toBe(0);
  });

  it.each(['--out', '--state-dir'])('refuses to start beside an agent running with the same %s, and starts once that one has stopped', { timeout: 30_000 }, async (shared) => {
    const { port, sockets } = await silentServer();
    const ca = await startTestCa();
    const dir = tempDir();
    const o = (n: number) => ({ server: `https://127.0.0.1:${port}`, trustBundle: writeTrustBundle(ca, dir), out: join(dir, shared === '--out' ? 'out' : `out-${n}`), joinToken: 'unused' });
    const stateDir = (n: number) => join(dir, shared === '--state-dir' ? 'state' : `state-${n}`);
    const first = startAgent(agentArgs(o(1), '--state-dir', stateDir(1)));
    await waitFor('the first agent to connect', () => sockets.size > 0, 10_000, 20);

    const second = await runAgent(agentArgs(o(2), '--state-dir', stateDir(2), '--once'));
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`another meshca-agent is running with ${shared} `);

    expect(await first.stop('SIGTERM', 5_000)).toEqual({ code: 0, signal: null });
    const third = startAgent(agentArgs(o(3), '--state-dir', stateDir(3)));
    await waitFor('the next agent to connect', () => sockets.size > 1, 10_000, 20);
    expect(await third.stop('SIGTERM', 5_000)).toEqual({ code: 0, signal: null });
  });

  it('stops within a second of SIGTERM even while a request to an unresponsive CA is in flight', { timeout: 30_000 }, async () => {
    // Accepts connections and never answers, not even the TLS handshake.
    const { port, sockets } = await silentServer();
    const ca = await startTestCa();
    const dir = tempDir();
    const agent = startAgent(agentArgs({ server: `https://127.0.0.1:${port}`, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out'), joinToken: 'unused' }));
    await waitFor('the agent to connect', () => sockets.size > 0, 10_000, 20);

    const asked = Date.now();
    const exit = await agent.stop('SIGTERM', 5_000);
    expect(Date.now() - asked).toBeLessThan(1_000);
    expect(exit).toEqual({ code: 0, signal: null });
  });


  it('applies a changed entry at once on SIGHUP, long before the next sync, and keeps running', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const out = join(dir, 'out');
    const { token, entryId } = await enrollAgent(ca, 'node-1', WEB, { dns: ['web.example'] });
    const agent = startAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out, joinToken: token }, '--sync-interval', '1h'));
    await agent.waitForLog((l) => l.msg === 'installed a new SVID', 15_000);
    await asOperator(ca, 'PATCH', `/v1/entries/${entryId}`, { dns: ['web.internal'] });

    process.kill(agent.pid, 'SIGHUP');
    expect(await agent.waitForLog((l) => l.signal === 'SIGHUP', 5_000)).toMatchObject({ level: 30, msg: 'SIGHUP received; syncing with the CA now' });
    await waitFor('the changed entry to be installed', () => readInstalled(out).leaf.subjectAltName === `DNS:web.internal, URI:${WEB}`, 10_000);
    expect(agent.running()).toBe(true);
  });

  it('retries a failing reload until the proxy takes it: not ready meanwhile (what the proxy serves is unknown), ready once it has', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const healthPort = await freePort();
    // A "proxy" that refuses to reload until DIR/up exists.
    const reloadCmd = `/bin/sh -c 'test -e ${dir}/up && touch ${dir}/reloaded'`;
    const agent = startAgent(
      agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out'), joinToken: token }, '--reload-cmd', reloadCmd, '--health-listen', `127.0.0.1:${healthPort}`),
    );
    await agent.waitForLog((l) => l.msg === 'reloading the proxy failed; will retry', 15_000);
    expect(await getHealth(healthPort, '/readyz')).toMatchObject({ status: 503, body: expect.stringContaining('the proxy has not been reloaded since the agent started') });
    writeFileSync(join(dir, 'up'), '');
    await waitFor('the reload to be retried and succeed', () => existsSync(join(dir, 'reloaded')), 15_000);
    await waitFor('the agent to be ready', async () => (await getHealth(healthPort, '/readyz')).status === 200, 5_000);
    expect(agent.running()).toBe(true);
  });

  it('exits non-zero with the reason when --health-listen cannot be bound', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanupLater(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as import('node:net').AddressInfo).port;
    const run = await runAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out'), joinToken: token }, '--health-listen', `127.0.0.1:${port}`), {}, 10_000);
    expect(run.code).not.toBe(0);
    expect(run.code).not.toBeNull();
    expect(run.stderr).toContain('EADDRINUSE');
  });

  it('runs --reload-cmd after installing, split into words without a shell', { timeout: 30_000 }, async () => {
    const ca = await startTestCa();
    const dir = tempDir();
    const { token } = await enrollAgent(ca, 'node-1', WEB);
    // A shell would run `marker` as a second command and expand $HOME; split without one, these are literal file names.
    const reloadCmd = `/usr/bin/touch '${dir}/with space' ${dir}/semi;marker ${dir}/$HOME`;
    startAgent(agentArgs({ server: ca.url, trustBundle: writeTrustBundle(ca, dir), out: join(dir, 'out'), joinToken: token }, '--reload-cmd', reloadCmd));
    await waitFor('the reload command to run', () => existsSync(join(dir, 'with space')), 15_000);
    expect({ semicolon: existsSync(join(dir, 'semi;marker')), dollar: existsSync(join(dir, '$HOME')) }).toEqual({ semicolon: true, dollar: true });
  });
});
