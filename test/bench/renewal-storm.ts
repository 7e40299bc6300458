/**
 * `npm run simulate:storm`: 100,000 workloads with 1-hour SVIDs against the
 * CA's real start path and issuance logic on a virtual clock, with no real
 * sleeping. The CA is started as `meshca server` starts it (openDatastore and
 * buildCaCore: AuthorityManager.open on the datastore's journal and key
 * custody, and the rest of the core), in a temporary data directory; each
 * renewal goes through the real SvidIssuer.sign (intermediate choice,
 * decideValidity, RenewalSlots booking) with the agent's real renewal timing
 * and retry policy. Only two things are left out, as they do not change when
 * anything happens: the leaf's signature (an empty placeholder stands for it)
 * and recording the certificate in the datastore.
 *
 * The CA restarts during the run: at hour 3 it is stopped (core and datastore
 * closed; no lifecycle ticks while it is down), and two minutes later it is
 * started again from the same data directory, which gives a new
 * AuthorityManager, a new SvidIssuer and so new, empty RenewalSlots. Its
 * intermediates rotate on the lifecycle tick, run every virtual minute like
 * the default --rotation-schedule. Prints renewals per second: the peak
 * against the mean, in the busiest second and over sliding 10- and 60-second
 * windows.
 *
 * Every random draw (the fleet's start times, the agents' jitter and backoff,
 * the CA's bookings and serials) comes from a seeded source; the seed is
 * printed, and `--seed=S` replays a run. `--no-suggest` makes agents ignore
 * the CA's renewAfter and use their own jitter alone; `--outage=0` leaves the
 * CA up; `--workloads=N` changes the fleet.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DEFAULT_BACKOFF, renewalTime, retryDelay } from '../../src/agent/timing.js';
import type { LeafSigner } from '../../src/ca/ports.js';
import { SvidIssuer, type SvidRequest } from '../../src/ca/svid-issuer.js';
import { buildCaCore, type CaCore } from '../../src/cli/ca-core.js';
import { openDatastore } from '../../src/cli/open-datastore.js';
import { loadServerConfig, type ServerConfig } from '../../src/config/server-config.js';
import { SpiffeId } from '../../src/identity/spiffe-id.js';
import { unitRandom, type RandomSource } from '../../src/random/random-source.js';
import type { Datastore } from '../../src/store/datastore.js';
import { createCsr } from '../../src/x509/csr-builder.js';
import { VerifiedCsr } from '../../src/x509/csr.js';
import { generateKeyPair } from '../../src/x509/keys.js';
import { FakeClock } from '../support/fake-clock.js';
import { seededRandom } from '../support/seeded-random.js';

const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const WORKLOADS = Number(flag('workloads') ?? 100_000);
const SEED = flag('seed') ?? randomBytes(8).toString('hex');
const HOUR = 3600;
const DURATION = 7 * HOUR;
/** Measured once the fleet has reached steady state (every workload has renewed at least once). */
const MEASURE_FROM = 2 * HOUR;
const OUTAGE = { from: 3 * HOUR, seconds: Number(flag('outage') ?? 120) };
/** The lifecycle check, as the default --rotation-schedule ('* * * * *') runs it. */
const TICK_MS = 60_000;
/** `--no-suggest`: agents ignore the CA's renewAfter and use only their own jitter. */
const suggest = !process.argv.includes('--no-suggest');

/** A binary min-heap of (time, workload) events. */
class Events {
  private readonly times: number[] = [];
  private readonly ids: number[] = [];
  get size(): number {
    return this.times.length;
  }
  push(time: number, id: number): void {
    let i = this.times.length;
    this.times.push(time);
    this.ids.push(id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.times[parent]! <= time) break;
      this.swap(i, parent);
      i = parent;
    }
  }
  pop(): [number, number] {
    const top: [number, number] = [this.times[0]!, this.ids[0]!];
    const lastT = this.times.pop()!;
    const lastI = this.ids.pop()!;
    if (this.times.length) {
      this.times[0] = lastT;
      this.ids[0] = lastI;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.times.length && this.times[l]! < this.times[m]!) m = l;
        if (r < this.times.length && this.times[r]! < this.times[m]!) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
  private swap(a: number, b: number): void {
    [this.times[a], this.times[b]] = [this.times[b]!, this.times[a]!];
    [this.ids[a], this.ids[b]] = [this.ids[b]!, this.ids[a]!];
  }
}

/** The signature is the one thing not computed: it takes the same time whatever happens, and nothing here reads it. */
const unsigned: LeafSigner = { signLeaf: async () => Buffer.alloc(0) };

/** The CA as `meshca server` builds it, less its listeners: the real datastore and core, over the same data directory each start. */
interface RunningCaLogic {
  readonly store: Datastore;
  readonly core: CaCore;
  readonly issuer: SvidIssuer;
  stop(): Promise<void>;
}

async function startCaLogic(config: ServerConfig, clock: FakeClock, random: RandomSource): Promise<RunningCaLogic> {
  const logger = pino({ level: 'silent' });
  const store = await openDatastore(config, clock);
  let core: CaCore;
  try {
    core = await buildCaCore(config, store, { clock, random, logger });
  } catch (err) {
    await store.close();
    throw err;
  }
  // The core's own SvidIssuer, rebuilt with the same settings and a placeholder signer (buildCaCore signs in this thread when
  // there are no signing workers). Its RenewalSlots are new with each start, as the server's are.
  const issuer = new SvidIssuer(
    { authorities: core.manager, ledger: store.certificates, clock, random, leafSigner: unsigned },
    { trustDomain: config.trustDomain, lifetimes: { defaultTtl: config.svidTtl, maxTtl: config.svidMaxTtl, maxTtlSetting: 'max' }, caDnsNames: [] },
  );
  return {
    store,
    core,
    issuer,
    stop: async () => {
      await core.close();
      await store.close();
    },
  };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'meshca-storm-'));
  const clock = new FakeClock(Date.UTC(2026, 10, 25, 0, 0, 0));
  const start = clock.nowMs();
  const agentsRandom = seededRandom(`${SEED}:agents`);
  const caRandom = seededRandom(`${SEED}:ca`);
  const config = loadServerConfig({
    flags: {
      dataDir,
      trustDomain: 'example.org',
      rootTtl: '365d',
      intermediateTtl: '6h',
      svidTtl: '1h',
      svidMaxTtl: '1h',
      signingWorkers: '0',
      sqliteWriter: 'main',
      logLevel: 'silent',
    },
    env: {},
  });
  const keys = await generateKeyPair('ec-p256');
  const csr = await VerifiedCsr.parse(await createCsr(keys.privateKey, keys.publicKey));
  const requests: SvidRequest[] = Array.from({ length: 64 }, (_, i) => ({
    csr,
    spiffeId: SpiffeId.parse(`spiffe://example.org/storm/${i}`),
    kind: 'workload',
    requestedBy: 'agent:storm',
    agent: 'storm',
  }));

  let ca: RunningCaLogic | undefined = await startCaLogic(config, clock, caRandom);
  try {
    const notAfter = new Float64Array(WORKLOADS);
    const failures = new Uint16Array(WORKLOADS);
    const perSecond = new Uint32Array(DURATION);
    const events = new Events();
    // The fleet comes up over the first hour.
    for (let w = 0; w < WORKLOADS; w++) events.push(start + unitRandom(agentsRandom) * HOUR * 1000, w);
    const stopAt = OUTAGE.seconds > 0 ? start + OUTAGE.from * 1000 : Infinity;
    const restartAt = stopAt + OUTAGE.seconds * 1000;
    let nextTick = start;
    let rotations = 0;
    let lastIntermediate = ca.core.manager.current().activeIntermediate()!.record.id;
    let renewals = 0;
    let refused = 0;
    let starts = 1;
    let ticks = 0;
    let ticksSkipped = 0;

    /** Runs, in order, what the CA does up to `t`: lifecycle ticks while it is up, its stop, and its start again. */
    const advanceCa = async (t: number) => {
      for (;;) {
        const stopping = ca && stopAt <= t && clock.nowMs() < stopAt ? stopAt : Infinity;
        const starting = !ca && restartAt <= t ? restartAt : Infinity;
        const ticking = nextTick <= t ? nextTick : Infinity;
        const next = Math.min(stopping, starting, ticking);
        if (next === Infinity) return;
        clock.set(next);
        if (next === stopping) {
          await ca!.stop();
          ca = undefined;
        } else if (next === starting) {
          ca = await startCaLogic(config, clock, caRandom);
          starts++;
        } else {
          nextTick += TICK_MS;
          if (!ca) {
            ticksSkipped++;
            continue;
          }
          await ca.core.manager.tick();
          ticks++;
        }
        if (ca) {
          const active = ca.core.manager.current().activeIntermediate()!.record.id;
          if (active !== lastIntermediate) {
            rotations++;
            lastIntermediate = active;
          }
        }
      }
    };

    while (events.size) {
      const [at, w] = events.pop();
      if (at >= start + DURATION * 1000) break;
      await advanceCa(at);
      clock.set(at);
      const second = Math.floor((at - start) / 1000);
      if (!ca) {
        // The agent's own retry policy.
        refused++;
        failures[w]!++;
        events.push(at + retryDelay(failures[w]!, notAfter[w]! - at, DEFAULT_BACKOFF, agentsRandom), w);
        continue;
      }
      const svid = await ca.issuer.sign(requests[w % requests.length]!);
      failures[w] = 0;
      notAfter[w] = svid.svid.notAfter * 1000;
      perSecond[second]!++;
      renewals++;
      events.push(renewalTime(Math.max(svid.svid.notBefore * 1000, at), svid.svid.notAfter * 1000, agentsRandom, suggest ? svid.svid.renewAfter * 1000 : undefined), w);
    }

    const window = perSecond.subarray(MEASURE_FROM, DURATION);
    const mean = window.reduce((a, b) => a + b, 0) / window.length;
    /** The busiest `span` consecutive seconds, over every starting second (sliding, not fixed windows). */
    const peakOver = (span: number) => {
      let sum = 0;
      let peak = 0;
      for (let i = 0; i < window.length; i++) {
        sum += window[i]!;
        if (i >= span) sum -= window[i - span]!;
        if (i >= span - 1) peak = Math.max(peak, sum);
      }
      return peak / span;
    };
    const peak1 = peakOver(1);
    const peak10 = peakOver(10);
    const peak60 = peakOver(60);
    const result = {
      seed: SEED,
      workloads: WORKLOADS,
      virtualHours: DURATION / HOUR,
      issued: renewals,
      refusedWhileDown: refused,
      caStarts: starts,
      lifecycleTicks: ticks,
      ticksSkippedWhileDown: ticksSkipped,
      intermediateRotations: rotations,
      outage: OUTAGE.seconds > 0 ? `stopped for ${OUTAGE.seconds} s at hour ${OUTAGE.from / HOUR}, then started again` : 'none',
      meanPerSecond: mean,
      peakPerSecond: peak1,
      peakToMean: peak1 / mean,
      peakToMean10s: peak10 / mean,
      peakToMean60s: peak60 / mean,
    };
    if (process.argv.includes('--json')) {
      console.log(JSON.stringify(result, null, 2));
    } else {
      console.log(`renewal storm: ${WORKLOADS} workloads, 1-hour SVIDs, ${result.virtualHours} virtual hours (measured from hour ${MEASURE_FROM / HOUR}), seed ${SEED} (--seed=${SEED} replays it)`);
      console.log(`  ${renewals} issuances, ${rotations} intermediate rotation(s), ${ticks} lifecycle ticks`);
      console.log(`  CA ${result.outage}: ${starts} starts, ${refused} requests refused while down, ${ticksSkipped} ticks not run while down`);
      console.log(`  mean ${mean.toFixed(1)}/s, peak ${peak1}/s: peak-to-mean ${result.peakToMean.toFixed(2)} in the busiest second, ${result.peakToMean10s.toFixed(2)} over the busiest 10 s, ${result.peakToMean60s.toFixed(2)} over the busiest 60 s (sliding windows)`);
    }
  } finally {
    await (ca as RunningCaLogic | undefined)?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
