/** The agent's small HTTP endpoint: /healthz (alive), /readyz (a valid SVID is installed, and still in --out) and /metrics. */
import type { Server } from 'node:http';
import type { ListenAddress } from '../config/parsers.js';
import { listenPlainHttp, type PlainListenerLimits } from '../platform/plain-http.js';

/**
 * Its callers are the kubelet's probes and a scraper, each keeping a
 * connection or two and asking in well under a second; anyone else who can
 * reach the port gets no more.
 */
export const HEALTH_LISTENER_LIMITS: PlainListenerLimits = { requestTimeoutMs: 10_000, maxConnections: 64 };

export interface HealthSource {
  /** Why the agent is not ready, or undefined when it is; asked at each probe. */
  notReadyReason(): Promise<string | undefined> | string | undefined;
  /** Prometheus text exposition. */
  metrics(): Promise<string> | string;
}

export function startHealthServer(address: ListenAddress, source: HealthSource, limits: PlainListenerLimits = HEALTH_LISTENER_LIMITS): Promise<Server> {
  return listenPlainHttp(address, limits, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return json(405, { error: { code: 'invalid_request', message: 'only GET is served here' } });
    if (path === '/healthz') return json(200, { status: 'ok' });
    if (path === '/readyz') {
      return void Promise.resolve(source.notReadyReason()).then(
        (reason) => (reason === undefined ? json(200, { status: 'ready' }) : json(503, { error: { code: 'not_ready', message: reason } })),
        () => json(500, { error: { code: 'internal', message: 'readiness unavailable' } }),
      );
    }
    if (path === '/metrics') {
      return void Promise.resolve(source.metrics()).then(
        (text) => {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          res.end(text);
        },
        () => json(500, { error: { code: 'internal', message: 'metrics unavailable' } }),
      );
    }
    return json(404, { error: { code: 'not_found', message: `no route ${path}` } });
  });
}
