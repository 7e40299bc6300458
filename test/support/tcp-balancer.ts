/**
 * A round-robin TCP balancer on loopback, standing in for the Kubernetes
 * Service in front of CA replicas: each new connection goes to the next
 * backend, and to the one after it when that one refuses (a dead replica).
 * TLS passes through untouched, as it does through a Service.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { cleanupLater } from './cleanup.js';

export interface Balancer {
  readonly port: number;
  /** Connections each backend port accepted. */
  readonly accepted: Map<number, number>;
  close(): Promise<void>;
}

function connectTo(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const upstream = createConnection({ host: '127.0.0.1', port });
    upstream.once('connect', () => resolve(upstream));
    upstream.once('error', reject);
  });
}

export async function startBalancer(backends: readonly number[]): Promise<Balancer> {
  const accepted = new Map(backends.map((p) => [p, 0]));
  const open = new Set<Socket>();
  let next = 0;
  const server = createServer((client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    void (async () => {
      for (let tried = 0; tried < backends.length; tried++) {
        const port = backends[next++ % backends.length]!;
        try {
          const upstream = await connectTo(port);
          accepted.set(port, accepted.get(port)! + 1);
          open.add(upstream);
          upstream.once('close', () => {
            open.delete(upstream);
            client.destroy();
          });
          upstream.on('error', () => upstream.destroy());
          client.once('close', () => upstream.destroy());
          client.pipe(upstream).pipe(client);
          client.resume();
          return;
        } catch {
          // that backend is gone: try the next one
        }
      }
      client.destroy();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const close = () =>
    new Promise<void>((resolve) => {
      for (const socket of open) socket.destroy();
      server.close(() => resolve());
    });
  cleanupLater(close);
  return { port, accepted, close };
}
