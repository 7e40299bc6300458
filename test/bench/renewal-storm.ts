/**
 * `npm run simulate:storm`: 100,000 workloads with 1-hour SVIDs against the
 * CA's real lifecycle, validity and renewal-booking logic (AuthorityManager
 * rotating its intermediate, decideValidity, RenewalSlots) and the agent's
 * real renewal timing and retry policy, on a virtual clock — no sleeping, no
 * signing (signatures do not change when anything happens). The CA restarts
 * (is down for two minutes, and forgets its bookings) and rotates its
 * intermediate during the run. Prints renewals per second: the peak against
 * the mean, per second and over 10 and 60 seconds. `--no-suggest` makes
 * agents ignore the CA's renewAfter and use their own jitter alone;
 * `--outage=0` leaves the CA up.
 */
import { DEFAULT_BACKOFF, renewalTime, retryDelay } from '../../src/agent/timing.js';
import { AuthorityManager } from '../../src/ca/authority-manager.js';
import type { AuthorityChange, AuthorityJournal, Logger } from '../../src/ca/ports.js';
import { RenewalSlots } from '../../src/ca/renewal-slots.js';
import { decideValidity } from '../../src/ca/validity.js';
import { TrustDomain } from '../../src/identity/trust-domain.js';
import { parseDuration } from '../../src/time/duration.js';
import { cryptoRandom } from '../../src/random/random-source.js';
import type { AuthorityRecord } from '../../src/ca/model.js';
import { memoryCustody } from '../support/signing-certificates.js';

const WORKLOADS = Number(process.argv.find((a) => a.startsWith('--workloads='))?.split('=')[1] ?? 100_000);
const HOUR = 3600;
const DURATION = 7 * HOUR;
/** Measured once the fleet has reached steady state (every workload has renewed at least once). */
const MEASURE_FROM = 2 * HOUR;
const OUTAGE = { from: 3 * HOUR, seconds: Number(process.argv.find((a) => a.startsWith('--outage='))?.split('=')[1] ?? 120) };
/** `--no-suggest`: agents ignore the CA's renewAfter and use only their own jitter. */
const suggest = !process.argv.includes('--no-suggest');
const POLICY = { defaultTtl: parseDuration('1h'), maxTtl: parseDuration('1h') };

class Clock {
  ms = Date.UTC(2026, 10, 25, 0, 0, 0);
  nowMs(): number {
    return this.ms;
  }
}

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {}, child: () => quiet };

function memoryJournal(): AuthorityJournal {
  const records = new Map<string, AuthorityRecord>();
  let sequence = 0;
  return {
    listAuthorities: async () => [...records.values()],
    bundleSequence: async () => sequence,
    applyAuthorityChange: async (change: AuthorityChange) => {
      for (const r of change.upserts) records.set(r.id, r);
      sequence = change.bundleSequence;
    },
  };
}

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

async function main(): Promise<void> {
  const clock = new Clock();
  const start = clock.ms;
  const manager = await AuthorityManager.open(
    { journal: memoryJournal(), custody: memoryCustody(), clock, random: cryptoRandom, log: quiet },
    { trustDomain: TrustDomain.parse('example.org'), rootTtl: parseDuration('365d'), intermediateTtl: parseDuration('6h') },
    true,
  );
  const notAfter = new Float64Array(WORKLOADS);
  const failures = new Uint16Array(WORKLOADS);
  const perSecond = new Uint32Array(DURATION);
  const events = new Events();
  // The fleet comes up over the first hour.
  for (let w = 0; w < WORKLOADS; w++) events.push(start + Math.random() * HOUR * 1000, w);
  let nextTick = start;
  let rotations = 0;
  let lastIntermediate = manager.current().activeIntermediate()!.record.id;
  let renewals = 0;
  let slots = new RenewalSlots(cryptoRandom);
  let restarted = false;

  while (events.size) {
    const [at, w] = events.pop();
    if (at >= start + DURATION * 1000) break;
    while (nextTick <= at) {
      clock.ms = nextTick;
      await manager.tick();
      const active = manager.current().activeIntermediate()!.record.id;
      if (active !== lastIntermediate) {
        rotations++;
        lastIntermediate = active;
      }
      nextTick += 60_000;
    }
    clock.ms = at;
    const second = Math.floor((at - start) / 1000);
    const down = second >= OUTAGE.from && second < OUTAGE.from + OUTAGE.seconds;
    if (down) {
      restarted = true;
      // The agent's own retry policy.
      failures[w]!++;
      events.push(at + retryDelay(failures[w]!, notAfter[w]! - at, DEFAULT_BACKOFF, cryptoRandom), w);
      continue;
    }
    if (restarted) {
      // The restarted CA remembers no bookings.
      slots = new RenewalSlots(cryptoRandom);
      restarted = false;
    }
    const now = Math.floor(at / 1000);
    const issuer = manager.current().signingIntermediate(now);
    const validity = decideValidity(now, undefined, POLICY, issuer.record);
    const suggested = suggest ? slots.book(now, validity.notAfter) * 1000 : undefined;
    failures[w] = 0;
    notAfter[w] = validity.notAfter * 1000;
    perSecond[second]!++;
    renewals++;
    events.push(renewalTime(Math.max(validity.notBefore * 1000, at), validity.notAfter * 1000, cryptoRandom, suggested), w);
  }

  const window = perSecond.subarray(MEASURE_FROM, DURATION);
  const mean = window.reduce((a, b) => a + b, 0) / window.length;
  const peakOver = (span: number) => {
    let peak = 0;
    for (let i = 0; i + span <= window.length; i += 1) {
      let sum = 0;
      for (let j = 0; j < span; j++) sum += window[i + j]!;
      peak = Math.max(peak, sum / span);
      if (span > 1) i += span - 1;
    }
    return peak;
  };
  const peak1 = peakOver(1);
  const peak10 = peakOver(10);
  const peak60 = peakOver(60);
  const result = {
    workloads: WORKLOADS,
    virtualHours: DURATION / HOUR,
    issued: renewals,
    intermediateRotations: rotations,
    outage: `${OUTAGE.seconds} s at hour ${OUTAGE.from / HOUR}`,
    meanPerSecond: mean,
    peakPerSecond: peak1,
    peakToMean: peak1 / mean,
    peakToMean10s: peak10 / mean,
    peakToMean60s: peak60 / mean,
  };
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(result, null, 2));
  } else {
    console.log(`renewal storm: ${WORKLOADS} workloads, 1-hour SVIDs, ${result.virtualHours} virtual hours (measured from hour ${MEASURE_FROM / HOUR})`);
    console.log(`  ${renewals} issuances, ${rotations} intermediate rotation(s), CA down ${result.outage}`);
    console.log(`  mean ${mean.toFixed(1)}/s, peak ${peak1}/s: peak-to-mean ${result.peakToMean.toFixed(2)} per second, ${result.peakToMean10s.toFixed(2)} over 10 s, ${result.peakToMean60s.toFixed(2)} over 60 s`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
