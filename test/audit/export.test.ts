/**
 * Exporting the audit log: JSON lines and CSV over GET /v1/audit/events and
 * `meshca audit export`. An export holds exactly the events verification walks,
 * with enough of each to re-check the hash chain from the export alone.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { canonicalJson, eventHash, GENESIS_HASH } from '../../src/ca/audit-chain.js';
import { eventRows, verifyOverApi, type EventRow } from '../support/audit-log.js';
import { adminCredential, asOperator, attestAgent, callCa, newKeyAndCsr } from '../support/callers.js';
import { MESHCA_BIN, runMeshca } from '../support/cli.js';
import { csvRecords, parseCsv } from '../support/csv.js';
import { FakeClock } from '../support/fake-clock.js';
import { mintSvid } from '../support/svids.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';
import { waitFor } from '../support/wait.js';

interface ExportedEvent {
  seq: number;
  at: string;
  type: string;
  actor: string;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const seconds = (isoTime: string) => Date.parse(isoTime) / 1000;

function exportOf(row: EventRow): ExportedEvent {
  return { seq: row.seq, at: iso(row.at), type: row.type, actor: row.actor, data: JSON.parse(row.data), prevHash: row.prev_hash, hash: row.hash };
}

function jsonLines(body: string): ExportedEvent[] {
  expect(body === '' || body.endsWith('\n')).toBe(true);
  return body.split('\n').filter(Boolean).map((line) => JSON.parse(line) as ExportedEvent);
}

/** Re-checks the chain from exported events alone: contiguous from 1, linked, every hash recomputed. */
function rechecked(events: readonly ExportedEvent[]): { count: number; head: { seq: number; hash: string } | null } {
  let prevHash = GENESIS_HASH;
  events.forEach((e, i) => {
    expect(e.seq).toBe(i + 1);
    expect(e.prevHash).toBe(prevHash);
    expect(eventHash({ seq: e.seq, at: seconds(e.at), type: e.type, actor: e.actor, dataJson: canonicalJson(e.data), prevHash })).toBe(e.hash);
    prevHash = e.hash;
  });
  return { count: events.length, head: events.length ? { seq: events.at(-1)!.seq, hash: prevHash } : null };
}

async function exported(ca: TestCa, query = ''): Promise<{ status: number; type: string; body: string }> {
  const res = await ca.localApp.inject({ method: 'GET', url: `/v1/audit/events${query}` });
  return { status: res.statusCode, type: String(res.headers['content-type']), body: res.body };
}

/** Awaits the refusal events the CA appends after it answered (they are not part of the request). */
async function settled(ca: TestCa, type: string, count: number): Promise<void> {
  await waitFor(`${count} ${type} events`, () => eventRows(ca.store.db).filter((r) => r.type === type).length >= count, 5_000, 10);
}

describe('GET /v1/audit/events', () => {
  let ca: TestCa;
  let clock: FakeClock;
  /** When the second batch of activity began. */
  let later: number;

  beforeAll(async () => {
    clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000);
    ca = await startTestCa({}, { clock });
    await asOperator(ca, 'POST', '/v1/entries', { agent: 'web-1', spiffeId: 'spiffe://example.org/ns/web', dns: ['web.example', 'www.example'] });
    await attestAgent(ca, 'web-1');
    await ca.core.audit.checkpoint();
    clock.advance(60);
    later = clock.nowSeconds();
    await mintSvid(ca.localApp, 'spiffe://example.org/ns/minted', { dns: ['a.example'] });
    // A refusal whose message quotes the input: quotes and commas inside the CSV data cell.
    const refused = await ca.localApp.inject({
      method: 'POST',
      url: '/v1/svids/mint',
      payload: { spiffeId: 'spiffe://example.org/bad "quoted", id', csr: (await newKeyAndCsr()).csr },
    });
    expect(refused.statusCode).toBe(400);
    await settled(ca, 'issuance.refused', 1);
    await ca.store.audit.append({ type: 'test.note', actor: 'test:comma, "quote"\nsecond line', data: { note: 'line one\nline two, "quoted"', unicode: 'zürich ✓' } });
    clock.advance(60);
    await ca.core.audit.checkpoint();
  });

  it('pass/jsonl holds every stored event, and the chain re-checks from the export alone to the head verify reports', async () => {
    const res = await exported(ca, '?format=jsonl');
    expect({ status: res.status, type: res.type }).toEqual({ status: 200, type: 'application/x-ndjson' });
    const events = jsonLines(res.body);
    expect(events).toEqual(eventRows(ca.store.db).map(exportOf));
    const verified = await verifyOverApi(ca);
    expect(verified.ok).toBe(true);
    expect(rechecked(events)).toEqual({ count: verified.events, head: verified.head });
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['ca.started', 'agent.attested', 'issuance.refused', 'audit.checkpoint', 'test.note']));
  });

  it('pass/jsonl is the default format', async () => {
    expect((await exported(ca)).body).toBe((await exported(ca, '?format=jsonl')).body);
  });

  it('pass/csv has the header and one row per event, quoting data with commas, quotes and line breaks', async () => {
    const res = await exported(ca, '?format=csv');
    expect({ status: res.status, type: res.type }).toEqual({ status: 200, type: 'text/csv' });
    expect(parseCsv(res.body)[0]).toEqual(['seq', 'at', 'type', 'actor', 'data', 'prev_hash', 'hash']);
    const rows = eventRows(ca.store.db);
    expect(csvRecords(res.body)).toEqual(
      rows.map((r) => ({ seq: String(r.seq), at: iso(r.at), type: r.type, actor: r.actor, data: r.data, prev_hash: r.prev_hash, hash: r.hash })),
    );
    const note = csvRecords(res.body).find((r) => r.type === 'test.note')!;
    expect(note.actor).toBe('test:comma, "quote"\nsecond line');
    expect(JSON.parse(note.data)).toEqual({ note: 'line one\nline two, "quoted"', unicode: 'zürich ✓' });
    const refusal = csvRecords(res.body).find((r) => r.type === 'issuance.refused')!;
    expect(JSON.parse(refusal.data)).toMatchObject({ reason: 'invalid_spiffe_id', route: 'POST /v1/svids/mint' });
    expect(refusal.data).toContain('"');
  });

  it.each([
    ['an RFC 3339 time', () => iso(later), () => later],
    ['epoch seconds', () => String(later), () => later],
    ['a time between events', () => iso(later - 30), () => later - 30],
    ['the epoch', () => '0', () => 0],
  ])('pass/since as %s keeps exactly the events at or after it', async (_name, since, from) => {
    const expected = eventRows(ca.store.db).filter((r) => r.at >= from()).map(exportOf);
    expect(expected.length).toBeGreaterThan(0);
    const [jsonl, csv] = [await exported(ca, `?since=${encodeURIComponent(since())}`), await exported(ca, `?format=csv&since=${since()}`)];
    expect(jsonLines(jsonl.body)).toEqual(expected);
    expect(csvRecords(csv.body).map((r) => Number(r.seq))).toEqual(expected.map((e) => e.seq));
  });

  it('pass/after a number keeps exactly the events numbered above it, whatever their times (an export can carry on from the last it read)', async () => {
    const rows = eventRows(ca.store.db);
    const last = rows.at(-1)!.seq;
    for (const after of [0, 1, last - 2, last - 1, last]) {
      expect(jsonLines((await exported(ca, `?after=${after}`)).body)).toEqual(rows.filter((r) => r.seq > after).map(exportOf));
    }
    expect((await exported(ca, `?after=${last + 1000}`)).body).toBe('');
    // Both filters hold at once.
    expect(jsonLines((await exported(ca, `?after=1&since=${later}`)).body)).toEqual(rows.filter((r) => r.seq > 1 && r.at >= later).map(exportOf));
  });

  it('pass/since after the last event: an empty jsonl body, a csv of just the header', async () => {
    const after = String(clock.nowSeconds() + 1);
    expect((await exported(ca, `?since=${after}`)).body).toBe('');
    expect((await exported(ca, `?format=csv&since=${after}`)).body).toBe('seq,at,type,actor,data,prev_hash,hash\n');
  });

  it.each([
    ['since is not a time', '?since=yesterday'],
    ['since is an impossible date', '?since=2026-02-31T99:00:00Z'],
    ['after is negative', '?after=-1'],
    ['after is a fraction', '?after=1.5'],
    ['after has a leading zero', '?after=07'],
    ['after is past 2^53 - 1', '?after=9007199254740992'],
    ['after is not a number', '?after=last'],
    ['format is unknown', '?format=xml'],
    ['an unknown parameter', '?until=0'],
  ])('fail/%s -> 400 invalid_request', async (_name, query) => {
    const res = await ca.localApp.inject({ method: 'GET', url: `/v1/audit/events${query}` });
    expect({ status: res.statusCode, code: res.json().error?.code }).toEqual({ status: 400, code: 'invalid_request' });
  });

  it.each([
    ['?format=jsonl', 'application/x-ndjson'],
    ['?format=csv', 'text/csv'],
  ])('pass/HEAD %s -> 200 with the GET\'s content type, without reading the log', async (query, type) => {
    const events = vi.spyOn(ca.core.services.auditStore, 'events');
    try {
      const res = await ca.localApp.inject({ method: 'HEAD', url: `/v1/audit/events${query}` });
      expect({ status: res.statusCode, type: String(res.headers['content-type']).split(';')[0], body: res.body }).toEqual({ status: 200, type, body: '' });
      expect(events).not.toHaveBeenCalled();
      // The same query as a GET does read it: the spy sees the export.
      expect((await exported(ca, query)).status).toBe(200);
      expect(events).toHaveBeenCalledTimes(1);
    } finally {
      events.mockRestore();
    }
  });

  it('pass/meshca audit export prints what the API exports, as csv, as jsonl since a time, and after an event number', async () => {
    const dataDir = ca.config.dataDir;
    const [csv, jsonl, carriedOn] = await Promise.all([
      runMeshca(['audit', 'export', '--format', 'csv', '--data-dir', dataDir]),
      runMeshca(['audit', 'export', '--since', iso(later), '--data-dir', dataDir]),
      runMeshca(['audit', 'export', '--after', '2', '--data-dir', dataDir]),
    ]);
    expect(csv).toEqual({ code: 0, stdout: (await exported(ca, '?format=csv')).body, stderr: '' });
    expect(csvRecords(csv.stdout)).toHaveLength(eventRows(ca.store.db).length);
    expect(jsonl).toEqual({ code: 0, stdout: (await exported(ca, `?since=${later}`)).body, stderr: '' });
    expect(carriedOn).toEqual({ code: 0, stdout: (await exported(ca, '?after=2')).body, stderr: '' });
    expect(jsonLines(carriedOn.stdout)[0]?.seq).toBe(3);
  });

  // A flag the command cannot accept is refused before the CA is asked: exit 78 (README, exit codes), not a refusal's 1.
  it('fail/meshca audit export --format xml exits 78 naming the flag and the formats', async () => {
    const res = await runMeshca(['audit', 'export', '--format', 'xml', '--data-dir', ca.config.dataDir]);
    expect({ code: res.code, stdout: res.stdout }).toEqual({ code: 78, stdout: '' });
    expect(res.stderr).toContain('--format: "xml" is not one of jsonl, csv');
  });
});

describe('a long audit log', () => {
  it('pass/an export longer than one read page (1,000 events) is complete, in order and re-checks', async () => {
    const ca = await startTestCa();
    await Promise.all(
      Array.from({ length: 1500 }, (_, i) => ca.store.audit.append({ type: 'test.bulk', actor: 'test', data: { i, text: `row ${i}, "bulk"` } })),
    );
    const stored = eventRows(ca.store.db);
    expect(stored.length).toBeGreaterThan(1500);
    const jsonl = jsonLines((await exported(ca)).body);
    expect(jsonl).toEqual(stored.map(exportOf));
    expect(rechecked(jsonl)).toEqual({ count: stored.length, head: { seq: stored.at(-1)!.seq, hash: stored.at(-1)!.hash } });
    expect(csvRecords((await exported(ca, '?format=csv')).body).map((r) => Number(r.seq))).toEqual(stored.map((r) => r.seq));
  });

  it('pass/a reader that stops early (`meshca audit export | head -1`) ends the command quietly with status 0', async () => {
    const ca = await startTestCa();
    await Promise.all(Array.from({ length: 1500 }, (_, i) => ca.store.audit.append({ type: 'test.bulk', actor: 'test', data: { i } })));
    // Far more than a pipe holds, so the command is still writing when the reader goes away.
    expect((await exported(ca)).body.length).toBeGreaterThan(256 * 1024);
    const child = spawn(process.execPath, [MESHCA_BIN, 'audit', 'export', '--data-dir', ca.config.dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const [code] = (await once(child, 'close')) as [number | null];
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });
});

describe('a log holding rows numbered past 2^53 - 1, which no event meshca writes is', () => {
  it('fail/ends the read with an error naming them, rather than reading their page again forever (an export that never ends)', async () => {
    const ca = await startTestCa();
    // Written by whoever can write the datastore; read back, both are the same JavaScript number.
    const insert = ca.store.db.prepare("INSERT INTO audit_events (seq, at, type, actor, data, prev_hash, hash) VALUES (?, 0, 'forged', 'x', '{}', ?, ?)");
    for (const seq of [2n ** 60n, 2n ** 60n + 1n]) insert.run(seq, GENESIS_HASH, GENESIS_HASH);
    const count = async (): Promise<number> => {
      let read = 0;
      for await (const _ of ca.store.audit.events(1, 0)) if (++read > 10_000) break;
      return read;
    };
    await expect(count()).rejects.toThrow(`an audit event is stored numbered beyond ${Number.MAX_SAFE_INTEGER}, which no event meshca writes is: the log was altered`);
  });
});

describe('a checkpoint signed on demand (POST /v1/audit/checkpoints)', () => {
  const checkpointActors = (ca: TestCa) => eventRows(ca.store.db).filter((r) => r.type === 'audit.checkpoint').map((r) => r.actor);

  it('pass/names the operator who asked as its actor, on the socket and over mutual TLS; the scheduled one is the CA\'s own', async () => {
    const ca = await startTestCa();
    const remote = await adminCredential(ca, 'operator', 'olga');
    const auditor = await adminCredential(ca, 'auditor', 'audrey');
    expect((await ca.localApp.inject({ method: 'POST', url: '/v1/audit/checkpoints' })).statusCode).toBe(201);
    expect((await callCa(ca, remote, 'POST', '/v1/audit/checkpoints')).status).toBe(201);
    // An auditor may not ask for one: refused, and nothing signed in its name.
    expect((await callCa(ca, auditor, 'POST', '/v1/audit/checkpoints')).status).toBe(403);
    await asOperator(ca, 'POST', '/v1/tokens', { agent: 'after-the-checkpoints' });
    await ca.core.audit.checkpointIfNew();
    expect(checkpointActors(ca)).toEqual(['operator:local', 'operator:olga', 'meshca']);
  });
});
