/**
 * The sandbox deploy/systemd puts meshca in, tried for real where systemd
 * itself cannot run (a container): the CA and the agent run with a read-only
 * root filesystem but for their own directories (ProtectSystem=strict with
 * StateDirectory= and RuntimeDirectory=) and a /proc that holds processes
 * only (ProcSubset=pid, ProtectProc=invisible), in mount and PID namespaces
 * of their own. Something meshca comes to write, or read from /proc, outside
 * what the units allow fails here before it fails on a host. (The system
 * call filter and the dropped capabilities are not reproduced.)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_BIN } from '../support/agent-process.js';
import { cleanupLater } from '../support/cleanup.js';
import { MESHCA_BIN, runMeshca } from '../support/cli.js';
import { parseLogLines } from '../support/log-lines.js';
import { READY_MESSAGE } from '../support/server-process.js';
import { tempDir } from '../support/temp-dir.js';
import { freePort, waitFor } from '../support/wait.js';

/** Bind each writable directory onto itself, then make the rest read-only and /proc processes-only, and run the program. */
const SANDBOX = `
for d in $SANDBOX_WRITABLE; do mount --bind "$d" "$d"; done
mount -o remount,bind,ro /
mount -t proc -o subset=pid,hidepid=invisible proc /proc
exec "$@"`;
// The program is PID 1 of its namespace. unshare ignores SIGTERM while it waits; when it dies (SIGKILL),
// the program gets SIGTERM, as from systemctl stop.
const UNSHARE = ['--mount', '--pid', '--fork', '--propagation', 'private', '--kill-child=SIGTERM', 'sh', '-ec', SANDBOX, 'sandbox'];

function sandboxed(writable: readonly string[], argv: readonly string[]): ChildProcess & { output(): string } {
  const child = spawn('unshare', [...UNSHARE, ...argv], { env: { ...process.env, SANDBOX_WRITABLE: writable.join(' ') }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return Object.assign(child, { output: () => output });
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

/** Stops a sandboxed program and waits for it to end: its output closes when it exits, not when unshare does. */
async function stop(child: ChildProcess): Promise<void> {
  const closed = new Promise((resolve) => (child.stdout!.closed ? resolve(undefined) : child.stdout!.once('close', resolve)));
  child.kill('SIGKILL');
  await closed;
}

/** Mount namespaces need root (or CAP_SYS_ADMIN) and /proc's subset=, Linux 5.8: without them the test is skipped, and says so. */
const CAN_SANDBOX = spawnSync('unshare', [...UNSHARE, 'true'], { env: { ...process.env, SANDBOX_WRITABLE: '' } }).status === 0;
if (!CAN_SANDBOX) console.warn('\n*** unshare cannot make mount namespaces here (run as root on Linux 5.8+): the systemd sandbox test is NOT run. ***\n');

function plainGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('deploy/systemd sandbox', () => {
  it.skipIf(!CAN_SANDBOX)('the CA signs and serves /metrics, and the agent attests and installs, writing only their own directories and reading no /proc but processes', async () => {
    const dataDir = tempDir('sbx');
    chmodSync(dataDir, 0o700);
    const metricsPort = await freePort();
    // Two signing workers and the SQLite writer thread, as a host runs them.
    const ca = sandboxed([dataDir], [process.execPath, MESHCA_BIN, 'server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', `127.0.0.1:${metricsPort}`, '--signing-workers', '2', '--log-level', 'info']);
    cleanupLater(() => stop(ca));
    const listening = () => parseLogLines(ca.output()).find((l) => l.msg === READY_MESSAGE);
    await waitFor('the sandboxed CA to listen', () => listening() !== undefined || ca.exitCode !== null, 30_000);
    expect(listening(), ca.output()).toBeDefined();

    const operator = { MESHCA_DATA_DIR: dataDir };
    const token = await runMeshca(['token', 'create', '--agent', 'node-1'], operator);
    expect(await runMeshca(['entry', 'create', '--agent', 'node-1', '--spiffe-id', 'spiffe://example.org/ns/web'], operator)).toMatchObject({ code: 0 });
    const bundle = await runMeshca(['bundle'], operator);
    const files = tempDir('sbx-agent');
    writeFileSync(join(files, 'join-token'), token.stdout, { mode: 0o600 });
    writeFileSync(join(files, 'bundle.pem'), bundle.stdout);

    const out = tempDir('sbx-out');
    const state = tempDir('sbx-state');
    chmodSync(state, 0o700);
    const agent = sandboxed([out, state], [
      process.execPath, AGENT_BIN, '--once', '--server', `https://${String(listening()!.address)}`, '--trust-bundle', join(files, 'bundle.pem'),
      '--join-token-file', join(files, 'join-token'), '--out', out, '--state-dir', state,
    ]);
    const code = await exited(agent);
    expect({ code, installed: ['svid.pem', 'svid_key.pem', 'bundle.pem', 'crl.pem'].filter((f) => existsSync(join(out, f))) }, agent.output()).toEqual({
      code: 0,
      installed: ['svid.pem', 'svid_key.pem', 'bundle.pem', 'crl.pem'],
    });

    const metrics = await plainGet(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^meshca_issuances_total\{result="issued",key_type="ec-p256",kind="workload"\} 1$/m);
    expect(metrics.body).toMatch(/^meshca_process_open_fds \d+$/m);
  });
});
