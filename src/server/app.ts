/**
 * Builds the Fastify application (one per listener: the mutual-TLS port and the
 * local operator socket). Tests drive it through `inject()` without a port.
 */
import Fastify, { type FastifyHttpsOptions, type FastifyInstance } from 'fastify';
import type { Server } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger as PinoLogger } from 'pino';
import { randomUUID } from 'node:crypto';
import { HttpVersionError, InvalidInputError, NotImplementedError, UnavailableError } from '../errors.js';
import { installAccessControl, type Authenticator } from './access-control.js';
import { answerClientError } from '../platform/plain-http.js';
import { answerConnect, answerFrameworkError, answerUnknownExpectation, installErrorHandling, type RefusalObserver, type StoreUnavailable } from './error-handler.js';
import { installJsonBodies } from './json-body.js';
import { ResponsesInFlight } from './responses-in-flight.js';
import { deferredRequestLogger } from './request-logger.js';
import { RouteMethods } from './route-methods.js';
import { helmetDefaults, installSecurityHeaders } from './security-headers.js';
import type { CaMetrics } from './metrics.js';
import './request-context.js';
import { adminCredentialRoutes } from './routes/admin-credentials.js';
import { auditRoutes } from './routes/audit.js';
import { authorityRoutes } from './routes/authorities.js';
import { revocationRoutes } from './routes/revocation.js';
import { certificateRoutes } from './routes/certificates.js';
import { agentRoutes } from './routes/agent.js';
import { agentAdminRoutes } from './routes/agents.js';
import { entryRoutes } from './routes/entries.js';
import { mintRoutes } from './routes/mint.js';
import { publicRoutes } from './routes/public.js';
import { tokenRoutes } from './routes/tokens.js';
import { sharedSchemaCompilers } from './schema-compilers.js';
import { refuseUndeclaredInput } from './undeclared-input.js';
import { MAX_NAME_LENGTH, SMALL_BODY_LIMIT } from './schemas.js';
import { answerContinue, BodyLimits, continueWhenAdmitted } from './continue-check.js';
import type { ServerServices } from './services.js';
import { quotedText } from '../quoted-text.js';

export interface AppOptions {
  readonly services: ServerServices;
  readonly authenticate: Authenticator;
  readonly logger: PinoLogger;
  readonly onRefusal?: RefusalObserver;
  readonly metrics?: CaMetrics;
  /** TLS settings for the network listener; absent for the local socket and for inject() tests. */
  readonly https?: FastifyHttpsOptions<Server>['https'];
  /**
   * How long a request may take to arrive, headers and body (Fastify's
   * default, 0, is no limit: a client trickling a body would hold its
   * connection, and a descriptor, forever).
   */
  readonly requestTimeoutMs: number;
  /**
   * Connections the network listener holds at once; Node closes any more as
   * they arrive. Descriptors are shared with the datastore and the local
   * socket, which must keep working while anyone may open connections.
   */
  readonly maxConnections?: number;
  /** Which unexpected errors are the datastore's being unable to take changes: 503 store_unavailable rather than 500. */
  readonly storeUnavailable?: StoreUnavailable;
}

/** How often Node looks for requests past their time: the timeout is kept to within a second. */
const TIMEOUT_CHECK_MS = 1000;

/** Requests that reach a closing server (on a kept-alive connection) are refused, and told to reconnect elsewhere. */
function refuseWhileClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return;
    void reply.header('connection', 'close');
    throw new UnavailableError('ca_unavailable', 'the CA is shutting down; retry on a new connection');
  });
}

/** The versions of the request line meshca serves; Node's parser also lets through 0.9 (no version) and 2.0. */
const SERVED_HTTP_VERSIONS = new Set(['1.0', '1.1']);

/**
 * The request line and Host as RFC 9112 3.2 and RFC 9110 15.6.6 require, in
 * meshca's JSON error shape: another HTTP version is 505, and an HTTP/1.1
 * request without Host, or any request with more than one (or with more than
 * one of the headers saying how to read its body), is 400, as is an HTTP/1.0
 * request with a Transfer-Encoding, and a transfer coding other than chunked
 * alone ("gzip, chunked") is 501 (RFC 9112 6.1).
 * Node's parser would serve other versions and repeated headers as if nothing
 * were wrong, and read a gzip-then-chunked body as plain chunks (a proxy in
 * front may read such a request another way than the CA), and answer the
 * missing Host with a bare 400 of its own.
 */
function refuseMalformedFraming(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    const version = request.raw.httpVersion;
    if (!SERVED_HTTP_VERSIONS.has(version)) {
      void reply.header('connection', 'close');
      throw new HttpVersionError('http_version_not_supported', `HTTP/${version} is not served; send HTTP/1.1`);
    }
    if (version === '1.1' && request.headers.host === undefined) {
      throw new InvalidInputError('invalid_request', 'an HTTP/1.1 request needs a Host header');
    }
    const repeated = repeatedSingleHeader(request.raw.rawHeaders);
    if (repeated) {
      void reply.header('connection', 'close');
      throw new InvalidInputError('invalid_request', `a request has at most one ${repeated} header`);
    }
    const coding = request.headers['transfer-encoding'];
    if (coding !== undefined && version === '1.0') {
      // HTTP/1.0 has no transfer codings: a proxy reads such a body to the connection's end (or by a Content-Length
      // it was sent beside), while Node's parser reads it as chunks, so RFC 9112 6.1 has the framing taken as faulty.
      void reply.header('connection', 'close');
      throw new InvalidInputError('invalid_request', 'an HTTP/1.0 request has no Transfer-Encoding: send the body with a Content-Length, or send HTTP/1.1');
    }
    if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') {
      void reply.header('connection', 'close');
      throw new NotImplementedError('not_implemented', `Transfer-Encoding ${quotedText(coding.slice(0, 100))} is not served: send the body chunked or with a Content-Length`);
    }
  });
}

/**
 * Headers a request may carry on one line only, by lowercase name. Node keeps
 * the first Host and Content-Type, and frames the body by the last
 * Transfer-Encoding line; a proxy that reads the other one routes, parses or
 * frames the request differently from the CA. Node's parser refuses a second
 * Content-Length itself, but a second Transfer-Encoding only when both say
 * chunked.
 */
const SINGLE_LINE_HEADERS = new Map([
  ['host', 'Host'],
  ['content-type', 'Content-Type'],
  ['transfer-encoding', 'Transfer-Encoding'],
]);
/** Every request passes here: most header names are ruled out by length before being lowercased. */
const SINGLE_LINE_LENGTHS = new Set([...SINGLE_LINE_HEADERS.keys()].map((name) => name.length));

/** The first header of SINGLE_LINE_HEADERS that arrived on more than one line, as meshca names it. */
function repeatedSingleHeader(rawHeaders: readonly string[]): string | undefined {
  const seen = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (!SINGLE_LINE_LENGTHS.has(rawHeaders[i]!.length)) continue;
    const name = SINGLE_LINE_HEADERS.get(rawHeaders[i]!.toLowerCase());
    if (name === undefined) continue;
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const responsesInFlight = new ResponsesInFlight();
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit: SMALL_BODY_LIMIT,
    genReqId: () => randomUUID(),
    childLoggerFactory: deferredRequestLogger,
    routerOptions: { maxParamLength: MAX_NAME_LENGTH },
    // Shutdown's 503 comes from refuseWhileClosing, in meshca's error shape and after helmet's headers.
    return503OnClosing: false,
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Duplex) => responsesInFlight.afterOwed(socket, () => answerClientError(err, socket)),
    requestTimeout: options.requestTimeoutMs,
    // A TLS handshake gets the request's time too (Node's default is 120 s, for connections anyone can open).
    ...(options.https
      ? {
          https: {
            ...options.https,
            connectionsCheckingInterval: TIMEOUT_CHECK_MS,
            handshakeTimeout: options.requestTimeoutMs,
            // Node would answer a missing Host with a bare 400 of its own; refuseMalformedFraming answers in meshca's shape.
            requireHostHeader: false,
            // Node offers only http/1.1, and ends the handshake of a client offering only http/1.0 (curl --http1.0),
            // whose requests meshca serves. http/1.1 first: the server's order of preference decides.
            ALPNProtocols: ['http/1.1', 'http/1.0'],
          },
        }
      : { http: { requireHostHeader: false } }),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    schemaController: { compilersFactory: sharedSchemaCompilers },
  }) as unknown as FastifyInstance;
  app.server.on('request', responsesInFlight.track);
  app.server.on('connect', answerConnect);
  app.server.on('checkExpectation', answerUnknownExpectation);
  const bodyLimits = new BodyLimits(SMALL_BODY_LIMIT);
  app.server.on('checkContinue', answerContinue(app.server, bodyLimits));
  // Node refuses incomplete headers after headersTimeout (60 s): never later than the whole request.
  app.server.headersTimeout = Math.min(app.server.headersTimeout, options.requestTimeoutMs);
  if (options.maxConnections !== undefined) {
    app.server.maxConnections = options.maxConnections;
    const counter = options.metrics?.droppedConnections;
    if (counter) app.server.on('drop', () => counter.inc());
  }
  installSecurityHeaders(app, await helmetDefaults());
  // Every body meshca reads is JSON: a text/plain body is an unsupported type (415), not a string the schema then refuses.
  app.removeContentTypeParser('text/plain');
  installJsonBodies(app);
  const routeMethods = new RouteMethods();
  app.addHook('onRoute', routeMethods.add);
  app.addHook('onRoute', bodyLimits.add);
  installErrorHandling(app, routeMethods, options.onRefusal, options.storeUnavailable);
  const counted = options.metrics;
  if (counted) {
    app.addHook('onResponse', async (request, reply) => {
      const template = request.routeOptions.url;
      counted.answered(template === undefined ? undefined : `${request.method} ${template}`, reply.statusCode);
    });
  }
  refuseWhileClosing(app);
  refuseMalformedFraming(app);
  app.addHook('onRoute', refuseUndeclaredInput);
  installAccessControl(app, options.authenticate);
  continueWhenAdmitted(app);
  for (const routes of [publicRoutes, mintRoutes, agentRoutes, tokenRoutes, entryRoutes, agentAdminRoutes, adminCredentialRoutes, certificateRoutes, auditRoutes, authorityRoutes, revocationRoutes]) {
    routes(app, options.services);
  }
  const metrics = options.metrics;
  if (metrics) {
    app.get('/metrics', { config: { action: 'metrics.read' } }, async (_request, reply) =>
      reply.type(metrics.registry.contentType).send(await metrics.render()),
    );
  }
  await app.ready();
  return app;
}
