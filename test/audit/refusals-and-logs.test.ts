/**
 * Refusals in the audit log (refused issuance with its reason, failed
 * authentication), and the CA's own log: secrets never reach it, and every
 * request line can be traced by its reqId, and names the caller once authenticated.
 */
import Database from 'better-sqlite3';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { DestinationStream } from 'pino';
import { startCa, type RunningCa } from '../../src/cli/ca-runtime.js';
import { createLogger } from '../../src/cli/logger.js';
import { eventRows } from '../support/audit-log.js';
import {
  adminCredential, asOperator, attestAgent, callCa, expiredCredential, foreignCredential, joinToken, mintCredential, newKeyAndCsr, type Credential,
  type HttpAnswer,
} from '../support/callers.js';
import { AUDITED_ANONYMOUS_REFUSALS, AUDITED_REFUSALS, auditedMessage } from '../../src/server/refusals.js';
import { cleanupLater } from '../support/cleanup.js';
import { clockNearNow } from '../support/lifecycle-ca.js';
import { asTestCa, startTestCa, testConfig, type TestCa } from '../support/test-ca.js';

const TD = 'spiffe://example.org';

/** Refusal events are appended after the answer is sent; one turn of the event loop later they are committed. */
async function eventsAfter(ca: TestCa, seq: number) {
  await new Promise<void>((resolve) => setImmediate(() => resolve()));
  return eventRows(ca.store.db)
    .filter((e) => e.seq > seq)
    .map((e) => ({ type: e.type, actor: e.actor, data: JSON.parse(e.data) as Record<string, unknown> }));
}

const headOf = (ca: TestCa) => eventRows(ca.store.db).at(-1)!.seq;

/** An answer from inject() or HTTPS, reduced to what the cases compare. */
function outcome(res: HttpAnswer | { statusCode: number; json(): any }): { status: number; code: string; message: string } {
  const status = 'status' in res ? res.status : res.statusCode;
  const body = 'status' in res ? res.body : res.json();
  return { status, code: body.error?.code, message: body.error?.message };
}

describe('refusals in the audit log', () => {
  let ca: TestCa;
  let agent: Credential;
  let auditor: Credential;
  let otherEntry: string;
  /** Agents refused for their standing: the CA still knows who they are. */
  let evicted: Credential;
  let banned: Credential;
  let bannedEntry: string;

  beforeAll(async () => {
    ca = await startTestCa();
    await asOperator(ca, 'POST', '/v1/entries', { agent: 'web-1', spiffeId: `${TD}/ns/web` });
    otherEntry = (await asOperator(ca, 'POST', '/v1/entries', { agent: 'web-2', spiffeId: `${TD}/ns/other` })).id;
    bannedEntry = (await asOperator(ca, 'POST', '/v1/entries', { agent: 'web-4', spiffeId: `${TD}/ns/banned` })).id;
    agent = await attestAgent(ca, 'web-1');
    auditor = await adminCredential(ca, 'auditor', 'alice');
    evicted = await attestAgent(ca, 'web-3');
    banned = await attestAgent(ca, 'web-4');
    await asOperator(ca, 'POST', '/v1/agents/web-3/evict');
    await asOperator(ca, 'POST', '/v1/agents/web-4/ban');
  });

  const mint = async (body: Record<string, unknown>) =>
    ca.localApp.inject({ method: 'POST', url: '/v1/svids/mint', payload: { spiffeId: `${TD}/ns/minted`, csr: (await newKeyAndCsr()).csr, ...body } });

  const REFUSED_ISSUANCE: ReadonlyArray<readonly [string, () => Promise<Parameters<typeof outcome>[0]>, number, string, string, string]> = [
    ['a mint with a CSR that is not one', () => mint({ csr: 'not a csr' }), 400, 'invalid_csr', 'operator:local', 'POST /v1/svids/mint'],
    ['a mint of a reserved identity', () => mint({ spiffeId: `${TD}/meshca/agent/web-9` }), 400, 'reserved_spiffe_id', 'operator:local', 'POST /v1/svids/mint'],
    ['a mint longer than the maximum lifetime', () => mint({ ttl: '5h' }), 400, 'ttl_exceeds_max', 'operator:local', 'POST /v1/svids/mint'],
    [
      "an agent asking for another agent's entry",
      async () => callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId: otherEntry, csr: (await newKeyAndCsr()).csr }] }),
      403, 'entry_not_granted', 'agent:web-1', 'POST /v1/agent/svids',
    ],
    [
      'an auditor asking to mint',
      async () => callCa(ca, auditor, 'POST', '/v1/svids/mint', { spiffeId: `${TD}/ns/minted`, csr: (await newKeyAndCsr()).csr }),
      403, 'forbidden', 'auditor:alice', 'POST /v1/svids/mint',
    ],
    [
      'an evicted agent asking to renew',
      async () => callCa(ca, evicted, 'POST', '/v1/agent/renew', { csr: (await newKeyAndCsr()).csr }),
      403, 'agent_evicted', 'agent:web-3', 'POST /v1/agent/renew',
    ],
    [
      'a banned agent asking for an SVID of its entry',
      async () => callCa(ca, banned, 'POST', '/v1/agent/svids', { requests: [{ entryId: bannedEntry, csr: (await newKeyAndCsr()).csr }] }),
      403, 'agent_banned', 'agent:web-4', 'POST /v1/agent/svids',
    ],
  ];

  it.each(REFUSED_ISSUANCE)('fail/%s appends issuance.refused with reason %s', async (_name, send, status, reason, actor, route) => {
    const head = headOf(ca);
    const res = outcome(await send());
    expect({ status: res.status, code: res.code }).toEqual({ status, code: reason });
    expect(await eventsAfter(ca, head)).toEqual([
      { type: 'issuance.refused', actor, data: { route, ip: '127.0.0.1', reason, message: res.message } },
    ]);
  });

  it('fail/a refusal quoting what an anonymous caller sent keeps to a few hundred characters in the audit log, whatever was sent', async () => {
    const head = headOf(ca);
    const field = 'f'.repeat(60_000);
    const res = outcome(await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token: 'x', csr: 'y', [field]: 1 }));
    expect(res).toMatchObject({ status: 400, message: `request body must NOT have additional properties: "${'f'.repeat(64)}"… (60000 characters)` });
    const [event] = await eventsAfter(ca, head);
    expect(event).toMatchObject({ type: 'issuance.refused', data: { message: res.message } });
    expect(JSON.stringify(event).length).toBeLessThan(1_000);
  });

  it.each([
    ['a message of 512 characters is kept whole', 'm'.repeat(512), 'm'.repeat(512)],
    ['a longer one keeps its first 512 and says how long it was', 'm'.repeat(513), `${'m'.repeat(512)}… (513 characters)`],
  ])('pass/%s in an issuance.refused event', (_name, message, audited) => {
    expect(auditedMessage(message)).toBe(audited);
  });

  const FAILED_AUTHENTICATION: ReadonlyArray<readonly [string, () => Promise<HttpAnswer>, string, string]> = [
    ['no client certificate', () => callCa(ca, undefined, 'GET', '/v1/certificates'), 'unauthenticated', 'GET /v1/certificates'],
    ['a certificate from a foreign CA', async () => callCa(ca, await foreignCredential(), 'POST', '/v1/agent/renew', { csr: 'x' }), 'certificate_untrusted', 'POST /v1/agent/renew'],
    ['an expired certificate', async () => callCa(ca, await expiredCredential(ca, `${TD}/meshca/admin/auditor/old`), 'GET', '/v1/audit/events'), 'certificate_expired', 'GET /v1/audit/events'],
    ['an unknown join token', async () => callCa(ca, undefined, 'POST', '/v1/agent/attest', { token: `mcjt_${'B'.repeat(43)}`, csr: (await newKeyAndCsr()).csr }), 'invalid_token', 'POST /v1/agent/attest'],
  ];

  it.each(FAILED_AUTHENTICATION)('fail/%s: 401 appends auth.failed with reason %s', async (_name, send, reason, route) => {
    const head = headOf(ca);
    const res = outcome(await send());
    expect({ status: res.status, code: res.code }).toEqual({ status: 401, code: reason });
    expect(await eventsAfter(ca, head)).toEqual([{ type: 'auth.failed', actor: 'anonymous', data: { route, ip: '127.0.0.1', reason } }]);
  });

  it('pass/the unknown join token itself is not written to the audit log', async () => {
    const token = `mcjt_${'C'.repeat(43)}`;
    const head = headOf(ca);
    expect((await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr: (await newKeyAndCsr()).csr })).status).toBe(401);
    const events = await eventsAfter(ca, head);
    expect(events.map((e) => e.type)).toEqual(['auth.failed']);
    expect(JSON.stringify(events)).not.toContain(token);
  });

  it.each([
    ['a refused read (bad limit)', () => ca.localApp.inject({ method: 'GET', url: '/v1/certificates?limit=0' }), 400],
    ['an unknown route', () => ca.localApp.inject({ method: 'GET', url: '/v1/nothing-here' }), 404],
    ['unbanning an agent that never attested', () => ca.localApp.inject({ method: 'POST', url: '/v1/agents/web-404/unban' }), 404],
  ])('pass/%s appends nothing', async (_name, send, status) => {
    const head = headOf(ca);
    expect((await send()).statusCode).toBe(status);
    expect(await eventsAfter(ca, head)).toEqual([]);
  });
});

describe('a flood of refused requests', () => {
  it('fail/counts every failure in metrics but audits at most a burst of 20, then one a second, per address', async () => {
    const clock = clockNearNow();
    const ca = await startTestCa({}, { clock });
    const head = headOf(ca);
    const failures = async (n: number) => {
      for (let i = 0; i < n; i++) expect((await callCa(ca, undefined, 'GET', '/v1/certificates')).status).toBe(401);
    };
    await failures(30);
    expect(await eventsAfter(ca, head)).toHaveLength(AUDITED_REFUSALS.burst);
    clock.advance(5);
    await failures(10);
    expect(await eventsAfter(ca, head)).toHaveLength(AUDITED_REFUSALS.burst + 5 * AUDITED_REFUSALS.perSecond);
    const metrics = (await ca.localApp.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^meshca_authentication_failures_total\{reason="unauthenticated"\} 40$/m);
  });

  it('fail/counts an IPv6 /64 as one address: a client sending from a new address of its prefix each time audits no more', async () => {
    const ca = await startTestCa({}, { clock: clockNearNow() });
    const head = headOf(ca);
    for (let i = 1; i <= 30; i++) {
      const res = await ca.tlsApp.inject({ method: 'GET', url: '/v1/certificates', remoteAddress: `2001:db8:7:8::${i.toString(16)}` });
      expect(res.statusCode).toBe(401);
    }
    const audited = await eventsAfter(ca, head);
    expect(audited).toHaveLength(AUDITED_REFUSALS.burst);
    // Each event still names the address it came from.
    expect(audited[1]!.data.ip).toBe('2001:db8:7:8::2');
  });

  it('fail/from many addresses: unidentified callers audit a burst of 100, then two a second, all together, and the next audited refusal says how many went unaudited before it', async () => {
    const clock = clockNearNow();
    const ca = await startTestCa({}, { clock });
    const head = headOf(ca);
    // Twelve from each of ten addresses: within each address's own burst, beyond the budget of them all.
    const refusals = async (addresses: number, each: number) => {
      for (let a = 1; a <= addresses; a++) {
        for (let i = 0; i < each; i++) {
          const res = await ca.tlsApp.inject({ method: 'GET', url: '/v1/certificates', remoteAddress: `192.0.2.${a}` });
          expect(res.statusCode).toBe(401);
        }
      }
    };
    await refusals(10, 12);
    const burst = await eventsAfter(ca, head);
    expect(burst).toHaveLength(AUDITED_ANONYMOUS_REFUSALS.burst);
    expect(burst.every((e) => e.actor === 'anonymous' && e.data.unauditedBefore === undefined)).toBe(true);
    clock.advance(1);
    await refusals(3, 1);
    const later = (await eventsAfter(ca, head)).slice(AUDITED_ANONYMOUS_REFUSALS.burst);
    expect(later.map((e) => [e.data.ip, e.data.unauditedBefore])).toEqual([
      ['192.0.2.1', 120 - AUDITED_ANONYMOUS_REFUSALS.burst],
      ['192.0.2.2', undefined],
    ]);
    expect((await ca.localApp.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^meshca_authentication_failures_total\{reason="unauthenticated"\} 123$/m);
  });

  it('fail/from a workload SVID (refused before any rate limit): a burst of 20, then one a second, each saying how many went unaudited before it', async () => {
    const clock = clockNearNow();
    const ca = await startTestCa({}, { clock });
    const workload = await mintCredential(ca, `${TD}/ns/shop/web`);
    const head = headOf(ca);
    const refusals = async (n: number) => {
      for (let i = 0; i < n; i++) expect((await callCa(ca, workload, 'POST', '/v1/agent/renew', { csr: 'x' })).status).toBe(403);
    };
    await refusals(30);
    const burst = await eventsAfter(ca, head);
    expect(burst).toHaveLength(AUDITED_REFUSALS.burst);
    expect(burst.every((e) => e.type === 'issuance.refused' && e.actor === `workload:${TD}/ns/shop/web` && e.data.unauditedBefore === undefined)).toBe(true);
    clock.advance(1);
    await refusals(3);
    const later = (await eventsAfter(ca, head)).slice(AUDITED_REFUSALS.burst);
    expect(later.map((e) => e.data.unauditedBefore)).toEqual([30 - AUDITED_REFUSALS.burst]);
    const metrics = (await ca.localApp.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^meshca_issuances_total\{result="refused",key_type="unknown",kind="agent"\} 33$/m);
  });
});

/** A pino destination that keeps every line written to it. */
class MemoryLog implements DestinationStream {
  readonly chunks: string[] = [];

  write(chunk: string): void {
    this.chunks.push(chunk);
  }

  text(): string {
    return this.chunks.join('');
  }

  lines(): Array<Record<string, any>> {
    return this.text().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
  }
}

describe('the scheduled pruning', () => {
  it('pass/a run that fails is logged in the CA\'s own log at error, never thrown to the scheduler, and the next run prunes', async () => {
    const log = new MemoryLog();
    const ca = await startCa(testConfig(), createLogger('info', log), { schedules: 'off' });
    cleanupLater(() => ca.close());
    const pruning = vi.spyOn(ca.core, 'prune').mockRejectedValueOnce(new Error('disk I/O error'));
    await expect(ca.prune()).resolves.toBeUndefined();
    await ca.prune();
    expect(pruning).toHaveBeenCalledTimes(2);
    expect(log.lines().filter((l) => /prun/.test(l.msg))).toEqual([
      expect.objectContaining({ level: 50, msg: 'pruning expired certificate records failed; the next scheduled run takes up what is left', err: expect.objectContaining({ message: 'disk I/O error' }) }),
    ]);
  });
});

describe('the CA log', () => {
  const passphrase = 'correct horse battery staple 61d2';
  const log = new MemoryLog();
  const logger = createLogger('trace', log);
  const secrets: string[] = [passphrase];
  let dataDir: string;
  let ca: TestCa;

  async function start(config: ReturnType<typeof testConfig>): Promise<TestCa> {
    const running: RunningCa = await startCa(config, logger, { schedules: 'off' });
    cleanupLater(() => running.close());
    const bundle = await running.localApp.inject({ method: 'GET', url: '/v1/bundle.pem' });
    return asTestCa(running, config, bundle.body);
  }

  beforeAll(async () => {
    const config = testConfig({}, { MESHCA_KEY_PASSPHRASE: passphrase });
    dataDir = config.dataDir;
    expect(config.keyPassphrase).toBe(passphrase);
    ca = await start(config);

    // A flow that handles every kind of secret: join tokens, CA keys under a passphrase, workload keys.
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'web-1', spiffeId: `${TD}/ns/web` });
    const token = await joinToken(ca, 'web-1');
    secrets.push(token);
    const { keyPem, csr } = await newKeyAndCsr();
    secrets.push(keyPem);
    const attested = await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr });
    expect(attested.status).toBe(200);
    const agent = { keyPem, chainPem: attested.body.svid.svid as string };
    expect((await callCa(ca, undefined, 'POST', '/v1/agent/attest', { token, csr })).status).toBe(401); // the token again, refused
    const workload = await newKeyAndCsr();
    secrets.push(workload.keyPem);
    expect((await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: [{ entryId: entry.id, csr: workload.csr }] })).status).toBe(200);
    await ca.localApp.inject({ method: 'GET', url: '/v1/certificates', headers: { authorization: `Bearer ${token}` } });
    await ca.core.audit.checkpoint();
    await ca.tick();

    // Restarting unlocks the CA keys with the passphrase.
    await ca.close();
    ca = await start(config);
    secrets.push(await joinToken(ca, 'web-2'));
    // A token pasted where its id belongs, in a path and in a query: refused, and masked in the request's log line.
    const pasted = await joinToken(ca, 'web-3');
    secrets.push(pasted);
    expect((await ca.localApp.inject({ method: 'POST', url: `/v1/tokens/${pasted}/revoke` })).statusCode).toBe(400);
    expect((await ca.localApp.inject({ method: 'GET', url: `/v1/tokens?cursor=${pasted}` })).statusCode).toBe(400);
    const minted = await ca.localApp.inject({ method: 'POST', url: '/v1/svids/mint', payload: { spiffeId: `${TD}/ns/minted`, csr: (await newKeyAndCsr()).csr } });
    expect(minted.statusCode).toBe(200);
  });

  it('pass/CA keys are encrypted at rest under the passphrase (so the flow handled it)', () => {
    const keys = readdirSync(join(dataDir, 'keys')).filter((f) => f.endsWith('.pem'));
    expect(keys.length).toBeGreaterThanOrEqual(2);
    for (const file of keys) expect(readFileSync(join(dataDir, 'keys', file), 'utf8')).toMatch(/^meshca-key-kdf: scrypt N=32768 r=8 p=1 salt=\S+\n-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
  });

  it('pass/no join token, passphrase or private key appears anywhere in the log', () => {
    const text = log.text();
    expect(log.lines().filter((l) => l.msg === 'meshca CA listening')).toHaveLength(2);
    expect(log.lines().some((l) => l.level === 10 || l.level === 20 || l.level === 30)).toBe(true);
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(log.lines().filter((l) => l.msg === 'incoming request' && String(l.req?.url).startsWith('/v1/tokens')).map((l) => l.req.url)).toEqual([
      '/v1/tokens',
      '/v1/tokens',
      '/v1/tokens',
      '/v1/tokens/mcjt_[redacted]/revoke',
      '/v1/tokens?cursor=mcjt_[redacted]',
    ]);
    expect(text).not.toMatch(/PRIVATE KEY/);
    expect(text).not.toContain('Bearer');
  });

  it('pass/the audit log does not hold the passphrase either', () => {
    const db = new Database(join(dataDir, 'meshca.db'), { readonly: true });
    try {
      const events = eventRows(db);
      expect(JSON.stringify(events)).not.toContain(passphrase);
      expect(events.filter((e) => e.type === 'ca.started').map((e) => JSON.parse(e.data).keysEncrypted)).toEqual([true, true]);
    } finally {
      db.close();
    }
  });

  it('pass/every request log line carries a reqId, shared by the lines of one request', () => {
    const requestLines = log.lines().filter((l) => 'req' in l || 'res' in l || /^request /.test(String(l.msg)) || l.msg === 'incoming request');
    expect(requestLines.length).toBeGreaterThan(20);
    for (const line of requestLines) expect(line.reqId, JSON.stringify(line)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const incoming = requestLines.filter((l) => l.msg === 'incoming request').map((l) => l.reqId);
    const completed = requestLines.filter((l) => l.msg === 'request completed').map((l) => l.reqId);
    expect(new Set(incoming).size).toBe(incoming.length);
    expect([...completed].sort()).toEqual([...incoming].sort());
    expect(requestLines.filter((l) => l.msg === 'request refused').every((l) => incoming.includes(l.reqId))).toBe(true);
  });

  it('pass/the lines of an authenticated request after authentication, "request completed" included, name the caller; an anonymous request\'s none', async () => {
    const auditor = await adminCredential(ca, 'auditor', 'alice');
    const from = log.chunks.length;
    const asked: Array<readonly [string, string, () => Promise<number>]> = [
      ['auditor:alice', 'GET /v1/entries', async () => (await callCa(ca, auditor, 'GET', '/v1/entries')).status],
      ['auditor:alice', 'POST /v1/entries', async () => (await callCa(ca, auditor, 'POST', '/v1/entries', { agent: 'web-1', spiffeId: `${TD}/ns/x` })).status],
      ['operator:local', 'GET /v1/agents', async () => (await ca.localApp.inject({ method: 'GET', url: '/v1/agents' })).statusCode],
      ['', 'GET /v1/bundle.pem', async () => (await callCa(ca, undefined, 'GET', '/v1/bundle.pem')).status],
      ['', 'GET /v1/certificates', async () => (await callCa(ca, undefined, 'GET', '/v1/certificates')).status],
    ];
    const statuses: number[] = [];
    for (const [, , ask] of asked) statuses.push(await ask());
    expect(statuses).toEqual([200, 403, 200, 200, 401]);
    // Over HTTPS the client may have its answer before the server has written its completion line.
    const written = () => log.chunks.slice(from).join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
    for (let i = 0; i < 100 && written().filter((l) => l.msg === 'request completed').length < asked.length; i++) await new Promise((r) => setTimeout(r, 10));

    const seen = written();
    for (const [caller, request] of asked) {
      const incoming = seen.filter((l) => l.msg === 'incoming request' && `${l.req.method} ${l.req.url}` === request);
      expect(incoming, request).toHaveLength(1);
      const ofRequest = seen.filter((l) => l.reqId === incoming[0]!.reqId);
      const completed = ofRequest.find((l) => l.msg === 'request completed');
      expect(completed, request).toMatchObject({ reqId: incoming[0]!.reqId });
      expect(completed!.caller, request).toBe(caller === '' ? undefined : caller);
      // "incoming request" is written before authentication; every line after it is the caller's.
      const after = ofRequest.filter((l) => l !== incoming[0]);
      expect(after.map((l) => l.caller), request).toEqual(after.map(() => (caller === '' ? undefined : caller)));
    }
  });

  it('pass/secret fields are censored at the top level, nested one and two levels down, and inside arrays', () => {
    const fields = ['token', 'joinToken', 'passphrase', 'keyPassphrase', 'privateKey', 'keyPem', 'key', 'authorization'];
    const marked = (where: string) => Object.fromEntries(fields.map((f) => [f, `secret-${where}-${f}-83f1`]));
    const before = log.chunks.length;
    logger.info({ ...marked('top'), nested: { ...marked('one'), deeper: marked('two') }, kept: 'visible' }, 'direct');
    logger.child({ component: 'test' }).warn({ request: { token: 'secret-child-token-83f1' } }, 'from a child');
    logger.info({ requests: [{ token: 'secret-array-token-83f1', entryId: 'e-1' }] }, 'a batch');

    const written = log.chunks.slice(before).join('');
    expect(written).not.toContain('83f1');
    const [direct, child, batch] = log.lines().slice(-3);
    const censored = Object.fromEntries(fields.map((f) => [f, '[redacted]']));
    expect(direct).toMatchObject({ msg: 'direct', kept: 'visible', ...censored, nested: { ...censored, deeper: censored } });
    expect(child).toMatchObject({ msg: 'from a child', component: 'test', request: { token: '[redacted]' } });
    expect(batch).toMatchObject({ msg: 'a batch', requests: [{ token: '[redacted]', entryId: 'e-1' }] });
  });
});

/**
 * Refused certificate requests are counted per certificate asked for, as
 * issued ones are: a batch is refused whole, and counted as one request it
 * made an alert on the refused share (deploy/prometheus) fire only once most
 * requests were refused.
 */
describe('refused workload SVIDs in metrics', () => {
  const refusedWorkload = (metrics: string) => Number(/^meshca_issuances_total\{result="refused",key_type="unknown",kind="workload"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);

  it.each([
    { name: 'a batch of 3 for an entry of another agent', size: 3, counted: 3 },
    { name: 'a batch of 70, over the 64 a batch may hold, counted as the most one may ask', size: 70, counted: 64 },
  ])('fail/$name counts $counted refused certificates', async ({ size, counted }) => {
    const ca = await startTestCa();
    const agent = await attestAgent(ca, 'batcher');
    const entry = await asOperator(ca, 'POST', '/v1/entries', { agent: 'someone-else', spiffeId: `${TD}/ns/shop/web` });
    const { csr } = await newKeyAndCsr();
    const res = await callCa(ca, agent, 'POST', '/v1/agent/svids', { requests: Array.from({ length: size }, () => ({ entryId: entry.id, csr })) });
    expect(res.status).toBeGreaterThanOrEqual(400);
    const metrics = (await ca.localApp.inject({ method: 'GET', url: '/metrics' })).body;
    expect(refusedWorkload(metrics)).toBe(counted);
  });
});
