/** The agent's side of the API: attestation, its own SVID, its entries, its workloads' SVIDs. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { bundleRootsDer } from '../../ca/trust-bundle.js';
import { InvalidInputError } from '../../errors.js';
import { caCertificatesToPem } from '../../x509/pem.js';
import { agentOf } from '../callers.js';
import { entryJson, entrySchema } from '../json-views.js';
import { csrSchema, issuedSvidSchema, SMALL_BODY_LIMIT } from '../schemas.js';
import type { ServerServices } from '../services.js';
import { svidJson } from '../svid-response.js';

const svidWithBundle = {
  type: 'object',
  required: ['svid', 'bundle'],
  properties: { svid: issuedSvidSchema, bundle: { type: 'string' } },
} as const;

/** Ample for the largest allowed batch of RSA CSRs; small enough that a flood of bodies stays cheap. */
const BATCH_BODY_LIMIT = 1024 * 1024;

export function agentRoutes(app: FastifyInstance, s: ServerServices): void {
  const bundlePem = (authorities = s.authorities.current()) => caCertificatesToPem(bundleRootsDer(authorities));
  // One CSR's worth is charged as a signing request arrives (access control has named the agent by then), so a body
  // refused while it is read or validated costs the agent too; a batch's other CSRs are charged once it is read.
  const chargeArrival = async (request: FastifyRequest) => s.limits.signing.take(agentOf(request).name);

  app.post<{ Body: { token: string; csr: string } }>(
    '/v1/agent/attest',
    {
      config: { action: 'agent.attest' },
      bodyLimit: SMALL_BODY_LIMIT,
      // Every attempt counts, charged as it arrives: a body refused while it is read or validated costs the CA too.
      onRequest: async (request) => s.limits.attestation.take(request.ip),
      schema: {
        body: {
          type: 'object',
          required: ['token', 'csr'],
          additionalProperties: false,
          properties: { token: { type: 'string', minLength: 1, maxLength: 256 }, csr: csrSchema },
        },
        response: { 200: svidWithBundle },
      },
    },
    async (request) => {
      const csr = await s.csrVerifier.verify(request.body.csr);
      const svid = await s.agents.attest(request.body.token, csr);
      return { svid: svidJson(svid), bundle: bundlePem() };
    },
  );

  app.post<{ Body: { csr: string } }>(
    '/v1/agent/renew',
    {
      config: { action: 'agent.renew' },
      bodyLimit: SMALL_BODY_LIMIT,
      onRequest: chargeArrival,
      schema: {
        body: { type: 'object', required: ['csr'], additionalProperties: false, properties: { csr: csrSchema } },
        response: { 200: svidWithBundle },
      },
    },
    async (request) => {
      const agent = agentOf(request);
      const svid = await s.agents.renew(agent, await s.csrVerifier.verify(request.body.csr));
      return { svid: svidJson(svid), bundle: bundlePem() };
    },
  );

  app.get(
    '/v1/agent/entries',
    {
      config: { action: 'agent.sync' },
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['entries', 'bundle', 'bundleSequence', 'crl', 'crlIssuers'],
            properties: {
              entries: { type: 'array', items: entrySchema },
              bundle: { type: 'string' },
              bundleSequence: { type: 'integer' },
              crl: { type: 'string', description: 'every CRL of the CA, PEM' },
              crlIssuers: { type: 'string', description: "the certificates that signed them, with each one's chain to the bundle, PEM" },
            },
          },
        },
      },
    },
    async (request) => {
      const agent = agentOf(request);
      const entries = await s.entries.list({ agent: agent.name });
      const crls = await s.crls.crls();
      // The bundle of the snapshot the CRLs were made from, which vouches for each of their signers.
      return {
        entries: entries.map(entryJson),
        bundle: bundlePem(crls.authorities),
        bundleSequence: crls.authorities.bundleSequence,
        crl: crls.pem,
        crlIssuers: crls.issuersPem,
      };
    },
  );

  app.post<{ Body: { requests: Array<{ entryId: string; csr: string }> } }>(
    '/v1/agent/svids',
    {
      config: { action: 'workload.svid' },
      bodyLimit: BATCH_BODY_LIMIT,
      onRequest: chargeArrival,
      schema: {
        body: {
          type: 'object',
          required: ['requests'],
          additionalProperties: false,
          properties: {
            requests: {
              type: 'array',
              minItems: 1,
              items: {
                type: 'object',
                required: ['entryId', 'csr'],
                additionalProperties: false,
                properties: { entryId: { type: 'string', minLength: 1, maxLength: 64 }, csr: csrSchema },
              },
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['svids', 'bundle'],
            properties: {
              svids: { type: 'array', items: { ...issuedSvidSchema, required: [...issuedSvidSchema.required, 'entryId'] } },
              bundle: { type: 'string' },
            },
          },
        },
      },
    },
    async (request) => {
      const agent = agentOf(request);
      const { requests } = request.body;
      if (requests.length > s.limits.maxBatch) {
        throw new InvalidInputError('batch_too_large', `at most ${s.limits.maxBatch} CSRs per request, got ${requests.length}`);
      }
      s.limits.signing.takeRest(agent.name, requests.length - 1, 1);
      // Every check settles before the refusal, so it names the first bad CSR in order, not the quickest to fail.
      const checked = await Promise.allSettled(requests.map((r) => s.csrVerifier.verify(r.csr)));
      const parsed = checked.map((c, i) => {
        if (c.status === 'fulfilled') return { entryId: requests[i]!.entryId, csr: c.value };
        const err: unknown = c.reason;
        throw err instanceof InvalidInputError ? new InvalidInputError(err.code, `requests[${i}]: ${err.message}`) : err;
      });
      const issued = await s.entries.issueWorkloadSvids(agent, parsed);
      return { svids: issued.map(({ entry, svid }) => ({ entryId: entry.id, ...svidJson(svid) })), bundle: bundlePem() };
    },
  );
}
