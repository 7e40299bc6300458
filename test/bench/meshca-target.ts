/**
 * meshca as the benchmark drives it: the real server binary, agents attested
 * with join tokens, and workload SVID requests over mutual TLS with their agent
 * SVIDs on keep-alive connections — the path every renewal takes.
 */
import { Agent, request } from 'node:https';
import { AdminClient } from '../../src/cli/admin-client.js';
import { createCsr } from '../../src/x509/csr-builder.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { MESHCA_BIN } from '../support/cli.js';

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

async function startCaProcess(dataDir: string, args: string[]): Promise<CaProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [MESHCA_BIN, 'server', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const admin = new AdminClient(dataDir);
  for (let i = 0; ; i++) {
    if ((await admin.raw('GET', '/healthz').catch(() => undefined))?.status === 200) break;
    if (i > 200 || child.exitCode !== null) throw new Error('meshca server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid!,
    url: `https://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
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
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export async function startMeshca(dataDir: string, csrs: readonly string[]): Promise<MeshcaTarget> {
  const server = await startCaProcess(dataDir, ['--log-level', 'warn', '--agent-rate-limit', '1000000', '--attest-rate-limit', '10000']);
  const admin = new AdminClient(dataDir);
  const bundle = (await admin.raw('GET', '/v1/bundle.pem')).body;
  const identities: Array<{ agent: Agent; entryId: string }> = [];
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
      for (const i of identities) i.agent.destroy();
      await server.stop();
    },
  };
}
