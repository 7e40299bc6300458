/**
 * Two CA replicas on one PostgreSQL: what one changes in the lifecycle, the
 * other's CRLs, authority list, audit verification and checkpoints follow at
 * once or within about a second, not at its next lifecycle check (which these
 * replicas, like every in-process test CA, never run on their own).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { VerificationResult } from '../../src/ca/audit-verifier.js';
import { readCertificate } from '../../src/x509/certificate-reader.js';
import { readCrl, splitCrls } from '../support/crl-inspect.js';
import { startPostgres } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { startInProcessCa, type InProcessCa } from '../support/test-ca.js';
import { waitFor } from '../support/wait.js';

const server = await startPostgres();

async function replicaPair(): Promise<[InProcessCa, InProcessCa]> {
  const datastore = await server!.database();
  const passphrase = join(tempDir(), 'passphrase');
  writeFileSync(passphrase, 'replica test passphrase', { mode: 0o600 });
  const settings = { datastore, 'key-passphrase-file': passphrase, 'root-propagation': '1s' };
  const first = await startInProcessCa(settings);
  return [first, await startInProcessCa(settings)];
}

const post = async (ca: InProcessCa, url: string) => ca.localApp.inject({ method: 'POST', url });
const signingIntermediate = (ca: InProcessCa) => ca.manager.current().activeIntermediate()!.record;

describe.skipIf(!server)('two replicas on one PostgreSQL', () => {
  it("fail/an intermediate tainted on one is revoked in the other's root CRL within about a second", async () => {
    const [a, b] = await replicaPair();
    const tainted = signingIntermediate(a);
    const serial = readCertificate(tainted.certDer).serialHex;
    const rootListsIt = async () => {
      const pem = (await b.localApp.inject({ method: 'GET', url: '/v1/crl.pem' })).body;
      return splitCrls(pem).some((crl) => readCrl(crl).serials.includes(serial));
    };
    expect(await rootListsIt()).toBe(false);
    expect((await post(a, `/v1/authorities/${tainted.id}/taint`)).statusCode).toBe(200);
    let listed = false;
    await waitFor('the other replica to list the taint', async () => (listed = await rootListsIt()), 3_000, 100).catch(() => undefined);
    expect(listed).toBe(true);
  });

  it('pass/a checkpoint one signs with the intermediate it has just made verifies at once on the other', async () => {
    const [a, b] = await replicaPair();
    expect((await post(a, '/v1/authorities/root/prepare')).statusCode).toBe(201);
    expect((await a.localApp.inject({ method: 'POST', url: '/v1/authorities/root/activate', payload: { force: true } })).statusCode).toBe(200);
    expect((await post(a, '/v1/audit/checkpoints')).statusCode).toBe(201);
    const verified = (await b.localApp.inject({ method: 'POST', url: '/v1/audit/verify', payload: {} })).json<VerificationResult>();
    expect({ ok: verified.ok, problem: verified.problem }).toEqual({ ok: true, problem: undefined });
  });

  it('fail/a checkpoint one makes right after the other tainted its signing intermediate is not signed by it', async () => {
    const [a, b] = await replicaPair();
    const tainted = signingIntermediate(a);
    expect((await post(a, `/v1/authorities/${tainted.id}/taint`)).statusCode).toBe(200);
    const checkpoint = (await post(b, '/v1/audit/checkpoints')).json<{ signerId: string }>();
    expect(checkpoint.signerId).not.toBe(tainted.id);
  });

  it("pass/a root prepared on one is in the other's authority list within about a second", async () => {
    const [a, b] = await replicaPair();
    const prepared = (await post(a, '/v1/authorities/root/prepare')).json<{ id: string }>();
    const stateOnB = async () =>
      (await b.localApp.inject({ method: 'GET', url: '/v1/authorities' })).json<{ authorities: Array<{ id: string; state: string }> }>().authorities.find((x) => x.id === prepared.id)?.state;
    let state: string | undefined;
    await waitFor('the other replica to list the prepared root', async () => (state = await stateOnB()) === 'prepared', 3_000, 100).catch(() => undefined);
    expect(state).toBe('prepared');
  });
});
