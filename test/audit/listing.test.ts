/**
 * The auditor's listings over the API: every certificate ever issued (filters,
 * cursor paging that stays stable while the CA keeps issuing) and every
 * identity. The CLI side is in listing-cli.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/sqlite/database.js';
import { adminCredential, asOperator, attestAgent, callCa, newKeyAndCsr, type Credential } from '../support/callers.js';
import { SEED_IDS, seedCertificates, seedSerial } from '../support/certificate-seed.js';
import { FakeClock } from '../support/fake-clock.js';
import { mintSvid } from '../support/svids.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

const TD = 'spiffe://example.org';
const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/** A certificate row as stored, the model the filters are checked against. */
interface Row {
  id: number;
  serial: string;
  spiffe_id: string;
  agent: string | null;
  not_before: number;
  not_after: number;
  issued_at: number;
  revoked_at: number | null;
}

function rows(db: Db): Row[] {
  return db.prepare<[], Row>('SELECT id, serial, spiffe_id, agent, not_before, not_after, issued_at, revoked_at FROM certificates ORDER BY id').all();
}

/** Valid at t and not revoked by then: what `activeAt` asks for. */
function activeAt(r: Row, t: number): boolean {
  return r.not_before <= t && t <= r.not_after && (r.revoked_at === null || r.revoked_at > t);
}

interface Page {
  certificates: Array<Record<string, unknown> & { serial: string }>;
  nextCursor: string | null;
}

type PageFetcher = (url: string) => Promise<Page>;

const asLocalOperator = (ca: TestCa): PageFetcher => (url) => asOperator(ca, 'GET', url);

/** Over mutual TLS, as a remote auditor pages through the records. */
const asAuditor = (ca: TestCa, auditor: Credential): PageFetcher => async (url) => {
  const res = await callCa(ca, auditor, 'GET', url);
  if (res.status !== 200) throw new Error(`GET ${url} -> ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as Page;
};

/** Follows nextCursor to the end; every page but an only one must hold something. */
async function walk(fetchPage: PageFetcher, query: Record<string, string>, limit: number, onPage?: () => void): Promise<string[]> {
  const serials: string[] = [];
  let cursor: string | null = null;
  for (let pages = 1; ; pages++) {
    onPage?.();
    const params = new URLSearchParams({ ...query, limit: String(limit), ...(cursor ? { cursor } : {}) });
    const page = await fetchPage(`/v1/certificates?${params}`);
    expect(page.certificates.length).toBeLessThanOrEqual(limit);
    if (pages > 1) expect(page.certificates.length).toBeGreaterThan(0);
    serials.push(...page.certificates.map((c) => c.serial));
    cursor = page.nextCursor;
    if (!cursor) return serials;
  }
}

describe('GET /v1/certificates', () => {
  let ca: TestCa;
  let now: number;
  let model: Row[];
  /** A moment at which some record expires, another becomes valid and another is issued: every time bound is hit exactly. */
  let t: number;

  beforeAll(async () => {
    ca = await startTestCa();
    now = Math.floor(Date.now() / 1000);
    seedCertificates(ca.store.db, 5000, { now, issuerId: ca.manager.current().activeIntermediate()!.record.id });
    // Real issuances on top: an agent, its workload, and mints.
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'node-1', spiffeId: `${TD}/ns/a/real` });
    const agent = await attestAgent(ca, 'node-1');
    const svids = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId: entry.id, csr: (await newKeyAndCsr()).csr }] });
    expect(svids.status).toBe(200);
    for (const id of ['/ns/a/svc-1', '/ns/b/svc-1', '/ns/a']) await mintSvid(ca.localApp, TD + id);
    model = rows(ca.store.db);
    expect(model.length).toBe(5000 + 1 + 1 + 1 + 3); // seeded, serving certificate, agent, workload, mints
    t = model.find((r) => r.not_after < now - 1000 && r.not_after > now - 4000)!.not_after;
  });

  const FILTERS: ReadonlyArray<readonly [string, () => Record<string, string>, (r: Row) => boolean]> = [
    ['no filter', () => ({}), () => true],
    ['spiffeId', () => ({ spiffeId: `${TD}/ns/a/svc-1` }), (r) => r.spiffe_id === `${TD}/ns/a/svc-1`],
    ['spiffeId never issued', () => ({ spiffeId: `${TD}/ns/nobody` }), () => false],
    ['prefix with a trailing slash', () => ({ prefix: `${TD}/ns/a/` }), (r) => r.spiffe_id === `${TD}/ns/a` || r.spiffe_id.startsWith(`${TD}/ns/a/`)],
    ['prefix without a trailing slash', () => ({ prefix: `${TD}/ns/a` }), (r) => r.spiffe_id === `${TD}/ns/a` || r.spiffe_id.startsWith(`${TD}/ns/a/`)],
    ['prefix of the whole trust domain', () => ({ prefix: TD }), () => true],
    ['agent', () => ({ agent: 'node-1' }), (r) => r.agent === 'node-1'],
    ['activeAt (RFC 3339)', () => ({ activeAt: iso(t) }), (r) => activeAt(r, t)],
    ['activeAt (epoch seconds)', () => ({ activeAt: String(t) }), (r) => activeAt(r, t)],
    ['issuedAfter (inclusive)', () => ({ issuedAfter: iso(t) }), (r) => r.issued_at >= t],
    ['issuedBefore (exclusive)', () => ({ issuedBefore: iso(t) }), (r) => r.issued_at < t],
    ['issuedAfter and issuedBefore', () => ({ issuedAfter: String(t - 100), issuedBefore: String(t + 100) }), (r) => r.issued_at >= t - 100 && r.issued_at < t + 100],
    ['serial', () => ({ serial: seedSerial(4242) }), (r) => r.serial === seedSerial(4242)],
    ['serial in capitals with leading zeros', () => ({ serial: `00${seedSerial(4242).toUpperCase()}` }), (r) => r.serial === seedSerial(4242)],
    ['revoked=true', () => ({ revoked: 'true' }), (r) => r.revoked_at !== null],
    ['revoked=false', () => ({ revoked: 'false' }), (r) => r.revoked_at === null],
    [
      'prefix, agent, activeAt and revoked=false together',
      () => ({ prefix: `${TD}/ns/a/`, agent: 'node-2', activeAt: String(t), revoked: 'false' }),
      (r) => (r.spiffe_id === `${TD}/ns/a` || r.spiffe_id.startsWith(`${TD}/ns/a/`)) && r.agent === 'node-2' && r.not_before <= t && t <= r.not_after && r.revoked_at === null,
    ],
  ];

  it.each(FILTERS)('pass/filter %s returns exactly the matching records, in issuance order, across pages', async (name, query, matches) => {
    const expected = model.filter(matches).map((r) => r.serial);
    expect(expected.length === 0).toBe(name === 'spiffeId never issued');
    expect(await walk(asLocalOperator(ca), query(), 97)).toEqual(expected);
  });

  it('pass/the boundary cases of the model are present, so the filters are tested on both sides', () => {
    const count = (p: (r: Row) => boolean) => model.filter(p).length;
    expect(count((r) => r.spiffe_id === `${TD}/ns/a-b`)).toBeGreaterThan(0);
    expect(count((r) => r.spiffe_id === `${TD}/ns/ab/svc`)).toBeGreaterThan(0);
    expect(count((r) => r.issued_at === t)).toBeGreaterThan(0);
    expect(count((r) => r.not_after === t)).toBeGreaterThan(0);
    expect(count((r) => r.not_before === t)).toBeGreaterThan(0);
    expect(count((r) => r.revoked_at !== null)).toBe(100);
    // Valid at t but revoked before it, and revoked after it: activeAt leaves out the first, not the second.
    expect(count((r) => r.not_before <= t && t <= r.not_after && r.revoked_at !== null && r.revoked_at <= t)).toBeGreaterThan(0);
    expect(count((r) => r.not_before <= t && t <= r.not_after && r.revoked_at !== null && r.revoked_at > t)).toBeGreaterThan(0);
  });

  it('pass/a page holds the full record', async () => {
    const seeded = model.find((r) => r.serial === seedSerial(100))!;
    const page: Page = await asOperator(ca, 'GET', `/v1/certificates?serial=${seedSerial(100)}`);
    expect(page).toEqual({
      certificates: [
        {
          serial: seedSerial(100),
          spiffeId: SEED_IDS[100 % SEED_IDS.length],
          dns: [],
          notBefore: iso(seeded.not_before),
          notAfter: iso(seeded.not_after),
          issuedAt: iso(seeded.issued_at),
          kind: 'workload',
          requestedBy: 'operator:seed',
          holder: null,
          agent: 'node-2',
          entryId: null,
          keyType: 'ec-p256',
          publicKeySha256: 'ab'.repeat(32),
          issuer: ca.manager.current().activeIntermediate()!.record.id,
          revokedAt: iso(seeded.issued_at + 10),
          revocationReason: 'keyCompromise',
        },
      ],
      nextCursor: null,
    });
  });

  it.each([
    ['activeAt is not a time', 'activeAt=yesterday', 'invalid_request'],
    ['issuedAfter is not a date', 'issuedAfter=2026-13-45T00:00:00Z', 'invalid_request'],
    ['issuedBefore has too many digits', 'issuedBefore=1234567890123', 'invalid_request'],
    ['limit is 0', 'limit=0', 'invalid_request'],
    ['limit is above 1000', 'limit=1001', 'invalid_request'],
    ['limit is negative', 'limit=-5', 'invalid_request'],
    ['limit is not a number', 'limit=ten', 'invalid_request'],
    ['cursor was never given out', 'cursor=bm9wZQ', 'invalid_request'],
    ['cursor is a negative position', `cursor=${Buffer.from('c-1').toString('base64url')}`, 'invalid_request'],
    ['cursor is too long', `cursor=${'A'.repeat(65)}`, 'invalid_request'],
    ['spiffeId and prefix together', `spiffeId=${TD}/ns/a&prefix=${TD}/ns/`, 'invalid_request'],
    ['spiffeId is empty', 'spiffeId=', 'invalid_request'],
    ['prefix is empty', 'prefix=', 'invalid_request'],
    ['an empty spiffeId beside a prefix', `spiffeId=&prefix=${TD}/ns/a`, 'invalid_request'],
    ['revoked is not a boolean', 'revoked=yes', 'invalid_request'],
    ['serial is not hex', 'serial=xyz', 'invalid_request'],
    ['an unknown parameter', 'color=blue', 'invalid_request'],
    ['agent is not a name', 'agent=no%20spaces', 'invalid_request'],
    ['spiffeId is not a SPIFFE ID', 'spiffeId=https://example.org/x', 'invalid_spiffe_id'],
  ])('fail/%s -> 400 %s', async (_name, query, code) => {
    const res = await ca.localApp.inject({ method: 'GET', url: `/v1/certificates?${query}` });
    expect({ status: res.statusCode, code: res.json().error?.code }).toEqual({ status: 400, code });
  });
});

describe('paging while the CA issues', () => {
  it('pass/a walk while the CA keeps issuing sees every earlier record once and each new one at most once', async () => {
    const ca = await startTestCa();
    seedCertificates(ca.store.db, 5000, { now: Math.floor(Date.now() / 1000), issuerId: ca.manager.current().activeIntermediate()!.record.id });
    const auditor = await adminCredential(ca, 'auditor', 'alice');
    const before = rows(ca.store.db).map((r) => r.serial);
    const issuedDuringWalk: string[] = [];
    const progress: number[] = [];
    let walking = true;
    const issuing = (async () => {
      for (let i = 0; walking && i < 200; i++) {
        const svid = await mintSvid(ca.localApp, `${TD}/ns/during/${i}`);
        issuedDuringWalk.push(svid.answer.svid.serial);
      }
    })();
    const walked = await walk(asAuditor(ca, auditor), {}, 250, () => progress.push(issuedDuringWalk.length)).finally(() => (walking = false));
    await issuing;

    // The walk and the issuance interleaved: certificates were issued between its first and last page.
    expect(progress.length).toBeGreaterThan(20);
    expect(progress.at(-1)!).toBeGreaterThan(progress[0]!);
    expect(new Set(walked).size).toBe(walked.length);
    const seen = new Set(walked);
    expect(before.filter((s) => !seen.has(s))).toEqual([]);
    const earlier = new Set(before);
    const during = new Set(issuedDuringWalk);
    expect(walked.filter((s) => !earlier.has(s) && !during.has(s))).toEqual([]);
    // Records are listed in issuance order: the new ones the walk saw come after every earlier one.
    expect(walked.slice(0, before.length)).toEqual(before);
  });
});

describe('GET /v1/identities', () => {
  it('pass/first and last issuance, counts, live certificates and whether each identity is still registered', async () => {
    const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    const ca = await startTestCa({}, { clock });
    const t0 = clock.nowSeconds();
    const web = await asOperator(ca, 'POST', '/v1/entries', { agent: 'web-1', spiffeId: `${TD}/ns/web` });
    const gone = await asOperator(ca, 'POST', '/v1/entries', { agent: 'web-1', spiffeId: `${TD}/ns/gone` });
    const agent = await attestAgent(ca, 'web-1');
    const svids = async (...entryIds: string[]) => {
      const requests = await Promise.all(entryIds.map(async (entryId) => ({ entryId, csr: (await newKeyAndCsr()).csr })));
      expect((await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests })).status).toBe(200);
    };
    clock.advance(5);
    await svids(web.id, gone.id);
    clock.advance(5);
    await svids(web.id);
    await mintSvid(ca.localApp, `${TD}/ns/minted`, { ttl: '1m' });
    await attestAgent(ca, 'web-2');
    await asOperator(ca, 'POST', '/v1/agents/web-2/evict');
    await asOperator(ca, 'DELETE', `/v1/entries/${gone.id}`);
    clock.advance(120);

    const identity = (path: string, first: number, last: number, certificates: number, live: number, registered: boolean) => ({
      spiffeId: TD + path,
      firstIssuedAt: iso(first),
      lastIssuedAt: iso(last),
      certificates,
      live,
      registered,
    });
    expect(await asOperator(ca, 'GET', '/v1/identities')).toEqual({
      identities: [
        identity('/meshca/agent/web-1', t0, t0, 1, 1, true),
        identity('/meshca/agent/web-2', t0 + 10, t0 + 10, 1, 0, false), // evicted: its SVID was revoked
        identity('/meshca/server', t0, t0, 1, 1, true),
        identity('/ns/gone', t0 + 5, t0 + 5, 1, 1, false), // entry deleted; the SVID lives until it expires
        identity('/ns/minted', t0 + 10, t0 + 10, 1, 0, false), // expired after a minute
        identity('/ns/web', t0 + 5, t0 + 10, 2, 2, true),
      ],
      nextCursor: null,
    });
  });
});

describe('GET /v1/identities, paged', () => {
  let ca: TestCa;
  let auditor: Credential;

  beforeAll(async () => {
    ca = await startTestCa();
    seedCertificates(ca.store.db, 5000, { now: Math.floor(Date.now() / 1000), issuerId: ca.manager.current().activeIntermediate()!.record.id });
    auditor = await adminCredential(ca, 'auditor', 'auditor-1');
  });

  /** Each ID once, bytewise (as Buffer.compare orders them), with how many records it has. */
  function expected(matches: (id: string) => boolean): Array<[string, number]> {
    const counts = new Map<string, number>();
    for (const r of rows(ca.store.db)) if (matches(r.spiffe_id)) counts.set(r.spiffe_id, (counts.get(r.spiffe_id) ?? 0) + 1);
    return [...counts].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  async function walkIdentities(query: Record<string, string>, limit: number): Promise<Array<[string, number]>> {
    const listed: Array<[string, number]> = [];
    let cursor: string | null = null;
    do {
      const params = new URLSearchParams({ ...query, limit: String(limit), ...(cursor ? { cursor } : {}) });
      const res = await callCa(ca, auditor, 'GET', `/v1/identities?${params}`);
      expect(res.status).toBe(200);
      const page = res.body as { identities: Array<{ spiffeId: string; certificates: number }>; nextCursor: string | null };
      expect(page.identities.length).toBeLessThanOrEqual(limit);
      listed.push(...page.identities.map((i): [string, number] => [i.spiffeId, i.certificates]));
      cursor = page.nextCursor;
    } while (cursor);
    return listed;
  }

  const under = (base: string) => (id: string) => id === base || id.startsWith(`${base}/`);

  it.each([
    ['every identity', {}, () => true],
    ['a prefix with a trailing slash', { prefix: `${TD}/ns/a/` }, under(`${TD}/ns/a`)],
    ['a prefix without one, beside siblings /ns/a-b, /ns/a.b and /ns/ab', { prefix: `${TD}/ns/a` }, under(`${TD}/ns/a`)],
    ['a prefix in capitals, which is another path', { prefix: `${TD}/ns/A` }, under(`${TD}/ns/A`)],
  ])('pass/%s, walked three at a time by an auditor over mutual TLS, each once with all its records counted', async (_name, query, matches) => {
    const want = expected(matches);
    expect(want.length).toBeGreaterThan(0);
    expect(await walkIdentities(query, 3)).toEqual(want);
  });

  it.each([
    ['limit is above 1000', 'limit=1001'],
    ['limit is 0', 'limit=0'],
    ['cursor was never given out', 'cursor=bm9wZQ'],
    ["cursor is a certificate listing's", `cursor=${Buffer.from('c1').toString('base64url')}`],
    ['cursor is too long', `cursor=${'A'.repeat(2801)}`],
    ['prefix is empty', 'prefix='],
    ['spiffeId is not a parameter here', `spiffeId=${TD}/ns/a`],
  ])('fail/%s -> 400 invalid_request', async (_name, query) => {
    const res = await ca.localApp.inject({ method: 'GET', url: `/v1/identities?${query}` });
    expect({ status: res.statusCode, code: res.json().error?.code }).toEqual({ status: 400, code: 'invalid_request' });
  });

  it('fail/a prefix that is no SPIFFE ID -> 400 invalid_spiffe_id', async () => {
    const res = await ca.localApp.inject({ method: 'GET', url: '/v1/identities?prefix=https://example.org/ns' });
    expect({ status: res.statusCode, code: res.json().error?.code }).toEqual({ status: 400, code: 'invalid_spiffe_id' });
  });
});
