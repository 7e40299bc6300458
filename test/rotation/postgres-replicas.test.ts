/**
 * Two `meshca server` replicas on one PostgreSQL, behind a round-robin
 * balancer (what a Kubernetes Service does), with four agents renewing 8-second
 * SVIDs through it. Once the next intermediate is prepared, one replica is
 * killed with SIGKILL; the survivor activates it on schedule. Every agent
 * holds a valid SVID throughout, every certificate issued is in the audit log,
 * and each lifecycle step was taken by exactly one replica.
 */
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { agentArgs, startAgent, type AgentProcess } from '../support/agent-process.js';
import { cleanupLater } from '../support/cleanup.js';
import { runMeshca } from '../support/cli.js';
import { getOverSocket } from '../support/http-client.js';
import { startPostgres } from '../support/postgres.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { startBalancer } from '../support/tcp-balancer.js';
import { tempDir } from '../support/temp-dir.js';
import { sleep, waitFor } from '../support/wait.js';
import { readInstalled } from '../support/workloads.js';

const postgres = await startPostgres();
const ENV = { MESHCA_KEY_PASSPHRASE: 'replica test passphrase' };
const AGENTS = 4;

interface AuditLine {
  type: string;
  data: Record<string, unknown>;
}

interface Sample {
  readonly atMs: number;
  readonly serial: string;
  readonly validToMs: number;
  readonly intermediate: string;
}

async function meshca(dataDir: string, ...args: string[]): Promise<string> {
  const res = await runMeshca([...args, '--data-dir', dataDir], ENV);
  if (res.code !== 0) throw new Error(`meshca ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
  return res.stdout;
}

async function auditLog(dataDir: string): Promise<AuditLine[]> {
  return (await meshca(dataDir, 'audit', 'export')).trim().split('\n').map((l) => JSON.parse(l) as AuditLine);
}

function replica(url: string, dataDir: string): Promise<ServerProcess> {
  return startServer(
    [
      '--data-dir', dataDir, '--datastore', url,
      // The next intermediate is prepared 24 s after the first, activated at 40 s; the rotation check runs every second.
      '--intermediate-ttl', '48s', '--svid-ttl', '8s', '--svid-max-ttl', '8s', '--rotation-schedule', '* * * * * *',
      '--signing-workers', '0', '--agent-rate-limit', '100000',
    ],
    ENV,
    60_000,
  ).then((server) => {
    cleanupLater(() => server.stop().catch(() => undefined));
    return server;
  });
}

const portOf = (server: ServerProcess) => Number(server.address.split(':').at(-1));

it.skipIf(!postgres)('agents keep renewing while a replica is SIGKILLed, the audit log misses nothing, and one replica takes each rotation step', { timeout: 150_000 }, async () => {
  const url = await postgres!.database();
  const [a, b] = await Promise.all([replica(url, tempDir()), replica(url, tempDir())]);
  const dirOf = new Map([[a, a.socketPath.replace(/\/meshca\.sock$/, '')], [b, b.socketPath.replace(/\/meshca\.sock$/, '')]]);
  const balancer = await startBalancer([portOf(a), portOf(b)]);
  const work = tempDir();
  const trustBundle = join(work, 'bundle.pem');
  writeFileSync(trustBundle, (await getOverSocket(a.socketPath, '/v1/bundle.pem')).body);

  const agents: Array<{ agent: AgentProcess; out: string; samples: Sample[] }> = [];
  for (let i = 1; i <= AGENTS; i++) {
    // Half the registrations through each replica: they share one database.
    const via = dirOf.get(i % 2 ? a : b)!;
    await meshca(via, 'entry', 'create', '--agent', `node-${i}`, '--spiffe-id', `spiffe://example.org/w/${i}`);
    const token = (await meshca(via, 'token', 'create', '--agent', `node-${i}`)).trim();
    const out = join(work, `out-${i}`);
    const agent = startAgent(agentArgs({ server: `https://127.0.0.1:${balancer.port}`, trustBundle, out, joinToken: token }, '--sync-interval', '2s'));
    agents.push({ agent, out, samples: [] });
  }

  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      for (const { out, samples } of agents) {
        try {
          const set = readInstalled(out);
          const intermediate = new X509Certificate(set.chainPem.slice(set.chainPem.indexOf('-----BEGIN', 10))).fingerprint256;
          samples.push({ atMs: Date.now(), serial: set.leaf.serialNumber, validToMs: Date.parse(set.leaf.validTo), intermediate });
        } catch {
          // not installed yet
        }
      }
      await sleep(200);
    }
  })();

  let killedAtMs = 0;
  try {
    await waitFor('every agent to install its first SVID', () => agents.every((x) => x.samples.length > 0), 30_000);
    const first = agents[0]!.samples[0]!.intermediate;
    await waitFor('the next intermediate to be prepared', async () => {
      return (await auditLog(dirOf.get(b)!)).some((e) => e.type === 'authority.created' && e.data.kind === 'intermediate' && e.data.state === 'prepared');
    }, 40_000, 1_000);
    process.kill(a.pid, 'SIGKILL');
    killedAtMs = Date.now();
    await waitFor('every agent to hold an SVID from the next intermediate', () => agents.every((x) => x.samples.at(-1)!.intermediate !== first), 40_000);
    await sleep(5_000);
  } finally {
    sampling = false;
    await sampler;
    for (const { agent } of agents) await agent.stop();
  }

  // Agents never went without a valid SVID, and renewed several times after the kill, through the survivor.
  for (const { agent, samples } of agents) {
    expect(samples.filter((s) => s.validToMs <= s.atMs), agent.output()).toEqual([]);
    const renewedAfterKill = new Set(samples.filter((s) => s.atMs > killedAtMs).map((s) => s.serial));
    expect(renewedAfterKill.size, agent.output()).toBeGreaterThanOrEqual(3);
  }
  expect([...balancer.accepted.values()].every((n) => n > 0)).toBe(true);

  // Everything recorded is in the audit log, and everything an agent installed is recorded.
  // The certificates first: the CA still renews its own serving certificate, and each record is committed with its
  // event, so a log read afterwards holds an event for every record listed.
  const survivor = dirOf.get(b)!;
  const listed = JSON.parse(await meshca(survivor, 'cert', 'list', '--json', '--limit', '100000')) as Array<{ serial: string; kind: string }>;
  const events = await auditLog(survivor);
  const audited = new Set(events.filter((e) => e.type === 'certificate.issued' || e.type === 'agent.attested').map((e) => String(e.data.serial)));
  const recorded = listed.map((c) => c.serial);
  expect(listed.filter((c) => !audited.has(c.serial))).toEqual([]);
  const installed = new Set(agents.flatMap((x) => x.samples.map((s) => s.serial.toLowerCase())));
  expect([...installed].filter((s) => !recorded.includes(s))).toEqual([]);
  expect(await meshca(survivor, 'audit', 'verify')).toMatch(/^audit log verified/);

  // The lifecycle ran once, step by step: no intermediate prepared or activated twice, and the survivor activated.
  const lifecycle = events.filter((e) => e.type.startsWith('authority.'));
  const step = (e: AuditLine) => [e.type, e.data.kind, e.data.state ?? null, e.data.id];
  const [root, first, next] = lifecycle.filter((e) => e.type === 'authority.created').map((e) => e.data.id);
  expect(lifecycle.slice(0, 5).map(step)).toEqual([
    ['authority.created', 'root', 'active', root],
    ['authority.created', 'intermediate', 'active', first],
    ['authority.created', 'intermediate', 'prepared', next],
    ['authority.activated', 'intermediate', null, next],
    ['authority.retired', 'intermediate', null, first],
  ]);
  // Half-way through the new intermediate's life, the one after it may already have been prepared: once.
  expect(lifecycle.slice(5).map((e) => step(e).slice(0, 3))).toEqual(
    lifecycle.length > 5 ? [['authority.created', 'intermediate', 'prepared']] : [],
  );
  const replicas = [`/${a.pid}`, `/${b.pid}`];
  expect(lifecycle.every((e) => replicas.some((r) => String(e.data.replica).endsWith(r)))).toBe(true);
  expect(String(lifecycle[3]!.data.replica)).toMatch(new RegExp(`/${b.pid}$`));
});
