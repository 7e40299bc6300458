/** The audit trail over HTTP: export (streamed), verify, and an on-demand signed checkpoint. */
import { X509Certificate } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Readable } from 'node:stream';
import type { ExpectedHead, StoredEvent } from '../../ca/audit-verifier.js';
import { callerLabel } from '../../ca/caller.js';
import { HttpVersionError, InvalidInputError } from '../../errors.js';
import { decodeCertificates } from '../../x509/pem.js';
import { isoTime, sequenceField, timeField } from '../edge.js';
import { eventHashSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';

const CSV_HEADER = 'seq,at,type,actor,data,prev_hash,hash\n';

function csvCell(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

async function* render(events: AsyncIterable<StoredEvent>, format: 'jsonl' | 'csv'): AsyncGenerator<string> {
  if (format === 'csv') yield CSV_HEADER;
  for await (const e of events) {
    if (format === 'csv') {
      yield `${[String(e.seq), isoTime(e.at), e.type, e.actor, e.dataJson, e.prevHash, e.hash].map(csvCell).join(',')}\n`;
    } else {
      yield `{"seq":${e.seq},"at":"${isoTime(e.at)}","type":${JSON.stringify(e.type)},"actor":${JSON.stringify(e.actor)},"data":${e.dataJson},"prevHash":"${e.prevHash}","hash":"${e.hash}"}\n`;
    }
  }
}

/** A pinned trust bundle may be up to 256 KiB of PEM (more once JSON escapes its newlines), which the default body limit would refuse. */
const TRUST_BUNDLE_BODY_LIMIT = 320 * 1024;

/** The head an earlier verification printed (`SEQ:HASH` on the command line), which the log must still hold. */
const expectHeadSchema = {
  type: 'object',
  required: ['seq', 'hash'],
  additionalProperties: false,
  properties: {
    seq: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
    hash: eventHashSchema,
  },
} as const;

interface VerifyBody {
  trustBundle?: string;
  expectHead?: ExpectedHead;
}

/** The auditor's own roots; a pin that holds no root must not quietly become "no pin". */
function pinnedRoots(trustBundle: string): X509Certificate[] {
  let pinned: X509Certificate[];
  try {
    pinned = decodeCertificates(trustBundle).map((der) => new X509Certificate(der));
  } catch {
    // The parser's own words (OpenSSL's error strings) are no help to the caller.
    throw new InvalidInputError('invalid_request', 'trustBundle holds a certificate that cannot be read (expected PEM CERTIFICATE blocks of DER X.509)');
  }
  if (pinned.length === 0) throw new InvalidInputError('invalid_request', 'trustBundle holds no certificate');
  return pinned;
}

export function auditRoutes(app: FastifyInstance, s: ServerServices): void {
  app.get<{ Querystring: { since?: string; after?: string; format?: 'jsonl' | 'csv' } }>(
    '/v1/audit/events',
    {
      config: { action: 'audit.read' },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since: { type: 'string', maxLength: 40 }, after: { type: 'string', maxLength: 20 }, format: { enum: ['jsonl', 'csv'] } },
        },
      },
    },
    async (request, reply) => {
      // Over HTTP/1.0 a streamed answer ends when the connection closes: one cut short by a datastore failure would look whole.
      if (request.raw.httpVersion === '1.0') {
        throw new HttpVersionError('http_version_not_supported', 'the audit export streams its events, and over HTTP/1.0 an export cut short looks complete: send HTTP/1.1');
      }
      const format = request.query.format ?? 'jsonl';
      const since = timeField('since', request.query.since) ?? 0;
      const after = sequenceField('after', request.query.after) ?? 0;
      void reply.type(format === 'csv' ? 'text/csv' : 'application/x-ndjson');
      // Fastify answers a HEAD by reading the GET's stream to its end and dropping it: the whole log, for no body.
      if (request.method === 'HEAD') return reply.send();
      return reply.send(Readable.from(render(s.auditStore.events(after + 1, since), format)));
    },
  );

  app.post<{ Body: VerifyBody | undefined }>(
    '/v1/audit/verify',
    {
      config: { action: 'audit.read' },
      bodyLimit: TRUST_BUNDLE_BODY_LIMIT,
      schema: {
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: { trustBundle: { type: 'string', maxLength: 256 * 1024 }, expectHead: expectHeadSchema },
        },
      },
    },
    async (request) => {
      const { trustBundle, expectHead } = request.body ?? {};
      // The pin is parsed only once this verification may run: one asked while another runs is answered 429 first.
      return s.audit.verify(() => ({ pinnedRoots: trustBundle === undefined ? undefined : pinnedRoots(trustBundle), expectedHead: expectHead }));
    },
  );

  app.post('/v1/audit/checkpoints', { config: { action: 'audit.write' } }, async (request, reply) => {
    const checkpoint = await s.audit.checkpoint(true, callerLabel(request.authentication.caller));
    return reply.code(201).send(checkpoint ? { ...checkpoint, at: isoTime(checkpoint.at) } : {});
  });
}
