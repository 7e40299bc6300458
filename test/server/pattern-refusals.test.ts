/**
 * A field refused for its form says, in words, what form it takes: never the
 * regular expression its schema checks, which Ajv would quote
 * ('body/agent must match pattern "^[A-Za-z0-9._-]+$"'). Every patterned
 * field of every route is here, and every pattern is declared, with its
 * meaning, in schemas.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as schemas from '../../src/server/schemas.js';
import { startTestCa, type TestCa } from '../support/test-ca.js';

/** What each form is said to be. */
const SAYS = {
  name: 'may hold only letters, digits, ".", "_" and "-"',
  authorityId: 'must be an authority id: its subject key identifier in lowercase hex, as authority list shows it',
  limit: 'must be a whole number from 1 to 1000',
  serial: 'must be a serial number: 1 to 40 hex digits',
  tokenId: 'must be a join token id: 16 lowercase hex digits, as token list shows it',
  eventHash: 'must be an audit event hash: 64 lowercase hex digits, as audit verify prints it after the sequence number',
} as const;

const CASES: ReadonlyArray<readonly [string, 'GET' | 'POST', string, object | undefined, string]> = [
  ['a join token\'s agent', 'POST', '/v1/tokens', { agent: 'a b' }, `body/agent ${SAYS.name}`],
  ['join tokens listed for an agent', 'GET', '/v1/tokens?agent=a%20b', undefined, `querystring/agent ${SAYS.name}`],
  ['a page of join tokens', 'GET', '/v1/tokens?limit=0', undefined, `querystring/limit ${SAYS.limit}`],
  ['a join token revoked by id', 'POST', '/v1/tokens/nope/revoke', undefined, `params/id ${SAYS.tokenId}`],
  ['an entry\'s agent', 'POST', '/v1/entries', { agent: 'a b', spiffeId: 'spiffe://example.org/w' }, `body/agent ${SAYS.name}`],
  ['entries listed for an agent', 'GET', '/v1/entries?agent=a%20b', undefined, `querystring/agent ${SAYS.name}`],
  ['certificates listed for an agent', 'GET', '/v1/certificates?agent=a%20b', undefined, `querystring/agent ${SAYS.name}`],
  ['a certificate listed by serial', 'GET', '/v1/certificates?serial=zz', undefined, `querystring/serial ${SAYS.serial}`],
  ['a page of certificates', 'GET', '/v1/certificates?limit=ten', undefined, `querystring/limit ${SAYS.limit}`],
  ['a page of identities', 'GET', '/v1/identities?limit=10000', undefined, `querystring/limit ${SAYS.limit}`],
  ['a certificate revoked by serial', 'POST', '/v1/certificates/revoke', { serial: '54:a2' }, `body/serial ${SAYS.serial}`],
  ['certificates revoked by agent', 'POST', '/v1/certificates/revoke', { agent: 'a/b' }, `body/agent ${SAYS.name}`],
  ['the CRL of an issuer', 'GET', '/v1/crl?issuer=ABC', undefined, `querystring/issuer ${SAYS.authorityId}`],
  ['an agent evicted by name', 'POST', '/v1/agents/a%20b/evict', undefined, `params/name ${SAYS.name}`],
  ['an intermediate tainted by id', 'POST', '/v1/authorities/nope/taint', undefined, `params/id ${SAYS.authorityId}`],
  ['an admin credential\'s name', 'POST', '/v1/admin/credentials', { role: 'auditor', name: 'a b', csr: 'x' }, `body/name ${SAYS.name}`],
  ['the head an audit verification expects', 'POST', '/v1/audit/verify', { expectHead: { seq: 1, hash: 'x' } }, `body/expectHead/hash ${SAYS.eventHash}`],
  // Fields of a fixed set of values: the set, where Ajv says only "must be equal to one of the allowed values".
  ['a revocation\'s reason', 'POST', '/v1/certificates/revoke', { serial: '01', reason: 'bored' }, 'body/reason must be one of: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation'],
  ['an admin credential\'s role', 'POST', '/v1/admin/credentials', { role: 'root', name: 'bob', csr: 'x' }, 'body/role must be one of: operator, auditor'],
  ['certificates listed by whether revoked', 'GET', '/v1/certificates?revoked=yes', undefined, 'querystring/revoked must be one of: true, false'],
];

describe('refusals of a field for its form', () => {
  let ca: TestCa;
  beforeAll(async () => {
    ca = await startTestCa();
  });

  it.each(CASES)('fail/%s says what the field takes, in words', async (_name, method, url, body, says) => {
    const res = await ca.localApp.inject({ method, url, ...(body ? { payload: body } : {}) });
    expect({ status: res.statusCode, body: res.json() }).toEqual({ status: 400, body: { error: { code: 'invalid_request', message: `request ${says}` } } });
  });

  it('every pattern a schema fragment declares has its words', () => {
    const patterns = new Set<string>();
    const walk = (v: unknown): void => {
      if (v === null || typeof v !== 'object') return;
      for (const [key, inner] of Object.entries(v)) {
        if (key === 'pattern' && typeof inner === 'string') patterns.add(inner);
        else walk(inner);
      }
    };
    walk(Object.values(schemas).filter((v) => v !== schemas.PATTERN_MEANINGS));
    expect(patterns.size).toBe(6);
    expect([...patterns].filter((p) => !schemas.PATTERN_MEANINGS.has(p))).toEqual([]);
  });

  it('no route declares a pattern of its own, which would be refused in regex', () => {
    const dir = join(import.meta.dirname, '../../src/server');
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts') && f !== 'schemas.ts');
    // A schema's pattern: a string, a constant or a RegExp's source (not a field typed RegExp, nor a comment's words).
    const schemaPattern = /\bpattern:\s*(?:['"`]|[A-Z][A-Z0-9_]+\b|\w+\.source\b)/;
    expect(files.filter((f) => schemaPattern.test(readFileSync(join(dir, f), 'utf8')))).toEqual([]);
  });
});
