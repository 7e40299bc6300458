/**
 * A taint or a forced root retirement revokes what the withdrawn issuer
 * signed in one sweep, right after it takes effect. A certificate signed
 * before that, but recorded only after the sweep, must not escape: it is
 * revoked, and its caller is told to ask again instead of being handed it.
 * Each test holds one issuance between signing and recording (its record
 * waits on a gate) while the operator withdraws its issuer.
 */
import { describe, expect, it } from 'vitest';
import { newKeyAndCsr } from '../support/callers.js';
import pino from 'pino';
import { startCa } from '../../src/cli/ca-runtime.js';
import { cleanupLater } from '../support/cleanup.js';
import { asTestCa, startTestCa, testConfig, type TestCa } from '../support/test-ca.js';

/** The next issuance record waits until `release` is called; resolves `held` once one is waiting. */
function holdNextRecord(ca: TestCa): { held: Promise<void>; release: () => void } {
  const ledger = ca.store.certificates;
  const original = ledger.recordIssued.bind(ledger);
  let release!: () => void;
  let signalHeld!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const held = new Promise<void>((r) => (signalHeld = r));
  ledger.recordIssued = async (record, event) => {
    ledger.recordIssued = original;
    signalHeld();
    await gate;
    return original(record, event);
  };
  return { held, release };
}

const liveSignedBy = (ca: TestCa, issuerId: string) =>
  ca.store.db.prepare("SELECT serial FROM certificates WHERE issuer_id = ? AND revoked_at IS NULL AND kind = 'workload'").all(issuerId);

async function mintInFlight(ca: TestCa) {
  const { csr } = await newKeyAndCsr();
  return ca.localApp.inject({ method: 'POST', url: '/v1/svids/mint', payload: { spiffeId: 'spiffe://example.org/in-flight', csr } });
}

describe('a certificate in flight when its issuer is withdrawn', () => {
  it('fail/tainted meanwhile: 503 ca_unavailable, and the certificate is revoked, not left live; logged as a warning, not an error', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
    const config = testConfig();
    const running = await startCa(config, logger, { schedules: 'off' });
    cleanupLater(() => running.close());
    const ca = asTestCa(running, config, (await running.localApp.inject({ method: 'GET', url: '/v1/bundle.pem' })).body);
    const intermediate = ca.manager.current().activeIntermediate()!.record.id;
    const { held, release } = holdNextRecord(ca);
    const minting = mintInFlight(ca);
    await held;
    const taint = await ca.localApp.inject({ method: 'POST', url: `/v1/authorities/${intermediate}/taint` });
    expect(taint.statusCode).toBe(200);
    release();
    const res = await minting;
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatchObject({ code: 'ca_unavailable', message: expect.stringContaining('tainted while it was being signed') });
    expect(liveSignedBy(ca, intermediate)).toEqual([]);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    expect(lines.some((l) => l.level === 40 && l.msg === 'request refused for now')).toBe(true);
    // Asked again, it is issued under the next intermediate.
    const again = await mintInFlight(ca);
    expect(again.statusCode).toBe(200);
  });

  it('fail/its root retired meanwhile (forced): 503 ca_unavailable, and the certificate is revoked, not left live', async () => {
    const ca = await startTestCa({ 'root-propagation': '1s' });
    const oldIntermediate = ca.manager.current().activeIntermediate()!.record.id;
    expect((await ca.localApp.inject({ method: 'POST', url: '/v1/authorities/root/prepare', payload: {} })).statusCode).toBe(201);
    const { held, release } = holdNextRecord(ca);
    const minting = mintInFlight(ca);
    await held;
    expect((await ca.localApp.inject({ method: 'POST', url: '/v1/authorities/root/activate', payload: { force: true } })).statusCode).toBe(200);
    expect((await ca.localApp.inject({ method: 'POST', url: '/v1/authorities/root/retire', payload: { force: true } })).statusCode).toBe(200);
    release();
    const res = await minting;
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toMatchObject({ code: 'ca_unavailable', message: expect.stringContaining('put under a retired root') });
    expect(liveSignedBy(ca, oldIntermediate)).toEqual([]);
  });
});
