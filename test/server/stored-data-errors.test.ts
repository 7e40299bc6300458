/**
 * A failure inside the CA while it answers is the CA's, not the caller's: a
 * SyntaxError thrown reading what the datastore holds (a JSON column that is
 * no longer JSON) is a 500, logged, and not told to the caller as a request
 * body that was not valid JSON (which no GET has), nor audited as a refusal
 * of that caller.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mintCredential } from '../support/callers.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

let ca: TestCa;
beforeAll(async () => {
  ca = await startTestCa();
  await mintCredential(ca, 'spiffe://example.org/ns/minted');
});

describe('stored data the CA cannot read', () => {
  it('fail/a certificate record whose DNS names are not JSON -> GET /v1/certificates answers 500 internal, not 400 "request body is not valid JSON"', async () => {
    ca.store.db.prepare("UPDATE certificates SET dns_names = 'not json' WHERE spiffe_id = 'spiffe://example.org/ns/minted'").run();
    const res = await ca.localApp.inject({ method: 'GET', url: '/v1/certificates' });
    expect({ status: res.statusCode, body: res.json() }).toEqual({
      status: 500,
      body: { error: { code: 'internal', message: 'internal error; see the CA log for the request id' } },
    });
  });
});
