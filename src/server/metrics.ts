/**
 * The CA's Prometheus metrics (prom-client, one registry per CA so that tests
 * running several CAs do not share counters). Counters are bumped where things
 * happen; gauges that describe state are computed at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuthoritySet } from '../ca/authority-set.js';
import type { IssuedCertificateRecord } from '../ca/model.js';
import { joinedWithin } from '../platform/joined-within.js';
import type { Clock } from '../time/clock.js';

interface MetricSources {
  readonly clock: Clock;
  readonly authorities: () => AuthoritySet;
  readonly liveSvids: () => Promise<number>;
  readonly agentsByStatus: () => Promise<Record<string, number>>;
  /** meshca's version, for meshca_build_info. */
  readonly version: string;
  /** How long a scrape waits for a count from the datastore; DATASTORE_COUNT_WAIT_MS unless a test says otherwise. */
  readonly countWaitMs?: number;
}

/**
 * How long a scrape waits for a count from the datastore, as /readyz waits
 * for it: a frozen PostgreSQL answers a query only at the pool's own
 * timeouts (10 s to connect, 30 s a query), past Prometheus's default
 * scrape_timeout of 10 s, which would fail the whole scrape.
 */
export const DATASTORE_COUNT_WAIT_MS = 2_000;

/** A count from the datastore, or undefined when it failed or did not come within `ms` (joined while one is running). */
function countWithin<T>(count: () => Promise<T>, ms: number): () => Promise<T | undefined> {
  const joined = joinedWithin(count, ms, () => new Error(`the datastore did not count within ${ms} ms`));
  return () => joined().catch(() => undefined);
}

export class CaMetrics {
  readonly registry = new Registry();
  readonly issuances: Counter<'result' | 'key_type' | 'kind'>;
  readonly issuanceSeconds: Histogram<'kind'>;
  readonly rotations: Counter<'kind' | 'result'>;
  readonly checkpoints: Counter<'result'>;
  readonly authFailures: Counter<'reason'>;
  readonly rateLimited: Counter<'limit'>;
  readonly droppedConnections: Counter;
  private readonly responses: Counter<'route' | 'code'>;
  /** The CA's own serving certificate, once issued; read at each scrape, so a renewal shows at the next one. */
  private serving: (() => { notBefore: number; notAfter: number }) | undefined;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    const countWaitMs = sources.countWaitMs ?? DATASTORE_COUNT_WAIT_MS;
    const liveSvids = countWithin(sources.liveSvids, countWaitMs);
    const agentsByStatus = countWithin(sources.agentsByStatus, countWaitMs);
    collectDefaultMetrics({ register: this.registry, prefix: 'meshca_' });
    new Gauge({
      name: 'meshca_build_info',
      help: 'Always 1; its labels say which meshca runs, on which Node.js (a mixed rollout shows as two series).',
      labelNames: ['version', 'nodejs'],
      registers,
    }).set({ version: sources.version, nodejs: process.versions.node }, 1);
    this.issuances = new Counter({
      name: 'meshca_issuances_total',
      help: 'Certificate requests by result (issued or refused), key type and kind.',
      labelNames: ['result', 'key_type', 'kind'],
      registers,
    });
    this.issuanceSeconds = new Histogram({
      name: 'meshca_issuance_duration_seconds',
      help: 'Time from signing start to durable record, per certificate.',
      labelNames: ['kind'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.rotations = new Counter({
      name: 'meshca_rotations_total',
      help: 'Authority lifecycle transitions this process made, by kind (root, intermediate) and the state entered (result: prepared, active, retired); and failed lifecycle checks (kind check, result failure).',
      labelNames: ['kind', 'result'],
      registers,
    });
    this.checkpoints = new Counter({
      name: 'meshca_audit_checkpoints_total',
      help: 'Scheduled signed checkpoints of the audit log head this process attempted, by result: signed, covered (the newest checkpoint already covered the head) or failure.',
      labelNames: ['result'],
      registers,
    });
    // Every result from the start, so that an alert sees the first failure as an increase from 0.
    for (const result of ['signed', 'covered', 'failure']) this.checkpoints.inc({ result }, 0);
    this.authFailures = new Counter({
      name: 'meshca_authentication_failures_total',
      help: 'Requests refused for want of a valid credential, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.droppedConnections = new Counter({
      name: 'meshca_connections_dropped_total',
      help: 'Connections closed on arrival because the TLS listener held --max-connections.',
      registers,
    });
    this.responses = new Counter({
      name: 'meshca_http_responses_total',
      help: 'Responses by route (method and path template; unmatched for any URL no route takes) and status code.',
      labelNames: ['route', 'code'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'meshca_rate_limited_total',
      help: 'Requests answered 429.',
      labelNames: ['limit'],
      registers,
    });
    // Counted in the datastore at scrape time. A datastore that does not answer (in time) leaves them unknown (NaN,
    // or no series) rather than failing the scrape, which would take every other series with it, authority expiry included.
    new Gauge({
      name: 'meshca_live_svids',
      help: 'Certificates issued that have not expired and are not revoked (NaN while the datastore does not answer).',
      registers,
      async collect() {
        this.set((await liveSvids()) ?? Number.NaN);
      },
    });
    new Gauge({
      name: 'meshca_agents',
      help: 'Agents by status (no series while the datastore does not answer).',
      labelNames: ['status'],
      registers,
      async collect() {
        const counts = await agentsByStatus();
        this.reset();
        if (counts) for (const status of ['active', 'evicted', 'banned']) this.set({ status }, counts[status] ?? 0);
      },
    });
    // Without a series until the runtime says where the certificate is (the metrics are made before it is issued).
    const servingTime = (field: 'notBefore' | 'notAfter') => {
      const current = () => this.serving?.();
      return function (this: Gauge) {
        this.reset();
        const certificate = current();
        if (certificate) this.set(certificate[field]);
      };
    };
    new Gauge({
      name: 'meshca_serving_certificate_not_before_timestamp_seconds',
      help: "When the CA's current HTTPS serving certificate became valid, as a Unix time; with not_after, how far into its life it is (it is renewed at half).",
      registers,
      collect: servingTime('notBefore'),
    });
    new Gauge({
      name: 'meshca_serving_certificate_not_after_timestamp_seconds',
      help: "When the CA's current HTTPS serving certificate expires, as a Unix time; it moves on at each renewal.",
      registers,
      collect: servingTime('notAfter'),
    });
    const authorityLabels = ['id', 'kind', 'state'] as const;
    // Authorities are never deleted: retired ones that have expired, which change no more, are left out,
    // or every intermediate ever made (one a day by default) would keep a series for good.
    const reported = () => {
      const now = sources.clock.nowMs() / 1000;
      return sources.authorities().authorities.filter((a) => a.record.state !== 'retired' || a.record.notAfter > now);
    };
    new Gauge({
      name: 'meshca_authority_expiry_seconds',
      help: 'Seconds until each root and intermediate expires (negative once expired); retired ones only until they expire.',
      labelNames: authorityLabels,
      registers,
      collect() {
        this.reset();
        const now = sources.clock.nowMs() / 1000;
        for (const a of reported()) {
          this.set({ id: a.record.id, kind: a.record.kind, state: a.record.state }, a.record.notAfter - now);
        }
      },
    });
    new Gauge({
      name: 'meshca_authority_not_after_timestamp_seconds',
      help: 'When each root and intermediate expires, as a Unix time; retired ones only until they expire.',
      labelNames: authorityLabels,
      registers,
      collect() {
        this.reset();
        for (const a of reported()) {
          this.set({ id: a.record.id, kind: a.record.kind, state: a.record.state }, a.record.notAfter);
        }
      },
    });
  }

  /** Where the serving certificate's validity is read from at each scrape, from the moment it exists. */
  watchServingCertificate(current: () => { notBefore: number; notAfter: number }): void {
    this.serving = current;
  }

  /**
   * A response sent. `route` is the route's method and template, or undefined
   * for a URL no route takes: the URL itself, chosen by whoever sends it,
   * would make a series per request.
   */
  answered(route: string | undefined, status: number): void {
    this.responses.inc({ route: route ?? 'unmatched', code: String(status) });
  }

  issued(record: IssuedCertificateRecord, seconds: number): void {
    this.issuances.inc({ result: 'issued', key_type: record.keyType, kind: record.kind });
    this.issuanceSeconds.observe({ kind: record.kind }, seconds);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
