/**
 * The agent and a CA whose clock disagrees with this host's: the one-time join
 * token is not spent while the clocks are further apart than
 * MAX_CLOCK_SKEW_MS, and an SVID that arrives outside its validity is reported
 * as clock skew rather than thrown away in silence.
 */
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CaRequestError } from '../../src/agent/ca-api.js';
import { CaClient } from '../../src/agent/ca-client.js';
import type { PublishedFile } from '../../src/agent/installer.js';
import { Sidecar, type SidecarSettings } from '../../src/agent/sidecar.js';
import { StateStore } from '../../src/agent/state-store.js';
import { cleanupLater } from '../support/cleanup.js';
import { FakeCaApi } from '../support/fake-ca-api.js';
import { FakeClock } from '../support/fake-clock.js';
import { selfSigned } from '../support/openssl-pki.js';
import { fixedRandom } from '../support/seeded-random.js';
import { tempDir } from '../support/temp-dir.js';

const START = Date.UTC(2026, 10, 25, 12, 0, 0);

interface LogLine {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/**
 * An agent on its own clock and a fake CA on another, `hostAheadSeconds`
 * behind it. With `caTellsTime` the CA answers the comparison with its clock
 * as an HTTP Date header would (whole seconds); otherwise it cannot tell.
 */
async function skewedPair(
  hostAheadSeconds: number,
  o: { caTellsTime?: boolean; state?: StateStore; settings?: Partial<SidecarSettings>; out?: readonly PublishedFile[]; alsoTrusted?: string } = {},
) {
  const agentClock = new FakeClock(START);
  const caClock = new FakeClock(START - hostAheadSeconds * 1000);
  const ca = await FakeCaApi.create(caClock);
  const comparisons: number[] = [];
  const client =
    o.caTellsTime === false
      ? ca
      : Object.assign(ca, {
          serverDateMs: async () => {
            comparisons.push(agentClock.nowMs());
            return Math.floor(caClock.nowMs() / 1000) * 1000;
          },
          // Every answer carries the CA's Date header; the fake answers at once, on its own clock.
          lastAnswerDateMs: () => Math.floor(caClock.nowMs() / 1000) * 1000,
        });
  const published: PublishedFile[][] = [];
  const logs: LogLine[] = [];
  const log = (level: string) => (fields: object, msg: string) => logs.push({ level, msg, fields: fields as Record<string, unknown> });
  const sidecar = new Sidecar(
    {
      client,
      publish: async (files) => void published.push([...files]),
      reload: async () => undefined,
      clock: agentClock,
      random: fixedRandom(0.5),
      log: { info: log('info'), warn: log('warn'), error: log('error') },
      state: o.state,
      readPublished: o.out && (async () => o.out),
    },
    { joinToken: 'good-token', keyType: 'ec-p256', syncIntervalMs: 30_000, combined: false, ...o.settings },
    ca.bundlePem + (o.alsoTrusted ?? ''),
  );
  ca.addEntry('spiffe://example.org/ns/web');
  /** Both clocks move on; the agent steps whenever its own wait says. */
  const runFor = async (seconds: number) => {
    const end = agentClock.nowMs() + seconds * 1000;
    while (agentClock.nowMs() < end) {
      const wait = await sidecar.step();
      const step = Math.max(1, Math.ceil(Math.min(wait, end - agentClock.nowMs()) / 1000));
      agentClock.advance(step);
      caClock.advance(step);
    }
  };
  /** Time sync fixed on this host: its clock jumps to the CA's. */
  const setClockRight = () => agentClock.set(caClock.nowMs());
  const errors = () => logs.filter((l) => l.level === 'error');
  return { agentClock, caClock, ca, sidecar, published, logs, errors, comparisons, runFor, setClockRight };
}

describe('CRLs made by a CA whose clock runs ahead of this host (within the tolerance)', () => {
  it('fail/are not installed before they are valid here (OpenSSL would refuse them, and every client they vouch for), and are at the first sync once they are', async () => {
    const p = await skewedPair(-45);
    await p.ca.publishCrl();
    const crlFiles = () => p.published.map((files) => files.some((f) => f.name === 'crl.pem'));
    await p.sidecar.step();
    expect(crlFiles()).toEqual([false]);
    // What --once waits for (thisUpdate is the CA's now; the second after it, by this host's clock).
    expect(p.sidecar.crlsNotInstalled()).toEqual({ validFromMs: START + 46_000 });
    await p.runFor(50);
    // Valid here 45 s on: taken at the sync a second later, not at the one 60 s on.
    expect(crlFiles().at(-1)).toBe(true);
    expect(p.sidecar.crlsNotInstalled()).toBeUndefined();
  });
});

describe('comparing clocks with the CA before spending the join token', () => {
  it.each([
    { name: 'fail/the CA 2 hours behind this host', ahead: 2 * 3600, attests: false, says: "this host's clock is 2.0 h ahead of the CA's" },
    { name: 'fail/the CA 2 hours ahead of this host', ahead: -2 * 3600, attests: false, says: "this host's clock is 2.0 h behind the CA's" },
    { name: 'fail/the CA 6 minutes behind this host', ahead: 6 * 60, attests: false, says: "this host's clock is 6 min ahead of the CA's" },
    { name: 'pass/the CA 3 seconds behind this host', ahead: 3, attests: true, says: undefined },
    { name: 'pass/the CA 3 seconds ahead of this host', ahead: -3, attests: true, says: undefined },
    { name: 'pass/the CA 4 minutes 50 seconds behind this host', ahead: 290, attests: true, says: undefined },
  ])('$name', async ({ ahead, attests, says }) => {
    const p = await skewedPair(ahead);
    await p.sidecar.step();
    if (attests) {
      expect(p.ca.calls).toEqual(['attest', 'sync', 'svids']);
      expect({ ready: p.sidecar.ready(), published: p.published.length, errors: p.errors() }).toEqual({ ready: true, published: 1, errors: [] });
      expect(p.comparisons).toHaveLength(1);
      return;
    }
    expect(p.ca.calls).toEqual([]);
    expect(p.comparisons).toHaveLength(1);
    expect({ ready: p.sidecar.ready(), published: p.published.length }).toEqual({ ready: false, published: 0 });
    expect(p.errors()).toHaveLength(1);
    expect(p.errors()[0]!.msg).toContain(says);
    expect(p.errors()[0]!.msg).toContain('fix time sync (NTP)');
    expect(p.errors()[0]!.fields).toMatchObject({ code: 'clock_skew', skewSeconds: ahead });
  });

  it('keeps the token through retries while the clocks disagree, and attests with it once this host\'s clock is set right', async () => {
    const p = await skewedPair(2 * 3600);
    await p.runFor(60);
    expect(p.ca.count('attest')).toBe(0);
    expect(p.comparisons.length).toBeGreaterThan(5); // retried with backoff, comparing each time
    expect(p.errors().every((l) => l.fields['code'] === 'clock_skew')).toBe(true);
    p.setClockRight();
    await p.runFor(10);
    expect(p.ca.calls.slice(0, 3)).toEqual(['attest', 'sync', 'svids']);
    expect({ ready: p.sidecar.ready(), published: p.published.length }).toEqual({ ready: true, published: 1 });
  });

  it('fail/says so when it starts, then every ten minutes while it lasts, not at each retry (every few seconds without an SVID)', async () => {
    const p = await skewedPair(2 * 3600);
    await p.runFor(25 * 60);
    expect(p.comparisons.length).toBeGreaterThan(100);
    expect(p.errors().map((l) => l.fields['code'])).toEqual(['clock_skew', 'clock_skew', 'clock_skew']);
  });

  it('turns /readyz 503 for a valid-looking SVID kept in --out while the clocks disagree, and 200 again once the clock is set right', async () => {
    const previous = await skewedPair(0);
    await previous.sidecar.step();
    // This host restarts two hours behind the CA: the SVID the last run installed looks valid, though it has expired.
    // Its --trust-bundle holds the root of the CA (a fake of its own here) that issued what --out holds.
    const p = await skewedPair(-2 * 3600, { out: previous.published[0]!, alsoTrusted: previous.ca.bundlePem });
    await p.sidecar.restore();
    expect(p.sidecar.ready()).toBe(true);
    await p.sidecar.step();
    expect({ calls: p.ca.calls, ready: p.sidecar.ready() }).toEqual({ calls: [], ready: false });
    p.setClockRight();
    await p.runFor(10);
    expect({ calls: p.ca.calls.slice(0, 3), ready: p.sidecar.ready() }).toEqual({ calls: ['attest', 'sync', 'svids'], ready: true });
  });

  it('pass/attests as before with a CA that cannot tell its time (no Date header)', async () => {
    const p = await skewedPair(0);
    Object.assign(p.ca, { serverDateMs: async () => undefined });
    await p.sidecar.step();
    expect(p.ca.calls).toEqual(['attest', 'sync', 'svids']);
    expect(p.sidecar.ready()).toBe(true);
  });

  it('does not compare again while it holds a valid agent SVID', async () => {
    const p = await skewedPair(0);
    await p.runFor(3600);
    expect(p.ca.count('renew')).toBeGreaterThan(0);
    expect(p.comparisons).toHaveLength(1);
  });
});

describe('a clock that falls away from the CA\'s after attesting, seen by the Date header of each sync', () => {
  it.each([
    ['6 minutes behind', -6 * 60, "this host's clock is 6 min behind the CA's"],
    // Not so far ahead that the agent SVID (1 hour) looks expired: giving that up is compared before, and retried.
    ['10 minutes ahead', 10 * 60, "this host's clock is 10 min ahead of the CA's"],
  ])('fail/%s: the next sync turns /readyz 503 and says so once at error level; ready again once the clock is set right', async (_name, stepSeconds, says) => {
    const p = await skewedPair(0);
    await p.sidecar.step();
    expect(p.sidecar.ready()).toBe(true);

    p.agentClock.set(p.agentClock.nowMs() + stepSeconds * 1000);
    await p.runFor(90);
    expect(p.sidecar.notReadyReason()).toBe("this host's clock disagrees with the CA's, so the SVID's validity cannot be judged");
    const skewErrors = p.errors().filter((l) => l.fields['code'] === 'clock_skew');
    expect(skewErrors).toHaveLength(1);
    expect(skewErrors[0]!.msg).toContain(says);

    p.setClockRight();
    await p.runFor(35);
    expect(p.sidecar.ready()).toBe(true);
  });

  it('pass/a clock within the tolerance stays ready through its syncs', async () => {
    const p = await skewedPair(0);
    await p.sidecar.step();
    // Ahead: behind, the SVID just issued would rightly be not valid yet by this clock.
    p.agentClock.set(p.agentClock.nowMs() + 4 * 60_000);
    await p.runFor(90);
    expect({ ready: p.sidecar.ready(), errors: p.errors() }).toEqual({ ready: true, errors: [] });
  });
});

describe('a clock stepped far from the CA\'s after attesting, for longer than the agent SVID lives (time sync lost for hours)', () => {
  // `servedValid`: the workload SVID in --out stays valid throughout by the CA's clock, which peers share. Ahead, an SVID the CA
  // issues looks expired here and is not installed (see below); this host's proxy takes its peers' for expired anyway.
  it.each([
    ['2 hours ahead', 2 * 3600, false],
    ['2 hours behind', -2 * 3600, true],
  ])('fail/%s: SVIDs are renewed when the CA\'s clock says, so once the clock is set right the agent goes on without a new join token', async (_name, jumpSeconds, servedValid) => {
    const p = await skewedPair(0, { state: new StateStore(tempDir()) });
    // The CA takes a credential only while it is valid by its own clock, as TLS verification there does.
    const presented = () => p.ca.configured?.credential as { chainPem: string } | undefined;
    for (const call of ['renew', 'sync', 'workloadSvids'] as const) {
      const real = p.ca[call].bind(p.ca) as (...args: never[]) => Promise<unknown>;
      Object.assign(p.ca, {
        [call]: async (...args: never[]) => {
          const chain = presented()?.chainPem;
          if (chain !== undefined && Date.parse(new X509Certificate(chain).validTo) <= p.caClock.nowMs()) {
            throw new CaRequestError(401, 'certificate_expired', 'the client certificate has expired');
          }
          return real(...args);
        },
      });
    }
    await p.sidecar.step();
    p.agentClock.set(p.agentClock.nowMs() + jumpSeconds * 1000);
    const lapses: string[] = [];
    for (let quarter = 0; quarter < 12; quarter++) {
      await p.runFor(15 * 60);
      if (p.sidecar.status().installed!.notAfterMs <= p.caClock.nowMs()) lapses.push(new Date(p.caClock.nowMs()).toISOString());
    }
    expect(lapses.length === 0).toBe(servedValid);
    // An hour's agent SVID, renewed about every half hour by the CA's clock: neither never nor in a loop.
    expect(p.ca.count('renew')).toBeGreaterThanOrEqual(5);
    expect(p.ca.count('renew')).toBeLessThanOrEqual(8);
    p.setClockRight();
    await p.runFor(60);
    expect({ attests: p.ca.count('attest'), agentSvidValid: p.sidecar.status().agentSvid!.notAfterMs > p.agentClock.nowMs(), ready: p.sidecar.ready() })
      .toEqual({ attests: 1, agentSvidValid: true, ready: true });
  });
});

describe('renewals on a host whose clock was set far behind the CA\'s (time sync lost)', () => {
  it.each([
    ['the workload SVID', (s: Sidecar) => s.status().installed],
    ['the agent SVID', (s: Sidecar) => s.status().agentSvid],
  ])('fail/%s is renewed when the CA\'s clock reaches its renewal time, not up to a --sync-interval later', async (_name, held) => {
    // A --sync-interval that 30 minutes is no multiple of: a renewal due between two syncs.
    const p = await skewedPair(0, { settings: { syncIntervalMs: 7 * 60_000 } });
    await p.sidecar.step();
    p.agentClock.set(p.agentClock.nowMs() - 2 * 3600_000);
    const first = held(p.sidecar)!;
    let renewedAtCaMs: number | undefined;
    for (let steps = 0; renewedAtCaMs === undefined && steps < 1000; steps++) {
      const caNow = p.caClock.nowMs();
      const wait = await p.sidecar.step();
      if (held(p.sidecar)!.serial !== first.serial) renewedAtCaMs = caNow;
      const seconds = Math.max(1, Math.ceil(wait / 1000));
      p.agentClock.advance(seconds);
      p.caClock.advance(seconds);
    }
    // By the CA's clock, which the renewal time is in: within the fake clock's one-second steps of it.
    expect(renewedAtCaMs! - first.renewAtMs).toBeGreaterThanOrEqual(0);
    expect(renewedAtCaMs! - first.renewAtMs).toBeLessThan(2000);
  });
});

describe('the CA no longer accepting the agent SVID, by its own clock or records (a 401 that is no revocation)', () => {
  const expired = new CaRequestError(401, 'certificate_expired', 'the client certificate has expired');
  const notYetValid = new CaRequestError(401, 'certificate_untrusted', 'the client certificate is not trusted (CERT_NOT_YET_VALID)');
  // `age`: how long after the credential's issuance the CA starts refusing it.
  it.each([
    { name: 'fail/expired, the CA\'s clock jumped 2 hours ahead: compares clocks and gives up nothing', refusal: expired, caJump: 2 * 3600, age: 0, forgotten: false },
    { name: 'fail/not yet valid, the CA\'s clock set 2 hours back: compares clocks and gives up nothing', refusal: notYetValid, caJump: -2 * 3600, age: 0, forgotten: false },
    {
      name: 'fail/not yet valid, the CA\'s clock set 2 minutes back (within the tolerance, beyond the 30 s notBefore is set back): a credential minutes old is kept',
      refusal: notYetValid, caJump: -120, age: 0, forgotten: false,
    },
    { name: 'pass/expired, the clocks agree: forgets the credential, but records no refusal (an expiry revokes nothing)', refusal: expired, caJump: 0, age: 6 * 60, forgotten: true },
    { name: 'pass/untrusted, the clocks agree, the credential over 5 minutes old: forgets it, but records no refusal', refusal: notYetValid, caJump: 0, age: 6 * 60, forgotten: true },
  ])('$name', async ({ refusal, caJump, age, forgotten }) => {
    const stateDir = tempDir();
    const p = await skewedPair(0, { state: new StateStore(stateDir) });
    await p.sidecar.step();
    await p.runFor(age);
    p.caClock.advance(caJump);
    for (const call of ['sync', 'renew', 'svids']) p.ca.refusals.set(call, refusal);
    const before = p.comparisons.length;
    await p.runFor(60);
    expect(p.comparisons.length).toBeGreaterThan(before);
    expect(readdirSync(stateDir)).toEqual(forgotten ? ['ca_bundle.pem'] : ['agent_credential.pem', 'ca_bundle.pem']);
    expect(p.sidecar.status().agentRefused).toBe(false);
    // The workload SVID was revoked by nothing: still served while it lasts (but for a clock beyond the tolerance).
    const skewed = Math.abs(caJump) > 300;
    expect(p.sidecar.ready()).toBe(!skewed);
    if (skewed) expect(p.errors().every((l) => l.fields['code'] === 'clock_skew')).toBe(true);
  });
});

describe('an SVID that arrives outside its validity by this host\'s clock (a CA that cannot tell its time)', () => {
  it('fail/an agent SVID already expired: says it is clock skew, keeps and saves it, and uses it without a new token once the clock is set right', async () => {
    const state = new StateStore(tempDir());
    const p = await skewedPair(2 * 3600, { caTellsTime: false, state });
    await p.sidecar.step();
    expect(p.ca.calls).toEqual(['attest']);
    expect(p.errors()).toHaveLength(1);
    expect(p.errors()[0]!.fields).toMatchObject({ code: 'svid_expired_on_arrival' });
    expect(p.errors()[0]!.msg).toMatch(/^the agent SVID the CA just issued expired at .* this host's clock is about 2\.0 h ahead of the CA's; fix time sync \(NTP\)/);
    const saved = await state.load();
    expect(saved.credential?.chainPem).toBe(p.sidecar.status().agentSvid?.chainPem);

    await p.runFor(60);
    expect(p.ca.calls).toEqual(['attest']);
    expect(p.errors().map((l) => l.fields['code'])).not.toContain(undefined);

    p.setClockRight();
    await p.runFor(10);
    expect(p.ca.calls).toEqual(['attest', 'sync', 'svids']);
    expect({ ready: p.sidecar.ready(), published: p.published.length }).toEqual({ ready: true, published: 1 });
  });

  it('fail/a workload SVID already expired: says it is clock skew and does not install it, nor ask for another at every step', async () => {
    // This host runs 10 minutes ahead: its 4-hour agent SVID looks valid, the 1-minute workload SVID expired.
    const p = await skewedPair(10 * 60, { caTellsTime: false });
    p.ca.agentTtl = 4 * 3600;
    p.ca.workloadTtl = 60;
    await p.runFor(60);
    expect(p.published).toHaveLength(0);
    expect(p.ca.count('svids')).toBeLessThan(20);
    expect(p.errors()[0]!.fields).toMatchObject({ code: 'svid_expired_on_arrival' });
    expect(p.errors()[0]!.msg).toMatch(/^the SVID the CA just issued expired at .* this host's clock is about 10 min 30 s ahead of the CA's/);
  });

  it('fail/SVIDs not yet valid: installed all the same (peers with the right time accept them), with an error naming the skew', async () => {
    // Ten minutes behind: the CA sets notBefore back 30 seconds, not ten minutes.
    const p = await skewedPair(-10 * 60, { caTellsTime: false });
    await p.sidecar.step();
    expect(p.ca.calls).toEqual(['attest', 'sync', 'svids']);
    expect(p.published).toHaveLength(1);
    expect(p.errors().map((l) => [l.fields['code'], l.msg.replace(/ before .* by this/, ' before … by this')])).toEqual([
      ['svid_not_yet_valid_on_arrival', expect.stringMatching(/^the agent SVID the CA just issued is not valid before … by this host's clock .* at least 9 min 30 s behind the CA's/)],
      ['svid_not_yet_valid_on_arrival', expect.stringMatching(/^the SVID the CA just issued is not valid before … by this host's clock .* at least 9 min 30 s behind the CA's/)],
    ]);
  });
});

/** A CA over HTTPS that answers every request with the given Date header, and counts the attestations it receives. */
async function caAnsweringWithDate(dateMs: () => number, healthzStatus = 200): Promise<{ url: URL; certPem: string; attests: () => number }> {
  const files = selfSigned(tempDir(), 'ca-host', { extensions: ['subjectAltName=IP:127.0.0.1,URI:spiffe://example.org/meshca/server'] });
  const certPem = readFileSync(files.cert, 'utf8');
  let attests = 0;
  const server = createServer({ cert: certPem, key: readFileSync(files.key, 'utf8') }, (req, res) => {
    if (req.url === '/v1/agent/attest') attests++;
    res.setHeader('date', new Date(dateMs()).toUTCString());
    res.setHeader('content-type', 'application/json');
    // Down for everything but the comparison: the test is whether attest is ever asked.
    res.statusCode = req.url === '/healthz' ? healthzStatus : 503;
    res.end(req.url === '/healthz' ? '{"status":"ok"}' : '{"error":{"code":"unavailable","message":"try later"}}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanupLater(() => new Promise((resolve) => server.close(resolve)));
  server.unref();
  return { url: new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`), certPem, attests: () => attests };
}

describe('CaClient and the CA\'s Date header', () => {
  it.each([
    { name: 'fail/2 hours behind: the attest endpoint is never called', caBehindMs: 2 * 3600_000, attests: 0 },
    { name: 'pass/3 seconds behind: it attests', caBehindMs: 3000, attests: 1 },
  ])('$name', async ({ caBehindMs, attests }) => {
    // One instant for both clocks: the CA's, cut to whole seconds by the Date header, must not cross a second
    // boundary while the request is on its way (then 2 h read as 119 min 59 s).
    const now = Date.now();
    const ca = await caAnsweringWithDate(() => now - caBehindMs);
    const client = new CaClient({ serverUrl: ca.url });
    cleanupLater(() => client.close());
    const logs: string[] = [];
    const log = (obj: object, msg: string) => logs.push(`${msg} ${JSON.stringify(obj)}`);
    const sidecar = new Sidecar(
      {
        client,
        publish: async () => undefined,
        reload: async () => undefined,
        clock: new FakeClock(now),
        random: fixedRandom(0.5),
        log: { info: log, warn: log, error: log },
      },
      { joinToken: 'good-token', keyType: 'ec-p256', syncIntervalMs: 30_000, combined: false, once: true },
      ca.certPem,
    );
    await sidecar.step();
    expect(ca.attests()).toBe(attests);
    expect(sidecar.ready()).toBe(false);
    if (attests === 0) expect(logs.join('\n')).toContain("this host's clock is 2.0 h ahead of the CA's");
  });

  it('reads the Date header whatever the status of the answer', async () => {
    const date = Date.UTC(2026, 0, 2, 3, 4, 5);
    const ca = await caAnsweringWithDate(() => date, 503);
    const client = new CaClient({ serverUrl: ca.url });
    cleanupLater(() => client.close());
    client.configure(ca.certPem, undefined);
    expect(client.lastAnswerDateMs()).toBeUndefined();
    expect(await client.serverDateMs()).toBe(date);
    expect(client.lastAnswerDateMs()).toBe(date);
  });
});
