/**
 * A small mesh for rotation tests: in-process agents (the real reconcile loop,
 * CA client and installer) and, for each pair, a TLS server and a client that
 * make a fresh mutual-TLS handshake every interval with whatever their agent
 * installed last.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, createSecureContext, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { CaClient } from '../../src/agent/ca-client.js';
import { AtomicDirectoryPublisher, DATA_LINK, type PublishedFile } from '../../src/agent/installer.js';
import { Sidecar } from '../../src/agent/sidecar.js';
import { systemClock } from '../../src/time/clock.js';
import { cryptoRandom } from '../../src/random/random-source.js';

export interface Publication {
  readonly agent: string;
  readonly atMs: number;
  readonly files: ReadonlyMap<string, string>;
}

export interface RunningAgent {
  readonly name: string;
  readonly out: string;
  readonly sidecar: Sidecar;
  readonly problems: string[];
  stop(): void;
}

/** Starts an agent loop in this process; every publication is recorded in `publications`. */
export function runAgent(options: {
  name: string;
  serverUrl: string;
  trustPem: string;
  token: string;
  out: string;
  publications: Publication[];
  syncIntervalMs?: number;
}): RunningAgent {
  const client = new CaClient({ serverUrl: new URL(options.serverUrl), timeoutMs: 3000 });
  const publisher = new AtomicDirectoryPublisher(options.out, systemClock);
  const problems: string[] = [];
  const log = (level: string) => (obj: { err?: string }, msg: string) => {
    if (level !== 'info') problems.push(`${new Date().toISOString()} ${level}: ${msg}${obj.err ? ` (${obj.err})` : ''}`);
  };
  const sidecar = new Sidecar(
    {
      client,
      publish: async (files: readonly PublishedFile[]) => {
        await publisher.publish(files);
        options.publications.push({ agent: options.name, atMs: Date.now(), files: new Map(files.map((f) => [f.name, f.data])) });
      },
      reload: async () => undefined,
      clock: systemClock,
      random: cryptoRandom,
      log: { info: log('info'), warn: log('warn'), error: log('error') },
    },
    {
      joinToken: options.token,
      keyType: 'ec-p256',
      syncIntervalMs: options.syncIntervalMs ?? 1000,
      combined: false,
      backoff: { initialMs: 200, maxMs: 2000 },
    },
    options.trustPem,
  );
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = async () => {
    try {
      const wait = await sidecar.step();
      if (!stopped) timer = setTimeout(() => void loop(), wait);
    } catch (err) {
      problems.push(`${new Date().toISOString()} fatal: ${(err as Error).message}`);
    }
  };
  void loop();
  return {
    name: options.name,
    out: options.out,
    sidecar,
    problems,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      client.close();
    },
  };
}

/** Reads an installed set through one resolution of ..data, as a careful reader must. */
export function readInstalled(dir: string): { key: string; cert: string; ca: string } {
  const version = join(dir, readlinkSync(join(dir, DATA_LINK)));
  return {
    key: readFileSync(join(version, 'svid_key.pem'), 'utf8'),
    cert: readFileSync(join(version, 'svid.pem'), 'utf8'),
    ca: readFileSync(join(version, 'bundle.pem'), 'utf8'),
  };
}

export interface TrafficPair {
  readonly handshakes: { ok: number; failed: number; errors: string[] };
  stop(): Promise<void>;
}

/**
 * A mutual-TLS server on the server agent's files (reloaded when ..data moves)
 * and a client on the client agent's files, connecting every `intervalMs`.
 */
export async function startPair(serverDir: string, clientDir: string, expect: { serverId: string; clientId: string }, intervalMs = 100): Promise<TrafficPair> {
  const handshakes = { ok: 0, failed: 0, errors: [] as string[] };
  let version = readlinkSync(join(serverDir, DATA_LINK));
  const context = () => {
    const s = readInstalled(serverDir);
    return { key: s.key, cert: s.cert, ca: s.ca };
  };
  const server: Server = createServer({ ...context(), requestCert: true, rejectUnauthorized: true }, (socket: TLSSocket) => {
    const peer = socket.getPeerX509Certificate();
    socket.end(peer?.subjectAltName?.includes(`URI:${expect.clientId}`) ? 'ok' : 'wrong-peer');
  });
  server.on('tlsClientError', () => undefined); // counted on the client side
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const watcher = setInterval(() => {
    const now = readlinkSync(join(serverDir, DATA_LINK));
    if (now !== version) {
      version = now;
      server.setSecureContext(context());
    }
  }, 50);

  let running = true;
  const once = () =>
    new Promise<void>((resolve) => {
      const mine = readInstalled(clientDir);
      const ownExpiry = new X509Certificate(mine.cert).validTo;
      const socket = connect({
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        secureContext: createSecureContext({ key: mine.key, cert: mine.cert, ca: mine.ca }),
        checkServerIdentity: (_host, cert) =>
          cert.subjectaltname?.includes(`URI:${expect.serverId}`) ? undefined : new Error(`server is ${cert.subjectaltname}`),
      });
      let answer = '';
      let settled = false;
      const done = (error?: string) => {
        if (settled) return;
        settled = true;
        if (error === undefined && answer === 'ok') handshakes.ok++;
        else {
          handshakes.failed++;
          const presented = socket.getPeerX509Certificate()?.validTo ?? 'none';
          handshakes.errors.push(`${new Date().toISOString()} ${error ?? `answer ${answer || '(none)'}`} (server cert to ${presented}, own to ${ownExpiry})`);
        }
        socket.destroy();
        resolve();
      };
      socket.setTimeout(3000, () => done('timeout'));
      socket.on('data', (d: Buffer) => (answer += d.toString()));
      socket.on('end', () => done());
      socket.on('error', (err) => done(err.message));
    });
  const loop = (async () => {
    while (running) {
      await once();
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    handshakes,
    stop: async () => {
      running = false;
      await loop;
      clearInterval(watcher);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
