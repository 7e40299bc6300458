/**
 * The one place that turns failures into HTTP responses: every error becomes
 * `{"error": {"code", "message"}}` with the status of its class. Internal
 * causes are logged, never sent.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { answerOnSocket } from '../platform/plain-http.js';
import { clipped, quotedInput } from './edge.js';
import type { RouteMethods } from './route-methods.js';
import { PATTERN_MEANINGS } from './schemas.js';
import {
  ConflictError, ForbiddenError, HttpVersionError, InvalidInputError, MeshcaError, NotFoundError, NotImplementedError, RateLimitedError, StoreBusyError,
  UnauthenticatedError, UnavailableError, UnsupportedMediaError, type ErrorCode,
} from '../errors.js';

const STATUS_BY_CLASS: ReadonlyArray<readonly [abstract new (...args: never[]) => MeshcaError, number]> = [
  [InvalidInputError, 400],
  [UnauthenticatedError, 401],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [ConflictError, 409],
  [UnsupportedMediaError, 415],
  [RateLimitedError, 429],
  [NotImplementedError, 501],
  [UnavailableError, 503],
  [HttpVersionError, 505],
];

interface ErrorBody {
  readonly error: { readonly code: ErrorCode | string; readonly message: string };
}

function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** A body over its route's limit, found reading it or, for `Expect: 100-continue`, from its declared length (continue-check.ts). */
export const PAYLOAD_TOO_LARGE = errorBody('payload_too_large', 'request body is larger than this endpoint accepts');

/** Whether an error the datastore raised means it cannot take changes now (see Datastore.unavailable). */
export type StoreUnavailable = (err: unknown) => boolean;

/** Status and public body for any thrown value. */
function describeError(err: unknown, storeUnavailable: StoreUnavailable, requestId: string): { status: number; body: ErrorBody } {
  if (err instanceof MeshcaError) {
    const status = STATUS_BY_CLASS.find(([cls]) => err instanceof cls)?.[1] ?? 500;
    return { status, body: errorBody(err.code, err.message) };
  }
  if (storeUnavailable(err)) {
    return { status: 503, body: errorBody('store_unavailable', 'the datastore cannot take changes now (its disk is full or read-only, or it is unreachable); nothing was changed') };
  }
  const fe = err as FastifyError;
  if (fe.validation) return { status: 400, body: errorBody('invalid_request', `request ${inWords(fe)}${validationDetail(fe)}`) };
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: PAYLOAD_TOO_LARGE };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: errorBody('invalid_request', 'send the request body as application/json') };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: errorBody('invalid_request', 'request body is not valid JSON') };
  }
  // No SyntaxError as such is the body's: Fastify's parser raises FST_ERR_CTP_INVALID_JSON_BODY (above), and one thrown
  // while answering (stored data that is not JSON) is the CA's fault, a 500, not the caller's.
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: errorBody('invalid_request', fe.message) };
  }
  return { status: 500, body: internalError(requestId) };
}

/** The answer to a failure of the CA's own, naming the request's id: the CA log has the cause under it (`reqId`). */
function internalError(requestId: string): ErrorBody {
  return errorBody('internal', `internal error; the CA log has its cause under reqId ${requestId}`);
}

/**
 * Ajv's message, with what a pattern asks for said in words (PATTERN_MEANINGS)
 * rather than quoted as a regular expression, and an enum's values named
 * where Ajv says only "must be equal to one of the allowed values".
 */
function inWords(fe: FastifyError): string {
  let message = fe.message;
  for (const v of fe.validation ?? []) {
    const pattern = v.keyword === 'pattern' ? v.params.pattern : undefined;
    const meaning = typeof pattern === 'string' ? PATTERN_MEANINGS.get(pattern) : undefined;
    if (meaning) message = message.replace(`must match pattern "${pattern}"`, meaning);
    if (v.keyword === 'enum' && Array.isArray(v.params.allowedValues)) {
      message = message.replace('must be equal to one of the allowed values', `must be one of: ${v.params.allowedValues.join(', ')}`);
    }
  }
  return message;
}

/**
 * What Ajv's message leaves out: for a field the schema does not declare, its
 * name. "must NOT have additional properties" alone sends the caller to the source.
 */
function validationDetail(fe: FastifyError): string {
  const first = fe.validation?.[0];
  if (first?.keyword === 'additionalProperties' && typeof first.params.additionalProperty === 'string') {
    return `: ${quotedInput(first.params.additionalProperty)}`;
  }
  return '';
}

/** Told of every refused request (4xx), e.g. to audit authentication failures and refused issuance. */
export type RefusalObserver = (request: FastifyRequest, status: number, code: string, message: string) => void;

/** How much of a URL a refusal quotes. */
const MAX_QUOTED_URL = 200;

/**
 * For Fastify's `frameworkErrors`: a URL it cannot decode is refused before
 * routing, and answered like every other bad request.
 */
export function answerFrameworkError(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  // Fastify's message quotes the whole URL, which may be some 16 KiB.
  void reply.code(400).send(errorBody('invalid_request', clipped(err.message, MAX_QUOTED_URL)));
}

/**
 * For the HTTP server's `connect` event: meshca is no proxy. Without a
 * listener Node closes the connection without a word.
 */
export function answerConnect(_request: IncomingMessage, socket: Duplex): void {
  answerOnSocket(socket, 405, 'Method Not Allowed', 'method_not_allowed', 'CONNECT is not served: meshca is not a proxy');
}

/**
 * For the HTTP server's `checkExpectation` event (an Expect header other than
 * 100-continue), which Node would answer with an empty 417 of its own.
 */
export function answerUnknownExpectation(request: IncomingMessage, response: ServerResponse): void {
  const body = JSON.stringify(errorBody('expectation_failed', `Expect: ${quotedInput(String(request.headers.expect))} is not supported; only 100-continue is`));
  response.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
  response.end(body);
}

export function installErrorHandling(app: FastifyInstance, routeMethods: RouteMethods, onRefusal?: RefusalObserver, storeUnavailable: StoreUnavailable = () => false): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = describeError(err, storeUnavailable, request.id);
    if (status >= 400 && status < 500) onRefusal?.(request, status, body.error.code, body.error.message);
    // A 503 the CA chose (shutting down, an issuer withdrawn mid-signature) is a state the client retries, not a fault.
    if (err instanceof UnavailableError && err.code === 'ca_unavailable') request.log.warn({ code: body.error.code, status, reason: body.error.message }, 'request refused for now');
    else if (status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code: body.error.code, status }, 'request refused');
    if (err instanceof RateLimitedError || err instanceof StoreBusyError) void reply.header('retry-after', String(err.retryAfterSeconds));
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = routeMethods.allowedAt(path);
    // Any path at all may arrive here, some 16 KiB of it; a path some route has is as short as that route's.
    if (allowed.length === 0) return reply.code(404).send(errorBody('not_found', `no route ${request.method} ${clipped(path, MAX_QUOTED_URL)}`));
    return reply
      .code(405)
      .header('allow', allowed.join(', '))
      .send(errorBody('method_not_allowed', `${path} does not take ${request.method}; it takes ${allowed.join(', ')}`));
  });
}
