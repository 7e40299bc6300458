/** The agent's small HTTP endpoint: /healthz (alive), /readyz (a valid SVID is installed, and still in --out) and /metrics. */
import { createServer, type Server } from 'node:http';
import type { ListenAddress } from '../config/parsers.js';

export interface HealthSource {
  /** Why the agent is not ready, or undefined when it is; asked at each probe. */
  notReadyReason(): Promise<string | undefined> | string | undefined;
  /** Prometheus text exposition. */
  metrics(): Promise<string> | string;
}

export async function startHealthServer(address: ListenAddress, source: HealthSource): Promise<Server> {
  const server = createServer((req, res) => {
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve());
  });
  return server;
}
