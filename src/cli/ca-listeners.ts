/** The CA's listeners: mutual TLS on --listen, the operator socket in the data directory, and optionally /metrics. */
import type { FastifyInstance } from 'fastify';
import { constants } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { LOCAL_OPERATOR_NAME } from '../ca/reserved-ids.js';
import { bundleRootsDer, chainIntermediatesDer } from '../ca/trust-bundle.js';
import { formatListenAddress, isLoopbackHost, type ListenAddress } from '../config/parsers.js';
import type { ServerConfig } from '../config/server-config.js';
import { buildApp } from '../server/app.js';
import { listenPlainHttp } from '../platform/plain-http.js';
import { refusalRecorder } from '../server/refusals.js';
import type { ServingCertificate } from '../server/serving-certificate.js';
import { tlsAuthenticator } from '../server/tls-authenticator.js';
import type { Datastore } from '../store/datastore.js';
import type { Clock } from '../time/clock.js';
import { caCertificatesToPem } from '../x509/pem.js';
import type { CaCore } from './ca-core.js';
import { claimSocket, restrictSocket } from './local-socket.js';

export interface Listeners {
  readonly tlsApp: FastifyInstance;
  readonly localApp: FastifyInstance;
  readonly address: ListenAddress;
  readonly socketPath: string;
  readonly metricsAddress: ListenAddress | undefined;
  /** Installs the current serving certificate and trusted roots for new TLS handshakes. */
  refreshTls(): void;
  close(): Promise<void>;
}

export async function startListeners(
  config: ServerConfig,
  core: CaCore,
  store: Datastore,
  serving: ServingCertificate,
  deps: { clock: Clock; logger: Logger; socketPath: string },
): Promise<Listeners> {
  const onRefusal = refusalRecorder(
    (e) => store.audit.append(e),
    core.metrics,
    (err) => deps.logger.error({ err }, 'could not audit a refusal'),
    deps.clock,
    core.services.limits.maxBatch,
  );
  const tlsOptions = () => ({
    key: serving.credentials().keyPem,
    cert: serving.credentials().chainPem,
    // The intermediates too, so that a client sending its leaf alone (curl --cert leaf.pem) is verified: OpenSSL,
    // without X509_V_FLAG_PARTIAL_CHAIN (Node sets it nowhere), still requires the chain to reach a self-signed root.
    ca: caCertificatesToPem([...bundleRootsDer(core.manager.current()), ...chainIntermediatesDer(core.manager.current())]),
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2' as const,
    // A TLS 1.2 renegotiation swaps the client certificate without Node clearing socket.authorized from the
    // first handshake, so the new certificate's chain would go unchecked; nothing here needs renegotiation.
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  });
  const closers: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const tlsApp = await buildApp({
      services: core.services,
      logger: deps.logger.child({ listener: 'tls' }),
      https: tlsOptions(),
      requestTimeoutMs: config.requestTimeout * 1000,
      maxConnections: config.maxConnections,
      onRefusal,
      metrics: core.metrics,
      storeUnavailable: (err) => store.unavailable(err),
      authenticate: tlsAuthenticator({
        trustDomain: config.trustDomain,
        clock: deps.clock,
        standing: (caller, presented) => core.standing.check(caller, presented),
        revoked: (presented) => core.standing.revoked(presented),
      }),
    });
    closers.push(() => tlsApp.close());
    const localApp = await buildApp({
      services: core.services,
      logger: deps.logger.child({ listener: 'local' }),
      requestTimeoutMs: config.requestTimeout * 1000,
      onRefusal,
      metrics: core.metrics,
      storeUnavailable: (err) => store.unavailable(err),
      authenticate: async () => ({ caller: { role: 'operator', name: LOCAL_OPERATOR_NAME, via: 'local' } }),
    });
    closers.push(() => localApp.close());

    const sock = deps.socketPath;
    await claimSocket(sock);
    await localApp.listen({ path: sock });
    await restrictSocket(sock);
    await tlsApp.listen({ host: config.listen.host, port: config.listen.port });
    const address = { host: config.listen.host, port: (tlsApp.server.address() as AddressInfo).port };

    let metricsAddress: ListenAddress | undefined;
    if (config.metricsListen) {
      const server = await startMetricsListener(config.metricsListen, () => core.metrics.render(), core.metrics.registry.contentType, config.requestTimeout * 1000);
      closers.push(() => new Promise((resolve) => server.close(resolve)));
      metricsAddress = { host: config.metricsListen.host, port: (server.address() as AddressInfo).port };
      warnIfMetricsExposed(metricsAddress, deps.logger.child({ listener: 'metrics' }));
    }
    return {
      tlsApp,
      localApp,
      address,
      socketPath: sock,
      metricsAddress,
      refreshTls: () => (tlsApp.server as unknown as TlsServer).setSecureContext(tlsOptions()),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Says once, at start, that /metrics is open to anyone who can reach a
 * non-loopback address. Allowed all the same: in Kubernetes the scraper
 * comes to the pod's IP.
 */
export function warnIfMetricsExposed(address: ListenAddress, logger: Logger): void {
  if (isLoopbackHost(address.host)) return;
  const shown = formatListenAddress(address);
  logger.warn({ address: shown }, `/metrics is served without authentication on ${shown}, which is not a loopback address: anyone who can reach it can read the metrics`);
}

/**
 * Connections the plain /metrics listener holds at once: a scraper keeps one
 * or two. It has no credential check, so anyone who can reach it could
 * otherwise hold the process's descriptors, which the datastore and the other
 * listeners share.
 */
export const METRICS_MAX_CONNECTIONS = 100;

/**
 * A plain-HTTP /metrics for a scraper on the same host (or, in Kubernetes, the
 * pod network); unauthenticated. A request must arrive within
 * --request-timeout, as on the other listeners (Node's defaults allow a
 * minute for the headers and five for the rest), and is refused in the JSON
 * shape of every other error.
 */
function startMetricsListener(address: ListenAddress, render: () => Promise<string>, contentType: string, requestTimeoutMs: number): Promise<Server> {
  return listenPlainHttp(address, { requestTimeoutMs, maxConnections: METRICS_MAX_CONNECTIONS }, (req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'only GET /metrics is served here' } }));
      return;
    }
    render().then(
      (text) => {
        res.writeHead(200, { 'content-type': contentType });
        res.end(text);
      },
      () => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'internal', message: 'metrics unavailable' } }));
      },
    );
  });
}
