/**
 * A failure inside the CA while it answers is the CA's, not the caller's: a
 * SyntaxError thrown reading what the datastore holds (a JSON column that is
 * no longer JSON) is a 500, logged, and not told to the caller as a request
 * body that was not valid JSON (which no GET has), nor audited as a refusal
 * of that caller.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { startCa } from '../../src/cli/ca-runtime.js';
import { createLogger } from '../../src/cli/logger.js';
import { mintCredential } from '../support/callers.js';
import { cleanupLater } from '../support/cleanup.js';
import { asTestCa, testConfig, type TestCa } from '../support/test-ca.js';

let ca: TestCa;
/** The CA's log lines, as written. */
const logged: string[] = [];
beforeAll(async () => {
  const config = testConfig();
  const running = await startCa(config, createLogger('info', { write: (line: string) => logged.push(line) }), { schedules: 'off' });
  cleanupLater(() => running.close());
  ca = asTestCa(running, config, (await running.localApp.inject({ method: 'GET', url: '/v1/bundle.pem' })).body);
  await mintCredential(ca, 'spiffe://example.org/ns/minted');
});

describe('stored data the CA cannot read', () => {
  it('fail/a certificate record whose DNS names are not JSON -> GET /v1/certificates answers 500 internal, not 400 "request body is not valid JSON"', async () => {
    ca.store.db.prepare("UPDATE certificates SET dns_names = 'not json' WHERE spiffe_id = 'spiffe://example.org/ns/minted'").run();
    const res = await ca.localApp.inject({ method: 'GET', url: '/v1/certificates' });
    expect({ status: res.statusCode, body: res.json() }).toEqual({
      status: 500,
      body: { error: { code: 'internal', message: expect.stringMatching(/^internal error; the CA log has its cause under reqId [0-9a-f-]{36}$/) } },
    });
    // The answer names the request; the log line under that id has the cause, which the answer does not.
    const reqId = res.json().error.message.split(' ').at(-1);
    const failed = logged.map((l) => JSON.parse(l)).filter((l) => l.reqId === reqId && l.msg === 'request failed');
    expect(failed).toEqual([expect.objectContaining({ err: expect.objectContaining({ type: 'SyntaxError' }) })]);
  });
});
