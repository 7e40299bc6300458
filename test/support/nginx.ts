/**
 * A real nginx serving mutual TLS from the files the agent installs, in front
 * of a small Node upstream that reports which client certificate nginx
 * verified. nginx runs in the foreground as a child of the test (its master is
 * the spawned PID), with its pid file, logs and temp paths inside a temporary
 * prefix, and is stopped by that PID.
 */
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { cleanupLater } from './cleanup.js';
import { portAccepts, supervise } from './proxy-process.js';
import { freePort, sleep } from './wait.js';

export const NGINX_BIN = '/usr/sbin/nginx';

/** The identity nginx verified for one request, as the upstream saw it. */
export interface PeerReport {
  /** $ssl_client_verify: SUCCESS, NONE or FAILED:reason. */
  readonly verify: string;
  /** The URI SAN of the client certificate nginx passed on, or null without one. */
  readonly spiffeId: string | null;
}

export interface Upstream {
  readonly port: number;
  /** Every report answered so far, oldest first. */
  readonly seen: PeerReport[];
}

/**
 * An HTTP upstream on a loopback port that decodes X-Client-Cert
 * ($ssl_client_escaped_cert) and answers the peer's SPIFFE ID as JSON.
 */
export async function startUpstream(): Promise<Upstream> {
  const seen: PeerReport[] = [];
  const server: Server = createServer((req, res) => {
    const escaped = req.headers['x-client-cert'];
    let spiffeId: string | null = null;
    if (typeof escaped === 'string' && escaped !== '') {
      const cert = new X509Certificate(decodeURIComponent(escaped));
      spiffeId = (cert.subjectAltName ?? '').split(', ').find((n) => n.startsWith('URI:'))?.slice(4) ?? null;
    }
    const report = { verify: String(req.headers['x-client-verify'] ?? ''), spiffeId };
    seen.push(report);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(report));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanupLater(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as AddressInfo).port, seen };
}

export interface NginxOptions {
  /** The agent's --out directory: svid.pem, svid_key.pem and bundle.pem are read from it. */
  readonly svidDir: string;
  readonly upstreamPort: number;
  /** An empty directory for nginx's configuration, pid file, logs and temp files. */
  readonly prefix: string;
}

export interface Nginx {
  /** The master process, the one spawned. */
  readonly pid: number;
  readonly port: number;
  readonly prefix: string;
  readonly confPath: string;
  readonly pidFile: string;
  readonly errorLogPath: string;
  /** A --reload-cmd for the agent: `nginx -s reload` against this instance. */
  readonly reloadCommand: string;
  errorLog(): string;
  running(): boolean;
  /** Fast shutdown (SIGTERM to the master) and waits for the master to exit; SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<void>;
}

function configuration(o: NginxOptions, port: number): string {
  const p = (name: string) => join(o.prefix, name);
  return `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
pid ${p('nginx.pid')};
error_log ${p('error.log')} notice;
events { worker_connections 256; }
http {
  access_log ${p('access.log')};
  client_body_temp_path ${p('temp/client_body')};
  proxy_temp_path ${p('temp/proxy')};
  fastcgi_temp_path ${p('temp/fastcgi')};
  uwsgi_temp_path ${p('temp/uwsgi')};
  scgi_temp_path ${p('temp/scgi')};
  server {
    listen 127.0.0.1:${port} ssl;
    server_name localhost;
    ssl_certificate ${join(o.svidDir, 'svid.pem')};
    ssl_certificate_key ${join(o.svidDir, 'svid_key.pem')};
    ssl_client_certificate ${join(o.svidDir, 'bundle.pem')};
    ssl_verify_client on;
    ssl_verify_depth 2;
    location / {
      proxy_pass http://127.0.0.1:${o.upstreamPort};
      proxy_set_header X-Client-Cert $ssl_client_escaped_cert;
      proxy_set_header X-Client-Verify $ssl_client_verify;
    }
  }
}
`;
}

/**
 * Starts nginx in the foreground (`-g 'daemon off;'`) on a free loopback port
 * and resolves once it accepts connections. A port taken between choosing and
 * binding is retried with another one.
 */
export async function startNginx(o: NginxOptions, timeoutMs = 10_000): Promise<Nginx> {
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const started = await tryStart(o, await freePort(), timeoutMs);
    if ('pid' in started) return started;
    lastError = started.error;
    if (!lastError.includes('Address already in use')) break;
  }
  throw new Error(`nginx did not start:\n${lastError}`);
}

async function tryStart(o: NginxOptions, port: number, timeoutMs: number): Promise<Nginx | { error: string }> {
  mkdirSync(join(o.prefix, 'temp'), { recursive: true });
  const confPath = join(o.prefix, 'nginx.conf');
  const errorLogPath = join(o.prefix, 'error.log');
  writeFileSync(confPath, configuration(o, port));
  const base = ['-p', `${o.prefix}/`, '-c', confPath, '-e', errorLogPath];
  const proxy = supervise(spawn(NGINX_BIN, [...base, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] }), 'nginx');
  const errorLog = () => (existsSync(errorLogPath) ? readFileSync(errorLogPath, 'utf8') : '');

  const deadline = Date.now() + timeoutMs;
  while (proxy.running() && Date.now() < deadline) {
    if (await portAccepts(port)) {
      return {
        pid: proxy.pid,
        port,
        prefix: o.prefix,
        confPath,
        pidFile: join(o.prefix, 'nginx.pid'),
        errorLogPath,
        reloadCommand: [NGINX_BIN, ...base, '-s', 'reload'].join(' '),
        errorLog,
        running: proxy.running,
        stop: proxy.stop,
      };
    }
    await sleep(50);
  }
  await proxy.stop(2_000).catch(() => undefined);
  return { error: `${proxy.output()}${errorLog()}` };
}

/** A client certificate and key as files, and the roots to verify nginx with. */
export interface ClientFiles {
  readonly cacert: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface CurlResult {
  /** curl's exit code: 0 for any HTTP answer, non-zero when no answer came (refused handshake, timeout...). */
  readonly exitCode: number;
  /** 0 when there was no HTTP answer. */
  readonly status: number;
  readonly body: string;
  readonly stderr: string;
}

/** One GET https://localhost:PORT/ with the curl binary (its own connection), verifying nginx's certificate for "localhost". */
export function curl(port: number, files: ClientFiles, timeoutSeconds = 5): Promise<CurlResult> {
  const args = [
    '-sS',
    '--max-time', String(timeoutSeconds),
    '--resolve', `localhost:${port}:127.0.0.1`,
    '--cacert', files.cacert,
    ...(files.cert ? ['--cert', files.cert] : []),
    ...(files.key ? ['--key', files.key] : []),
    '-w', '\n%{http_code}',
    `https://localhost:${port}/`,
  ];
  return new Promise((resolve) => {
    execFile('curl', args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      const cut = stdout.lastIndexOf('\n');
      const exitCode = err ? Number((err as { code?: number }).code ?? 1) : 0;
      resolve({ exitCode, status: Number(stdout.slice(cut + 1)) || 0, body: stdout.slice(0, Math.max(0, cut)), stderr });
    });
  });
}

export interface HttpsResult {
  readonly status: number;
  readonly body: string;
  /** Serial number (upper-case hex, as node:crypto prints it) of the leaf nginx presented. */
  readonly serverSerial: string;
}

/** One GET through nginx with Node's TLS, on a fresh connection, verifying nginx's certificate for "localhost". */
export function httpsGet(port: number, tls: { ca: string; cert?: string; key?: string }, timeoutMs = 5_000): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        path: '/',
        agent: false,
        ca: tls.ca,
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        timeout: timeoutMs,
      },
      (res) => {
        const serverSerial = (res.socket as TLSSocket).getPeerX509Certificate()?.serialNumber ?? '';
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, serverSerial }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from nginx within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Serial number of the leaf nginx presents to a new connection right now. */
export async function servedSerial(port: number, tls: { ca: string; cert: string; key: string }): Promise<string> {
  return (await httpsGet(port, tls)).serverSerial;
}

/**
 * nginx's worker processes right now (children of its master). Just after a
 * reload the old worker lingers, and may still accept a new connection,
 * until it has handled its QUIT; a settled nginx has exactly one.
 */
export function workerCount(nginx: Nginx): number {
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/PID/stat is the parent's PID; the command name before it is in parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === nginx.pid) count++;
    } catch {
      // The process exited while we looked.
    }
  }
  return count;
}
