/**
 * meshca as the benchmark drives it: the real server binary, agents attested
 * with join tokens, and workload SVID requests over mutual TLS with their agent
 * SVIDs on keep-alive connections — the path every renewal takes.
 */
import { Agent, request } from 'node:https';
import { AdminClient } from '../../src/cli/admin-client.js';
import { localEndpoint } from '../../src/cli/local-endpoint.js';
import { createCsr } from '../../src/x509/csr-builder.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { MESHCA_BIN } from '../support/cli.js';
import { REQUEST_TIMEOUT_MS } from './load.js';

/** The CA process as the benchmark runs it: logging at warn, as a busy CA would, so readiness is polled. */
export interface CaProcess {
  readonly pid: number;
  readonly url: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Every server the benchmark started and has not stopped: killed when the
 * process exits, a last resort behind the try/finally blocks. Node emits no
 * 'exit' when a signal ends it, so an interrupted run (Ctrl-C, a CI timeout)
 * kills them on the signal, then exits as the signal would have.
 */
const running = new Set<ChildProcess>();
const killRunning = () => {
  for (const child of running) child.kill('SIGKILL');
};
process.on('exit', killRunning);
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
  process.once(signal, () => {
    killRunning();
    process.exit(code);
  });
}

export function trackChild(child: ChildProcess): ChildProcess {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Stops a child process and waits for it to exit (at once if it already has); SIGKILL if SIGTERM has not ended it in 10 s. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function startCaProcess(dataDir: string, args: string[]): Promise<CaProcess> {
  const port = await freePort();
  const child: ChildProcess = trackChild(
    spawn(process.execPath, [MESHCA_BIN, 'server', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
  // A start that fails (or a readiness wait that gives up) leaves no CA running behind it.
  try {
    const admin = new AdminClient(localEndpoint(dataDir));
    for (let i = 0; ; i++) {
      if ((await admin.raw('GET', '/healthz').catch(() => undefined))?.status === 200) break;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`meshca server exited during start-up (${child.exitCode ?? child.signalCode})`);
      if (i > 200) throw new Error('meshca server did not become healthy within 20 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return {
    pid: child.pid!,
    url: `https://127.0.0.1:${port}`,
    stop: () => stopChild(child),
  };
}

export interface MeshcaTarget {
  readonly server: CaProcess;
  readonly admin: AdminClient;
  /** Issues `batch` SVIDs in one request as identity `worker % identities`; resolves to how many came back. */
  issue(worker: number, batch: number): Promise<number>;
  stop(): Promise<void>;
}

const IDENTITIES = 16;

function post(agent: Agent, url: string, path: string, body: unknown): Promise<{ status: number; json: any }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': payload.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || 'null') });
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function startMeshca(dataDir: string, csrs: readonly string[]): Promise<MeshcaTarget> {
  const server = await startCaProcess(dataDir, ['--log-level', 'warn', '--agent-rate-limit', '1000000', '--attest-rate-limit', '10000']);
  const admin = new AdminClient(localEndpoint(dataDir));
  const identities: Array<{ agent: Agent; entryId: string }> = [];
  // Setting up the identities can fail too: the CA is stopped then, not left running.
  try {
    const bundle = (await admin.raw('GET', '/v1/bundle.pem')).body;
    for (let i = 0; i < IDENTITIES; i++) {
      const name = `bench-${i}`;
      const entry = await admin.call<{ id: string }>('POST', '/v1/entries', { agent: name, spiffeId: `spiffe://example.org/bench/${i}` });
      const { token } = await admin.call<{ token: string }>('POST', '/v1/tokens', { agent: name });
      const keys = await generateKeyPair('ec-p256');
      const attested = await post(new Agent({ ca: bundle }), server.url, '/v1/agent/attest', { token, csr: await createCsr(keys.privateKey, keys.publicKey) });
      if (attested.status !== 200) throw new Error(`attestation failed: ${JSON.stringify(attested.json)}`);
      identities.push({
        agent: new Agent({
          keepAlive: true,
          maxSockets: 64,
          ca: bundle,
          key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }),
          cert: attested.json.svid.svid,
        }),
        entryId: entry.id,
      });
    }
  } catch (err) {
    for (const i of identities) i.agent.destroy();
    await server.stop();
    throw err;
  }
  let next = 0;
  return {
    server,
    admin,
    issue: async (worker, batch) => {
      const id = identities[worker % IDENTITIES]!;
      const requests = Array.from({ length: batch }, () => ({ entryId: id.entryId, csr: csrs[next++ % csrs.length]! }));
      const res = await post(id.agent, server.url, '/v1/agent/svids', { requests });
      if (res.status !== 200) throw new Error(`HTTP ${res.status} ${JSON.stringify(res.json)}`);
      return res.json.svids.length as number;
    },
    stop: async () => {
      try {
        for (const i of identities) i.agent.destroy();
      } finally {
        await server.stop();
      }
    },
  };
}
