/**
 * POST /v1/audit/verify with the head an auditor kept (`expectHead`), over
 * mutual TLS: the auditor role may bring one, as the operator may; a workload
 * or agent SVID is refused before its body is looked at. access-matrix.test.ts
 * covers the route with an empty body.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ExpectedHead } from '../../src/ca/audit-verifier.js';
import { eventRows } from '../support/audit-log.js';
import { adminCredential, attestAgent, callCa, mintCredential, type Credential } from '../support/callers.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

const CALLERS = ['auditor', 'operator', 'workload', 'agent'] as const;
type CallerKind = (typeof CALLERS)[number];

/** What each caller gets: "ok" with the verification's verdict, or "STATUS code". */
const CELLS: ReadonlyArray<readonly [string, (head: ExpectedHead) => ExpectedHead, Record<CallerKind, string>]> = [
  ['the head the log has', (head) => head, { auditor: 'ok true', operator: 'ok true', workload: '403 forbidden', agent: '403 forbidden' }],
  [
    'a head the log never had',
    (head) => ({ seq: head.seq, hash: 'ab'.repeat(32) }),
    { auditor: 'ok false', operator: 'ok false', workload: '403 forbidden', agent: '403 forbidden' },
  ],
];

describe('POST /v1/audit/verify with expectHead, by caller', () => {
  let ca: TestCa;
  let creds: Record<CallerKind, Credential>;
  let head: ExpectedHead;

  beforeAll(async () => {
    ca = await startTestCa();
    creds = {
      auditor: await adminCredential(ca, 'auditor', 'audrey'),
      operator: await adminCredential(ca, 'operator', 'olga'),
      workload: await mintCredential(ca, 'spiffe://example.org/ns/web'),
      agent: await attestAgent(ca, 'node-1'),
    };
    const last = eventRows(ca.store.db).at(-1)!;
    head = { seq: last.seq, hash: last.hash };
  });

  for (const [name, expectHead, row] of CELLS) {
    it.each(CALLERS.map((c) => [c, row[c]] as const))(`${name}, as %s -> %s`, async (caller, expected) => {
      const res = await callCa(ca, creds[caller], 'POST', '/v1/audit/verify', { expectHead: expectHead(head) });
      const [status, code] = expected.split(' ');
      if (status === 'ok') expect({ status: res.status, ok: String(res.body.ok) }).toEqual({ status: 200, ok: code });
      else expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status: Number(status), code });
    });
  }
});
