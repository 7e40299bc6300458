/**
 * A real HAProxy terminating mutual TLS from the files the agent installs:
 * `combined.pem` (key and chain in one file, as HAProxy's `crt` wants),
 * `bundle.pem` as its `ca-file` and `crl.pem` as its `crl-file`. It runs in
 * master-worker mode in the foreground, as a child of the test: the spawned
 * PID is the master, which re-reads every file when sent SIGUSR2, and the
 * master is what the test stops.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { portAccepts, supervise, type SupervisedProxy } from './proxy-process.js';
import { freePort, sleep } from './wait.js';

export const HAPROXY_BIN = '/usr/sbin/haproxy';

export interface HaproxyOptions {
  /** The agent's --out directory, written with --combined. */
  readonly svidDir: string;
  /** An empty directory for the configuration and the pid file. */
  readonly prefix: string;
}

/** `pid` is the master's; HAProxy prints its alerts and warnings to stderr, so `output()` holds them. */
export interface Haproxy extends SupervisedProxy {
  readonly port: number;
  /** Holds the master's PID: what the agent's --pid-file reads. */
  readonly pidFile: string;
}

/**
 * Every request is answered by HAProxy itself with what it verified: the
 * client certificate's verification result (0 is success) and serial number.
 */
function configuration(o: HaproxyOptions, port: number): string {
  const file = (name: string) => join(o.svidDir, name);
  return `global
  log stderr format short local0 notice
defaults
  mode http
  log global
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend mtls
  bind 127.0.0.1:${port} ssl crt ${file('combined.pem')} ca-file ${file('bundle.pem')} crl-file ${file('crl.pem')} verify required
  http-request return status 200 content-type application/json lf-string "{\\"verify\\":%[ssl_c_verify],\\"serial\\":\\"%[ssl_c_serial,hex]\\"}"
`;
}

/** Starts HAProxy (`-W -db`) on a free loopback port and resolves once it accepts connections. */
export async function startHaproxy(o: HaproxyOptions, timeoutMs = 10_000): Promise<Haproxy> {
  mkdirSync(o.prefix, { recursive: true });
  const port = await freePort();
  const confPath = join(o.prefix, 'haproxy.cfg');
  const pidFile = join(o.prefix, 'haproxy.pid');
  writeFileSync(confPath, configuration(o, port));
  const proxy = supervise(spawn(HAPROXY_BIN, ['-W', '-db', '-f', confPath, '-p', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] }), 'haproxy');

  const deadline = Date.now() + timeoutMs;
  while (proxy.running() && Date.now() < deadline) {
    if (existsSync(pidFile) && (await portAccepts(port))) return { ...proxy, port, pidFile };
    await sleep(50);
  }
  await proxy.stop(2_000).catch(() => undefined);
  throw new Error(`haproxy did not start:\n${proxy.output()}`);
}
