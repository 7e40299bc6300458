/**
 * The deployment the agent is made for, assembled from real parts: a CA, the
 * agent binary, nginx and an upstream, plus a client holding another
 * workload's SVID; and a load of requests through nginx, each on its own
 * connection, by the curl binary and by Node.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupLater } from './cleanup.js';
import { agentArgs, runAgent, startAgent, type AgentProcess } from './agent-process.js';
import { asOperator } from './callers.js';
import { curl, httpsGet, servedSerial, startNginx, workerCount, startUpstream, type ClientFiles, type Nginx, type Upstream } from './nginx.js';
import type { TestCa } from './test-ca.js';
import { tempDir } from './temp-dir.js';
import { waitFor } from './wait.js';
import { enrollAgent, readInstalled, writeTrustBundle } from './workloads.js';

export const WEB_ID = 'spiffe://example.org/ns/web';
export const CLIENT_ID = 'spiffe://example.org/ns/client';

export interface Mesh {
  readonly dir: string;
  readonly trustBundle: string;
  /** The web agent's --out, which nginx reads. */
  readonly out: string;
  /** The web agent's --state-dir, shared by its --once run and its continuous run. */
  readonly stateDir: string;
  readonly nginx: Nginx;
  readonly upstream: Upstream;
  /** The continuous web agent. */
  readonly agent: AgentProcess;
  /** An SVID for CLIENT_ID, installed by a second agent, as curl's client certificate. */
  readonly client: ClientFiles & { readonly cert: string; readonly key: string };
  /** The same, for Node's TLS. */
  readonly clientTls: { readonly ca: string; readonly cert: string; readonly key: string };
}

export interface MeshOptions {
  /** TTL of the web entry (default: the CA's). */
  readonly webTtl?: string;
  /** TTL of the client entry; it must outlive the test. */
  readonly clientTtl?: string;
  /** Flags of the continuous agent that make it reload nginx, plus any others. */
  readonly agentFlags: (nginx: Nginx) => string[];
}

async function mustRun(args: string[], what: string): Promise<void> {
  const run = await runAgent(args);
  if (run.code !== 0) throw new Error(`${what} exited ${run.code}:\n${run.stdout}${run.stderr}`);
}

/**
 * In order: the agent installs an SVID once (init container), nginx starts on
 * those files, then the agent runs continuously (reusing its agent SVID from
 * the shared state directory, since the join token is spent) and reloads
 * nginx after each installation. The web entry gains a DNS name before the
 * continuous agent starts, so that it replaces at once the SVID it finds in
 * --out (one that still matched its entry would be kept until its
 * half-life). Resolves once nginx serves the SVID the continuous agent
 * installed, which only a working reload brings about.
 */
export async function meshedNginx(ca: TestCa, o: MeshOptions): Promise<Mesh> {
  const dir = tempDir();
  const trustBundle = writeTrustBundle(ca, dir);
  const out = join(dir, 'web');
  const stateDir = join(dir, 'web-state');
  const web = await enrollAgent(ca, 'web-node', WEB_ID, o.webTtl ? { ttl: o.webTtl } : {});
  await mustRun(agentArgs({ server: ca.url, trustBundle, out, joinToken: web.token }, '--state-dir', stateDir, '--once'), 'the web agent (--once)');

  const clientDir = join(dir, 'client');
  const client = await enrollAgent(ca, 'client-node', CLIENT_ID, o.clientTtl ? { ttl: o.clientTtl } : {});
  await mustRun(agentArgs({ server: ca.url, trustBundle, out: clientDir, joinToken: client.token }, '--once'), 'the client agent (--once)');
  const clientSet = readInstalled(clientDir);

  const upstream = await startUpstream();
  const prefix = join(dir, 'nginx');
  mkdirSync(prefix);
  const nginx = await startNginx({ svidDir: out, upstreamPort: upstream.port, prefix });
  const clientTls = { ca: ca.bundlePem, cert: clientSet.chainPem, key: clientSet.keyPem };

  const installedBefore = readInstalled(out).leaf.serialNumber;
  await asOperator(ca, 'PATCH', `/v1/entries/${web.entryId}`, { dns: ['localhost', 'web.localhost'] });
  const agent = startAgent(agentArgs({ server: ca.url, trustBundle, out }, '--state-dir', stateDir, ...o.agentFlags(nginx)));
  await waitFor('the continuous agent to install its first SVID', () => readInstalled(out).leaf.serialNumber !== installedBefore, 15_000);
  await waitFor(
    'nginx to serve the SVID the agent installed',
    async () => (await servedSerial(nginx.port, clientTls)) === readInstalled(out).leaf.serialNumber,
    15_000,
  );
  await waitFor("nginx's worker from before the reload to exit", () => workerCount(nginx) === 1, 15_000);
  return {
    dir,
    trustBundle,
    out,
    stateDir,
    nginx,
    upstream,
    agent,
    client: { cacert: trustBundle, cert: join(clientDir, 'svid.pem'), key: join(clientDir, 'svid_key.pem') },
    clientTls,
  };
}

/** One request of a load run. */
export interface Outcome {
  readonly via: 'curl' | 'node';
  readonly atMs: number;
  readonly ok: boolean;
  readonly detail: string;
  /** The serial nginx presented (Node requests only). */
  readonly serverSerial?: string;
}

export interface RunningLoad {
  /** Stops after the requests in flight and returns every outcome. */
  stop(): Promise<Outcome[]>;
}

/**
 * Requests through nginx as the mesh's client, back to back, each on a new
 * connection: `curlLoops` loops of the curl binary and one loop of Node's
 * https. A request succeeds when the upstream answers that nginx verified
 * CLIENT_ID.
 */
export function startLoad(mesh: Mesh, curlLoops = 2): RunningLoad {
  const outcomes: Outcome[] = [];
  let running = true;
  const expectedBody = JSON.stringify({ verify: 'SUCCESS', spiffeId: CLIENT_ID });
  const curlLoop = async () => {
    while (running) {
      const r = await curl(mesh.nginx.port, mesh.client);
      outcomes.push({
        via: 'curl',
        atMs: Date.now(),
        ok: r.exitCode === 0 && r.status === 200 && r.body === expectedBody,
        detail: `exit ${r.exitCode} status ${r.status} ${r.body} ${r.stderr}`.trim(),
      });
    }
  };
  const nodeLoop = async () => {
    while (running) {
      try {
        const r = await httpsGet(mesh.nginx.port, mesh.clientTls);
        outcomes.push({ via: 'node', atMs: Date.now(), ok: r.status === 200 && r.body === expectedBody, detail: `status ${r.status} ${r.body}`, serverSerial: r.serverSerial });
      } catch (err) {
        outcomes.push({ via: 'node', atMs: Date.now(), ok: false, detail: (err as Error).message });
      }
    }
  };
  const loops = Promise.all([...Array.from({ length: curlLoops }, curlLoop), nodeLoop()]);
  cleanupLater(async () => {
    running = false;
    await loops;
  });
  return {
    stop: async () => {
      running = false;
      await loops;
      return outcomes;
    },
  };
}
