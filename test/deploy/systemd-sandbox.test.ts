/**
 * The sandbox deploy/systemd puts meshca in, tried for real where systemd
 * itself cannot run (a container): the CA and the agent run as a user of
 * their own without any capability (User=, CapabilityBoundingSet=,
 * NoNewPrivileges=), with a read-only root filesystem but for their own
 * directories (ProtectSystem=strict with StateDirectory= and
 * RuntimeDirectory=) and a /proc that holds processes only (ProcSubset=pid,
 * ProtectProc=invisible), in mount and PID namespaces of their own.
 * Something meshca comes to write, read from /proc or need a privilege for,
 * outside what the units allow, fails here before it fails on a host. (The
 * system call filter is not reproduced.)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_BIN } from '../support/agent-process.js';
import { cleanupLater } from '../support/cleanup.js';
import { MESHCA_BIN } from '../support/cli.js';
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
// The program is PID 1 of its namespace, and unshare's only child (sh execs setpriv, which execs it).
const UNSHARE = ['--mount', '--pid', '--fork', '--propagation', 'private', 'sh', '-ec', SANDBOX, 'sandbox'];
/** The units' users: a system user, not root, with no capability and no way to gain one. */
const SERVICE_UID = 10001;
const AS_SERVICE_USER = ['setpriv', `--reuid=${SERVICE_UID}`, `--regid=${SERVICE_UID}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs'];

function sandboxed(writable: readonly string[], argv: readonly string[]): ChildProcess & { output(): string } {
  const child = spawn('unshare', [...UNSHARE, ...AS_SERVICE_USER, ...argv], { env: { ...process.env, SANDBOX_WRITABLE: writable.join(' ') }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return Object.assign(child, { output: () => output });
}

const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

/**
 * Stops a sandboxed program with SIGTERM, as systemctl stop does, and waits for unshare to exit after it.
 * unshare ignores SIGTERM while it waits, so the signal goes to the program itself, by the PID it has here.
 */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const [program] = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  if (program) process.kill(program, 'SIGTERM');
  else child.kill('SIGKILL');
  await exited(child);
}

/** Mount namespaces need root (or CAP_SYS_ADMIN) and /proc's subset=, Linux 5.8: without them the test is skipped, and says so. */
const CAN_SANDBOX = spawnSync('unshare', [...UNSHARE, ...AS_SERVICE_USER, 'true'], { env: { ...process.env, SANDBOX_WRITABLE: '' } }).status === 0;
if (!CAN_SANDBOX) console.warn('\n*** unshare and setpriv cannot make the sandbox here (run as root on Linux 5.8+): the systemd sandbox test is NOT run. ***\n');

/** A directory of the service user's own, as StateDirectory= and RuntimeDirectory= make them. */
function ownDirectory(prefix: string): string {
  const dir = tempDir(prefix);
  chownSync(dir, SERVICE_UID, SERVICE_UID);
  chmodSync(dir, 0o700);
  return dir;
}

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
  it.skipIf(!CAN_SANDBOX)('the CA signs and serves /metrics, and the agent attests and installs, as a user without privileges that writes only its own directories and reads no /proc but processes', async () => {
    const dataDir = ownDirectory('sbx');
    const metricsPort = await freePort();
    // Two signing workers and the SQLite writer thread, as a host runs them.
    const ca = sandboxed([dataDir], [process.execPath, MESHCA_BIN, 'server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', `127.0.0.1:${metricsPort}`, '--signing-workers', '2', '--log-level', 'info']);
    cleanupLater(() => stop(ca));
    const listening = () => parseLogLines(ca.output()).find((l) => l.msg === READY_MESSAGE);
    await waitFor('the sandboxed CA to listen', () => listening() !== undefined || ca.exitCode !== null, 30_000);
    expect(listening(), ca.output()).toBeDefined();

    // An operator on the host, as the unit's comment says: sudo -u meshca meshca … (the CLI refuses, as root, a data directory another user owns in /tmp).
    const operator = (...args: string[]) => {
      const run = spawnSync(AS_SERVICE_USER[0]!, [...AS_SERVICE_USER.slice(1), process.execPath, MESHCA_BIN, ...args], { env: { ...process.env, MESHCA_DATA_DIR: dataDir }, encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      return run.stdout;
    };
    const token = operator('token', 'create', '--agent', 'node-1');
    operator('entry', 'create', '--agent', 'node-1', '--spiffe-id', 'spiffe://example.org/ns/web');
    const bundle = operator('bundle');
    // What systemd hands over (the join token as a credential) is the service user's to read.
    const files = ownDirectory('sbx-agent');
    for (const [name, content] of [['join-token', token], ['bundle.pem', bundle]] as const) {
      writeFileSync(join(files, name), content, { mode: 0o600 });
      chownSync(join(files, name), SERVICE_UID, SERVICE_UID);
    }

    const out = ownDirectory('sbx-out');
    const state = ownDirectory('sbx-state');
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
