/**
 * `npm run bench`: measures meshca on this machine in one run and prints a
 * table (or JSON with --json): the crypto ceiling, meshca's issuance rate and
 * latency through its real path, the same load against cfssl (compared with
 * meshca at batch 1, like for like, and at batch 10, which cfssl cannot do),
 * latency at a steady rate, the agent's footprint (idle over two sync
 * intervals, then one renewal), and `cert list` over 100,000 records.
 * `--quick` shortens the load phases and seeds 10,000 records (a smoke test;
 * its figures mean little); the agent's idle window is as long either way.
 * Every process it starts is stopped however the run ends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createCsr } from '../../src/x509/csr-builder.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { startCfssl, type Cfssl } from './cfssl.js';
import { cryptoCeiling } from './ceiling.js';
import { agentFootprint, IDLE_SECONDS } from './footprint.js';
import { listingTimes, seedCertificates } from './listing.js';
import { closedLoop, openLoop, type LoadResult } from './load.js';
import { startMeshca } from './meshca-target.js';
import { watch } from './proc-stats.js';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const PHASE = QUICK ? 2 : 10;
const SEED = QUICK ? 10_000 : 100_000;
/** Times the first page of `cert list` is asked for; the first is cold. */
const LIST_REPEATS = 5;

interface Row {
  readonly section: string;
  readonly what: string;
  readonly value: string;
}

const rows: Row[] = [];
const results: Record<string, unknown> = {};
const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const rate = (r: LoadResult) => `${fmt(r.perSecond)}/s  p50 ${fmt(r.p50, 1)} ms  p99 ${fmt(r.p99, 1)} ms  max ${fmt(r.max, 1)} ms${r.errors ? `  errors ${r.errors}` : ''}`;
const add = (section: string, what: string, value: string) => rows.push({ section, what, value });

async function csrPool(n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = await generateKeyPair('ec-p256');
    out.push(await createCsr(k.privateKey, k.publicKey));
  }
  return out;
}

/** Runs `use` on a started target and stops it however `use` ends: a failed run leaves nothing running. */
async function using<T extends { stop(): Promise<void> }, R>(target: T, use: (target: T) => Promise<R>): Promise<R> {
  try {
    return await use(target);
  } finally {
    await target.stop();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'meshca-bench-'));
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  results.machine = machine;
  try {
    log('1/6 crypto ceiling');
    const ceiling = await cryptoCeiling(PHASE / 2, false);
    const withImport = await cryptoCeiling(PHASE / 2, true);
    results.ceiling = { verifyPlusSign: ceiling.perSecond, withKeyImport: withImport.perSecond, threads: ceiling.threads };
    add('1 ceiling', `verify + sign on ${ceiling.threads} cores`, `${fmt(ceiling.perSecond)}/s`);
    add('1 ceiling', '... plus loading each CSR key', `${fmt(withImport.perSecond)}/s`);

    const csrs = await csrPool(200);
    /** meshca's rate at concurrency 64, by batch size, for the ratios to cfssl. */
    const meshcaAt64 = new Map<number, number>();
    log('2/6 meshca through HTTPS + mutual TLS');
    await using(await startMeshca(join(dir, 'ca'), csrs), async (meshca) => {
      const meshcaRuns: Record<string, unknown> = {};
      for (const batch of [1, 10]) {
        for (const concurrency of [16, 64]) {
          await closedLoop((w) => meshca.issue(w, batch), concurrency, 1); // warm-up
          const [r, usage] = await Promise.all([closedLoop((w) => meshca.issue(w, batch), concurrency, PHASE), watch(meshca.server.pid, PHASE)]);
          meshcaRuns[`batch${batch}_c${concurrency}`] = { ...r, caCores: usage.cores, caRssMb: usage.peakRssMb };
          if (concurrency === 64) meshcaAt64.set(batch, r.perSecond);
          add('2 meshca', `batch ${batch}, concurrency ${concurrency}`, `${rate(r)}  CA ${fmt(usage.cores, 2)} cores ${fmt(usage.peakRssMb)} MB  ${fmt((r.perSecond / ceiling.perSecond) * 100, 1)}% of ceiling`);
        }
      }
      results.meshca = meshcaRuns;

      log('4/6 latency at a steady rate (open loop)');
      const steady: Record<string, LoadResult> = {};
      // One CSR per request, and the same issuance rate as batches of ten (an agent renewing ten workloads at once).
      for (const [target, batch] of [[200, 1], [1000, 1], [1000, 10]] as const) {
        let i = 0;
        const result = await openLoop(() => meshca.issue(i++, batch), target / batch, PHASE);
        steady[`${target}_batch${batch}`] = result;
        add('4 steady rate', `${target}/s offered, batch ${batch}`, rate(result));
      }
      results.steady = steady;

      log(`5/6 agent footprint (idle over ${IDLE_SECONDS} s, then one renewal: about 3 minutes)`);
      const footprint = await agentFootprint(meshca.admin, meshca.server.url, mkdtempSync(join(dir, 'agent-')));
      results.agent = footprint;
      add(
        '5 agent',
        `idle, over ${footprint.idle.seconds} s (≥ 2 syncs at the default ${footprint.idle.syncIntervalSeconds} s; ${footprint.idle.svidTtl} SVIDs, none renewed in it)`,
        `${fmt(footprint.idle.peakRssMb, 1)} MB resident at most, ${fmt(footprint.idle.cores * 100, 2)}% of a core`,
      );
      add('5 agent', 'one renewal', `${fmt(footprint.renewal.cpuMs, 1)} ms of CPU, ${fmt(footprint.renewal.peakRssMb, 1)} MB peak resident`);

      log(`6/6 listing over ${SEED} records`);
      await seedCertificates(join(dir, 'ca'), SEED);
      const listing = await listingTimes(meshca.admin, LIST_REPEATS);
      results.listing = { records: SEED, ...listing };
      add(
        '6 listing',
        `first page of ${listing.pageSize} over ${SEED}+, as \`cert list\` asks, ${LIST_REPEATS}×`,
        `median ${fmt(listing.firstPageMedianMs, 1)} ms, max ${fmt(listing.firstPageMaxMs, 1)} ms (cold, the first: ${fmt(listing.firstPageColdMs, 1)} ms)`,
      );
      add('6 listing', `full walk, pages of ${listing.pageSize}`, `${fmt(listing.walkMs)} ms for ${listing.walked} records, ${listing.duplicates} duplicates`);
    });

    log('3/6 cfssl serve (the peer)');
    let cfssl: Cfssl | undefined;
    try {
      cfssl = await startCfssl(join(dir, 'cfssl'), 45000 + Math.floor(Math.random() * 1000));
    } catch (err) {
      add('3 cfssl', 'unavailable', (err as Error).message.split('\n')[0]!);
    }
    if (cfssl) {
      await using(cfssl, async (cfssl) => {
        const cfsslRuns: Record<string, unknown> = { version: cfssl.version };
        for (const concurrency of [16, 64]) {
          let i = 0;
          await closedLoop(() => cfssl.sign(csrs[i++ % csrs.length]!), concurrency, 1);
          const [r, usage] = await Promise.all([closedLoop(() => cfssl.sign(csrs[i++ % csrs.length]!), concurrency, PHASE), watch(cfssl.pid, PHASE)]);
          cfsslRuns[`c${concurrency}`] = { ...r, cores: usage.cores };
          add('3 cfssl', `${cfssl.version}, plain HTTP, one CSR a request, concurrency ${concurrency}`, `${rate(r)}  cfssl ${fmt(usage.cores, 2)} cores`);
          if (concurrency === 64) {
            // cfssl signs one CSR a request (it cannot batch); meshca is compared at batch 1 (like for like) and batch 10.
            const batch1 = meshcaAt64.get(1)! / r.perSecond;
            const batch10 = meshcaAt64.get(10)! / r.perSecond;
            add('3 cfssl', 'meshca batch 1 / cfssl, concurrency 64 (like for like)', `${fmt(batch1, 2)}×`);
            add('3 cfssl', 'meshca batch 10 / cfssl (one CSR a request), concurrency 64', `${fmt(batch10, 2)}×  (target ≥ 1.5×)`);
            cfsslRuns.ratioBatch1 = batch1;
            cfsslRuns.ratioBatch10 = batch10;
          }
        }
        results.cfssl = cfsslRuns;
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (args.has('--json')) {
    console.log(JSON.stringify(results, null, 2));
    return;
  }
  console.log(`meshca benchmark on ${machine}${QUICK ? ' (--quick: figures are indicative only)' : ''}\n`);
  const width = Math.max(...rows.map((r) => r.what.length));
  let section = '';
  for (const r of rows.sort((a, b) => a.section.localeCompare(b.section))) {
    if (r.section !== section) console.log(`\n${(section = r.section)}`);
    console.log(`  ${r.what.padEnd(width)}  ${r.value}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
