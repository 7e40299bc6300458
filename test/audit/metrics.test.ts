/**
 * What /metrics reports, read back with a Prometheus text parser: issuance
 * counters and latency, live SVIDs, authority expiry, agents by status,
 * authentication failures, rate limiting; and the unauthenticated metrics
 * listener for a scraper on the same host.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it, vi } from 'vitest';
import { METRICS_MAX_CONNECTIONS, warnIfMetricsExposed } from '../../src/cli/ca-listeners.js';
import { startCa } from '../../src/cli/ca-runtime.js';
import { createLogger } from '../../src/cli/logger.js';
import { AuthoritySet } from '../../src/ca/authority-set.js';
import { CaMetrics, DATASTORE_COUNT_WAIT_MS } from '../../src/server/metrics.js';
import { cleanupLater } from '../support/cleanup.js';
import {
  adminCredential, asOperator, attestAgent, callCa, expiredCredential, foreignCredential, joinToken, newKeyAndCsr,
} from '../support/callers.js';
import { verifyOverApi } from '../support/audit-log.js';
import { FakeClock } from '../support/fake-clock.js';
import { Scrape } from '../support/prometheus.js';
import { connectionOutcome, rawExchange, statusAndJson } from '../support/raw-http.js';
import { mintSvid } from '../support/svids.js';
import { startTestCa, testConfig, type TestCa } from '../support/test-ca.js';
import { sleep } from '../support/wait.js';

const TD = 'spiffe://example.org';
/** What README promises of /readyz: "while its datastore does not answer within 2 seconds". */
const READYZ_DATASTORE_WAIT_MS = Number(/while its datastore does not answer within (\d+) seconds/.exec(readFileSync(new URL('../../README.md', import.meta.url), 'utf8'))![1]) * 1000;
const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

async function scrape(ca: TestCa): Promise<Scrape> {
  const res = await ca.localApp.inject({ method: 'GET', url: '/metrics' });
  expect({ status: res.statusCode, type: res.headers['content-type'] }).toEqual({ status: 200, type: PROMETHEUS_TEXT });
  return new Scrape(res.body);
}

function liveRows(ca: TestCa, now: number): number {
  return ca.store.db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM certificates WHERE not_after > ? AND revoked_at IS NULL').get(now)!.n;
}

function plainGet(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The certificate the CA presents on its TLS listener now. */
function servedCertificate(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()!);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('issuance metrics', () => {
  it('pass/meshca_issuances_total counts issued certificates by key type and kind, and refused requests by action', async () => {
    const ca = await startTestCa();
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'web-1', spiffeId: `${TD}/ns/web` });
    const elsewhere = await asOperator(ca, 'POST', '/v1/entries', { agent: 'web-2', spiffeId: `${TD}/ns/other` });
    const agent = await attestAgent(ca, 'web-1');
    const ask = async (entryId: string) =>
      (await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId, csr: (await newKeyAndCsr()).csr }] })).status;
    expect(await ask(entry.id)).toBe(200);
    expect(await ask(elsewhere.id)).toBe(403);
    for (const keyType of ['ec-p256', 'ec-p256', 'ec-p384', 'ed25519'] as const) await mintSvid(ca.localApp, `${TD}/ns/minted`, { keyType });
    await adminCredential(ca, 'auditor', 'alice');
    for (const csr of ['not a csr', '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n']) {
      const res = await ca.localApp.inject({ method: 'POST', url: '/v1/svids/mint', payload: { spiffeId: `${TD}/ns/minted`, csr } });
      expect(res.statusCode).toBe(400);
    }

    const metrics = await scrape(ca);
    expect(metrics.type('meshca_issuances_total')).toBe('COUNTER');
    expect(metrics.byLabels('meshca_issuances_total', ['result', 'key_type', 'kind'])).toEqual({
      'issued/ec-p256/server': 1,
      'issued/ec-p256/agent': 1,
      'issued/ec-p256/workload': 1,
      'issued/ec-p256/mint': 2,
      'issued/ec-p384/mint': 1,
      'issued/ed25519/mint': 1,
      'issued/ec-p256/admin': 1,
      'refused/unknown/workload': 1,
      'refused/unknown/mint': 2,
    });
  });

  it('pass/the issuance histogram counts each recorded certificate once, per kind', async () => {
    const ca = await startTestCa();
    await attestAgent(ca, 'web-1');
    for (let i = 0; i < 5; i++) await mintSvid(ca.localApp, `${TD}/ns/minted/${i}`);
    const byKind = Object.fromEntries(
      ca.store.db.prepare<[], { kind: string; n: number }>('SELECT kind, COUNT(*) AS n FROM certificates GROUP BY kind').all().map((r) => [r.kind, r.n]),
    );
    expect(byKind).toEqual({ server: 1, agent: 1, mint: 5 });

    const histograms = (await scrape(ca)).histograms('meshca_issuance_duration_seconds');
    expect(Object.fromEntries(histograms.map((h) => [h.labels.kind, h.count]))).toEqual(byKind);
    for (const h of histograms) {
      const cumulative = Object.entries(h.buckets).sort(([a], [b]) => (a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b))).map(([, n]) => n);
      expect(cumulative).toEqual([...cumulative].sort((a, b) => a - b));
      expect(h.buckets['+Inf']).toBe(h.count);
      expect(h.sum).toBeGreaterThan(0);
    }
  });

  it('pass/meshca_live_svids is the number of unexpired, unrevoked records at scrape time', async () => {
    const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    const ca = await startTestCa({}, { clock });
    await mintSvid(ca.localApp, `${TD}/ns/short-1`, { ttl: '1m' });
    await mintSvid(ca.localApp, `${TD}/ns/short-2`, { ttl: '1m' });
    await mintSvid(ca.localApp, `${TD}/ns/long`, { ttl: '1h' });
    await attestAgent(ca, 'web-1');
    const live = async () => {
      const value = (await scrape(ca)).value('meshca_live_svids');
      expect(value).toBe(liveRows(ca, clock.nowSeconds()));
      return value;
    };

    expect(await live()).toBe(5); // serving certificate, three mints, the agent
    clock.advance(61);
    expect(await live()).toBe(3);
    await asOperator(ca, 'POST', '/v1/agents/web-1/evict'); // revokes the agent's SVID
    expect(await live()).toBe(2);
  });
});

describe('authority and agent gauges', () => {
  it('pass/expiry and notAfter per authority are the certificates’ notAfter, follow the clock and new authorities', async () => {
    const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    const ca = await startTestCa({}, { clock });
    const check = async () => {
      const metrics = await scrape(ca);
      const authorities = ca.manager.current().authorities;
      expect(metrics.samples('meshca_authority_not_after_timestamp_seconds')).toHaveLength(authorities.length);
      expect(metrics.samples('meshca_authority_expiry_seconds')).toHaveLength(authorities.length);
      for (const a of authorities) {
        const notAfter = Date.parse(new X509Certificate(a.record.certDer).validTo) / 1000;
        const labels = { id: a.record.id, kind: a.record.kind, state: a.record.state };
        expect(metrics.value('meshca_authority_not_after_timestamp_seconds', { id: a.record.id })).toBe(notAfter);
        expect(metrics.samples('meshca_authority_not_after_timestamp_seconds').find((s) => s.labels.id === a.record.id)!.labels).toEqual(labels);
        expect(metrics.value('meshca_authority_expiry_seconds', labels)).toBe(notAfter - clock.nowSeconds());
      }
      return authorities.map((a) => `${a.record.kind}/${a.record.state}`).sort();
    };

    expect(await check()).toEqual(['intermediate/active', 'root/active']);
    clock.advance(13 * 3600); // past half the intermediate's 24h: the next one is prepared
    await ca.tick();
    expect(await check()).toEqual(['intermediate/active', 'intermediate/prepared', 'root/active']);
  });

  it("pass/the serving certificate's notBefore and notAfter are those of the certificate the CA presents, and move on when it is renewed", async () => {
    const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    const ca = await startTestCa({ 'svid-max-ttl': '10m', 'svid-ttl': '5m' }, { clock });
    const check = async () => {
      const served = await servedCertificate(ca.address.port);
      const metrics = await scrape(ca);
      const validity = { notBefore: Date.parse(served.validFrom) / 1000, notAfter: Date.parse(served.validTo) / 1000 };
      expect({
        notBefore: metrics.value('meshca_serving_certificate_not_before_timestamp_seconds'),
        notAfter: metrics.value('meshca_serving_certificate_not_after_timestamp_seconds'),
      }).toEqual(validity);
      return validity.notAfter;
    };

    const first = await check();
    expect(first).toBe(clock.nowSeconds() + 600);
    clock.advance(301); // past half of its 10 minutes: the lifecycle check renews it
    await ca.tick();
    expect(await check()).toBe(clock.nowSeconds() + 600);
  });

  // Authorities are never deleted: a series per intermediate ever made (one a day by default) would grow
  // the scrape, and Prometheus's series count, for as long as the CA runs.
  it('pass/expiry and notAfter leave out retired authorities once they have expired, so the series stay as few as the authorities in use', async () => {
    const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    const ca = await startTestCa({}, { clock });
    for (let hour = 0; hour < 6 * 24; hour += 4) {
      clock.advance(4 * 3600);
      await ca.tick();
    }
    const now = clock.nowSeconds();
    const all = ca.manager.current().authorities;
    const reported = all.filter((a) => a.record.state !== 'retired' || a.record.notAfter > now).map((a) => a.record.id).sort();
    expect(all.length - reported.length).toBeGreaterThan(3); // intermediates retired and expired since
    const metrics = await scrape(ca);
    for (const name of ['meshca_authority_expiry_seconds', 'meshca_authority_not_after_timestamp_seconds']) {
      expect(metrics.samples(name).map((s) => s.labels.id).sort(), name).toEqual(reported);
    }
  });

  it('pass/meshca_rotations_total counts each state an authority enters through this CA, scheduled and by an operator', async () => {
    const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    const ca = await startTestCa({}, { clock });
    const rotations = async () => (await scrape(ca)).byLabels('meshca_rotations_total', ['kind', 'result']);
    expect(await rotations()).toEqual({}); // the first start's root and intermediate are made before it counts
    clock.advance(13 * 3600); // past half the intermediate's 24h
    await ca.tick();
    expect(await rotations()).toEqual({ 'intermediate/prepared': 1 });
    clock.advance(8 * 3600); // a sixth of its life left: the next takes over
    await ca.tick();
    await ca.tick(); // nothing more is due: counted once
    expect(await rotations()).toEqual({ 'intermediate/prepared': 1, 'intermediate/active': 1, 'intermediate/retired': 1 });
    await asOperator(ca, 'POST', '/v1/authorities/root/prepare');
    expect(await rotations()).toEqual({ 'intermediate/prepared': 2, 'intermediate/active': 1, 'intermediate/retired': 1, 'root/prepared': 1 });
  });

  it('pass/the scheduled checkpoint signs only what is new: an idle CA signs none, and meshca_audit_checkpoints_total counts signed, covered and failed runs', async () => {
    const ca = await startTestCa();
    const runs = async () => (await scrape(ca)).byLabels('meshca_audit_checkpoints_total', ['result']);
    const stored = async () => (await ca.store.audit.checkpoints()).length;
    expect(await runs()).toEqual({ signed: 0, covered: 0, failure: 0 });

    await ca.checkpoint(); // the start's events
    await ca.checkpoint(); // nothing since but the first checkpoint's own event
    await ca.checkpoint();
    expect({ runs: await runs(), stored: await stored() }).toEqual({ runs: { signed: 1, covered: 2, failure: 0 }, stored: 1 });

    await joinToken(ca, 'node-1');
    await ca.checkpoint();
    expect({ runs: await runs(), stored: await stored() }).toEqual({ runs: { signed: 2, covered: 2, failure: 0 }, stored: 2 });

    // A run that fails is counted and logged, and the schedule goes on.
    await joinToken(ca, 'node-2');
    const signing = vi.spyOn(ca.core.audit, 'checkpointIfNew').mockRejectedValueOnce(new Error('the datastore is full'));
    await ca.checkpoint();
    signing.mockRestore();
    await ca.checkpoint();
    expect({ runs: await runs(), stored: await stored() }).toEqual({ runs: { signed: 3, covered: 2, failure: 1 }, stored: 3 });
    expect((await verifyOverApi(ca)).ok).toBe(true);
  });

  it('pass/meshca_build_info names the version of meshca and of Node.js that run, as the start\'s audit event does', async () => {
    const ca = await startTestCa();
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect((await scrape(ca)).samples('meshca_build_info')).toEqual([{ labels: { version, nodejs: process.versions.node }, value: 1 }]);
    // And each start's audit event, so an auditor sees which build ran when.
    const started = ca.store.db.prepare<[], { data: string }>("SELECT data FROM audit_events WHERE type = 'ca.started'").all();
    expect(started.map((e) => (JSON.parse(e.data) as { version?: string }).version)).toEqual([version]);
  });

  // A failed scrape loses every series at once: the authorities' expiry, the counters, and `up` says nothing is wrong.
  it('pass/a datastore that does not answer leaves only the gauges counted in it unknown: the scrape, authority expiry included, still succeeds', async () => {
    const ca = await startTestCa();
    vi.spyOn(ca.store.certificates, 'countLive').mockRejectedValue(new Error('connection terminated unexpectedly'));
    vi.spyOn(ca.store.registrations, 'countAgentsByStatus').mockRejectedValue(new Error('connection terminated unexpectedly'));
    const metrics = await scrape(ca);
    expect({ live: metrics.value('meshca_live_svids'), agents: metrics.samples('meshca_agents') }).toEqual({ live: Number.NaN, agents: [] });
    expect(metrics.samples('meshca_authority_expiry_seconds').map((s) => s.labels.kind).sort()).toEqual(['intermediate', 'root']);
    vi.restoreAllMocks();
    expect((await scrape(ca)).value('meshca_live_svids')).toBe(1); // the serving certificate
  });

  // A frozen PostgreSQL answers only at the pool's timeouts (10 s, 30 s), past Prometheus's default scrape_timeout of 10 s.
  it('pass/a datastore that does not answer in time leaves the counted gauges unknown, and the scrape is served within the wait', async () => {
    const never = vi.fn(() => new Promise<never>(() => undefined));
    const metrics = new CaMetrics({ clock: new FakeClock(0), authorities: () => new AuthoritySet([], 0), liveSvids: never, agentsByStatus: never, version: '0', countWaitMs: 20 });
    for (let scrape = 0; scrape < 3; scrape++) {
      const scraped = new Scrape(await metrics.render());
      expect({ live: scraped.value('meshca_live_svids'), agents: scraped.samples('meshca_agents') }).toEqual({ live: Number.NaN, agents: [] });
    }
    // One query each, joined by the later scrapes, not one more per scrape on a pool whose connections it holds.
    expect(never).toHaveBeenCalledTimes(2);
    expect(DATASTORE_COUNT_WAIT_MS).toBe(READYZ_DATASTORE_WAIT_MS);
  });

  it('pass/meshca_agents counts agents by status after an eviction and a ban', async () => {
    const ca = await startTestCa();
    const agents = async () => (await scrape(ca)).byLabels('meshca_agents', ['status']);
    expect(await agents()).toEqual({ active: 0, evicted: 0, banned: 0 });
    for (const name of ['a-1', 'a-2', 'a-3', 'a-4']) await attestAgent(ca, name);
    await asOperator(ca, 'POST', '/v1/agents/a-2/evict');
    await asOperator(ca, 'POST', '/v1/agents/a-3/ban');
    expect(await agents()).toEqual({ active: 2, evicted: 1, banned: 1 });
  });
});

describe('response metrics', () => {
  it('pass/meshca_http_responses_total counts responses by route template and status, and any URL no route takes as unmatched', async () => {
    const ca = await startTestCa();
    await asOperator(ca, 'POST', '/v1/entries', { agent: 'web-1', spiffeId: `${TD}/ns/web` });
    for (const url of ['/v1/bundle.pem', '/v1/bundle.pem', '/v1/entries/nothing-here', '/no/such/page-1', '/no/such/page-2']) {
      await ca.localApp.inject({ method: 'GET', url });
    }
    const counted = (await scrape(ca)).byLabels('meshca_http_responses_total', ['route', 'code']);
    expect({
      bundle: counted['GET /v1/bundle.pem/200'],
      entry: counted['GET /v1/entries/:id/404'],
      created: counted['POST /v1/entries/201'],
      unmatched: counted['unmatched/404'],
      routes: Object.keys(counted).filter((k) => k.includes('page')),
    }).toEqual({ bundle: 3, entry: 1, created: 1, unmatched: 2, routes: [] });
  });
});

describe('refusal metrics', () => {
  it('pass/meshca_authentication_failures_total by reason for absent, foreign and expired client certificates over HTTPS', async () => {
    const ca = await startTestCa();
    const answers = [
      await callCa(ca, undefined, 'GET', '/v1/certificates'),
      await callCa(ca, undefined, 'GET', '/metrics'),
      await callCa(ca, await foreignCredential(), 'GET', '/v1/certificates'),
      await callCa(ca, await expiredCredential(ca, `${TD}/meshca/admin/auditor/old`), 'GET', '/v1/audit/events'),
    ];
    expect(answers.map((a) => [a.status, a.body.error.code])).toEqual([
      [401, 'unauthenticated'],
      [401, 'unauthenticated'],
      [401, 'certificate_untrusted'],
      [401, 'certificate_expired'],
    ]);
    // Known callers refused for their role are not authentication failures.
    expect((await callCa(ca, await attestAgent(ca, 'web-1'), 'GET', '/metrics')).status).toBe(403);
    expect((await callCa(ca, await adminCredential(ca, 'auditor', 'alice'), 'GET', '/metrics')).status).toBe(200);

    expect((await scrape(ca)).byLabels('meshca_authentication_failures_total', ['reason'])).toEqual({
      unauthenticated: 2,
      certificate_untrusted: 1,
      certificate_expired: 1,
    });
  });

  it('pass/meshca_rate_limited_total counts a 429, which the audit log does not record', async () => {
    const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    const ca = await startTestCa({ 'attest-rate-limit': '1' }, { clock });
    const attest = async (token: string) =>
      ca.localApp.inject({ method: 'POST', url: '/v1/agent/attest', payload: { token, csr: (await newKeyAndCsr()).csr } });
    expect((await attest(await joinToken(ca, 'web-1'))).statusCode).toBe(200);
    const before = ca.store.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM audit_events').get()!.n;
    const limited = await attest(await joinToken(ca, 'web-2'));
    expect({ status: limited.statusCode, code: limited.json().error.code, retryAfter: limited.headers['retry-after'] }).toEqual({
      status: 429,
      code: 'rate_limited',
      retryAfter: '60',
    });
    await new Promise<void>((resolve) => setImmediate(() => resolve())); // any refusal event would be committed by now

    const metrics = await scrape(ca);
    expect(metrics.byLabels('meshca_rate_limited_total', ['limit'])).toEqual({ 'agent.attest': 1 });
    expect(metrics.samples('meshca_authentication_failures_total')).toEqual([]);
    expect(metrics.value('meshca_issuances_total', { result: 'refused' })).toBeUndefined();
    const after = ca.store.db.prepare<[number], { type: string }>('SELECT type FROM audit_events WHERE seq > ?').all(before).map((r) => r.type);
    expect(after).toEqual(['token.created']);
  });
});

describe('the metrics listener', () => {
  it('pass/serves GET /metrics over plain HTTP without credentials, and nothing else', async () => {
    const ca = await startTestCa({ 'metrics-listen': '127.0.0.1:0' });
    expect(ca.metricsAddress?.host).toBe('127.0.0.1');
    const port = ca.metricsAddress!.port;
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(ca.address.port);

    const metrics = await plainGet(port, '/metrics');
    expect({ status: metrics.status, type: metrics.type }).toEqual({ status: 200, type: PROMETHEUS_TEXT });
    expect(new Scrape(metrics.body).value('meshca_live_svids')).toBe(1);
    expect((await plainGet(port, '/metrics?name[]=meshca_live_svids')).status).toBe(200);

    for (const [method, path] of [['GET', '/'], ['GET', '/v1/bundle.pem'], ['GET', '/v1/certificates'], ['GET', '/metrics/'], ['POST', '/metrics']] as const) {
      const res = await plainGet(port, path, method);
      expect({ path, method, status: res.status, body: JSON.parse(res.body) }).toEqual({
        path,
        method,
        status: 404,
        body: { error: { code: 'not_found', message: 'only GET /metrics is served here' } },
      });
    }
  });

  // Anyone who can reach it may connect: it must not hold connections, and the process's descriptors, without end.
  it('fail/a request trickling in past --request-timeout -> 408 request_timeout, and the connection is closed', async () => {
    const ca = await startTestCa({ 'metrics-listen': '127.0.0.1:0', 'request-timeout': '1s' });
    const started = Date.now();
    const answer = await rawExchange(ca.metricsAddress!.port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n', 6_000);
    expect(statusAndJson(answer)).toEqual({ statusLine: 'HTTP/1.1 408 Request Timeout', body: { error: { code: 'request_timeout', message: 'the request did not arrive in time' } } });
    // The timeout, plus Node's once-a-second check for requests past it.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it(`fail/holds at most ${METRICS_MAX_CONNECTIONS} connections: more are closed as they arrive, and a scrape on a free one still works`, async () => {
    const ca = await startTestCa({ 'metrics-listen': '127.0.0.1:0' });
    const port = ca.metricsAddress!.port;
    const held: Socket[] = [];
    try {
      const first = await Promise.all(Array.from({ length: METRICS_MAX_CONNECTIONS }, () => connectionOutcome(port, held)));
      expect(first.every((o) => o === 'open')).toBe(true);
      expect(await connectionOutcome(port, held)).toBe('closed');
    } finally {
      for (const socket of held) socket.destroy();
    }
    await sleep(100);
    expect((await plainGet(port, '/metrics')).status).toBe(200);
  });

  it('pass/is not started unless configured', async () => {
    const ca = await startTestCa();
    expect(ca.metricsAddress).toBeUndefined();
  });

  /** The JSON lines a logger at `info` wrote. */
  function capture() {
    const chunks: string[] = [];
    const logger = createLogger('info', { write: (chunk: string) => void chunks.push(chunk) });
    return { logger, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
  }

  // Only decided here, never bound: tests listen on loopback alone.
  it.each([
    [{ host: '0.0.0.0', port: 9090 }, '0.0.0.0:9090'],
    [{ host: '::', port: 9090 }, '[::]:9090'],
    [{ host: '10.0.0.5', port: 9464 }, '10.0.0.5:9464'],
    [{ host: 'metrics.example.org', port: 9090 }, 'metrics.example.org:9090'],
  ])('pass/warns once, naming the address, when %o is not loopback', (address, shown) => {
    const { logger, lines } = capture();
    warnIfMetricsExposed(address, logger);
    expect(lines()).toEqual([
      expect.objectContaining({
        level: 40,
        address: shown,
        msg: `/metrics is served without authentication on ${shown}, which is not a loopback address: anyone who can reach it can read the metrics`,
      }),
    ]);
  });

  it.each([{ host: '127.0.0.1', port: 9090 }, { host: '::1', port: 9090 }, { host: 'localhost', port: 9090 }])('pass/says nothing for the loopback %o', (address) => {
    const { logger, lines } = capture();
    warnIfMetricsExposed(address, logger);
    expect(lines()).toEqual([]);
  });

  it('pass/a CA with its metrics on 127.0.0.1 starts without the warning', async () => {
    const { logger, lines } = capture();
    const ca = await startCa(testConfig({ 'metrics-listen': '127.0.0.1:0' }), logger, { schedules: 'off' });
    cleanupLater(() => ca.close());
    expect(ca.metricsAddress?.host).toBe('127.0.0.1');
    expect(lines().filter((l) => l.msg === 'meshca CA listening')).toHaveLength(1);
    expect(lines().filter((l) => String(l.msg).includes('/metrics'))).toEqual([]);
    expect(lines().filter((l) => l.listener === 'metrics')).toEqual([]);
  });
});
