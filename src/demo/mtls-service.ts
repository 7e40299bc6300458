/**
 * A tiny mutual-TLS service, as a workload behind meshca-agent would be: it
 * serves HTTPS with the SVID its agent installed, accepts only the one peer
 * SPIFFE ID it expects, and calls its peer with the same SVID.
 *
 * Every handshake re-reads the agent's files through one resolution of
 * OUT/..data (the install contract), so a renewed or rotated certificate is
 * used from the next call on, and key and certificate always belong together.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
import { DATA_LINK } from '../agent/installer.js';
import { certificatesToPem, decodeCertificates } from '../x509/pem.js';

/** Where a certificate chains to, by meshca's authority ids (the first 16 hex digits, as in their subject CN). */
export interface Lineage {
  readonly serial: string;
  readonly spiffeId: string;
  readonly intermediate: string;
  readonly root: string;
}

export interface InstalledSvid extends Lineage {
  readonly keyPem: string;
  /** Leaf first. */
  readonly chainPem: string;
  readonly bundlePem: string;
  /** How many roots bundle.pem holds. */
  readonly bundleRoots: number;
}

/** The authority id prefix in a meshca CA certificate's CN ("meshca intermediate 0123456789abcdef"). */
function authorityOf(name: string | undefined): string {
  return /CN=meshca (?:root|intermediate) ([0-9a-f]+)/.exec(name ?? '')?.[1] ?? 'unknown';
}

function uriSan(subjectAltName: string | undefined): string {
  return (subjectAltName ?? '').split(', ').find((n) => n.startsWith('URI:'))?.slice(4) ?? '';
}

/** What an agent has installed in `dir` now, read through one resolution of ..data. */
export function readInstalled(dir: string): InstalledSvid {
  const version = join(dir, readlinkSync(join(dir, DATA_LINK)));
  const read = (name: string) => readFileSync(join(version, name), 'utf8');
  const chainPem = read('svid.pem');
  const [leafDer, intermediateDer] = decodeCertificates(chainPem);
  if (!leafDer || !intermediateDer) throw new Error(`${dir}/svid.pem does not hold a leaf and its intermediate`);
  const leaf = new X509Certificate(leafDer);
  const bundlePem = read('bundle.pem');
  return {
    keyPem: read('svid_key.pem'),
    chainPem,
    bundlePem,
    bundleRoots: decodeCertificates(bundlePem).length,
    serial: leaf.serialNumber.toLowerCase(),
    spiffeId: uriSan(leaf.subjectAltName),
    intermediate: authorityOf(leaf.issuer),
    root: authorityOf(new X509Certificate(intermediateDer).issuer),
  };
}

function tlsOptions(mine: InstalledSvid) {
  // The bundle is re-encoded so that only certificates, never stray text, reach the TLS stack.
  return { key: mine.keyPem, cert: mine.chainPem, ca: certificatesToPem(decodeCertificates(mine.bundlePem)) };
}

export interface ServiceIdentity {
  readonly name: string;
  readonly spiffeId: string;
  /** The agent's --out directory. */
  readonly dir: string;
}

export interface RunningService extends ServiceIdentity {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves on 127.0.0.1 (a free port) and answers 200 only to `accepts`, 403 to any other authenticated peer. */
export async function startService(me: ServiceIdentity, accepts: string): Promise<RunningService> {
  const server: Server = createServer(
    {
      ...tlsOptions(readInstalled(me.dir)),
      requestCert: true,
      rejectUnauthorized: true,
      // Called on every handshake (callers send SNI "localhost"): the certificate, key and roots of this moment.
      SNICallback: (_name, done) => {
        try {
          done(null, createSecureContext(tlsOptions(readInstalled(me.dir))));
        } catch (err) {
          done(err as Error);
        }
      },
    },
    (req, res) => {
      const caller = uriSan((req.socket as TLSSocket).getPeerX509Certificate()?.subjectAltName);
      const allowed = caller === accepts;
      res.writeHead(allowed ? 200 : 403, { 'content-type': 'application/json' });
      res.end(JSON.stringify(allowed ? { service: me.spiffeId, caller } : { error: `${caller} may not call ${me.name}` }));
    },
  );
  server.on('tlsClientError', () => undefined); // the caller reports the failure
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolveListen());
  });
  return {
    ...me,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      }),
  };
}

export interface CallResult {
  readonly ok: boolean;
  readonly status: number | undefined;
  readonly error: string | undefined;
  /** The certificate the caller presented. */
  readonly client: Lineage | undefined;
  /** The certificate the called service presented, as verified. */
  readonly server: Lineage | undefined;
}

function serverLineage(socket: TLSSocket): Lineage | undefined {
  const leaf: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  if (!leaf?.serialNumber) return undefined;
  const intermediate = leaf.issuerCertificate;
  return {
    serial: leaf.serialNumber.toLowerCase(),
    spiffeId: uriSan(leaf.subjectaltname),
    intermediate: authorityOf(`CN=${leaf.issuer.CN}`),
    root: authorityOf(`CN=${intermediate?.issuer.CN}`),
  };
}

/**
 * One call from `from` to `to` over a fresh mutual-TLS connection. The server
 * is authenticated by its SPIFFE ID (the URI SAN), not by its host name.
 */
export function callService(from: ServiceIdentity, to: RunningService, timeoutMs = 3000): Promise<CallResult> {
  return new Promise((resolveCall) => {
    let client: Lineage | undefined;
    let server: Lineage | undefined;
    let settled = false;
    const finish = (status: number | undefined, error: string | undefined) => {
      if (settled) return;
      settled = true;
      resolveCall({ ok: status === 200 && error === undefined, status, error, client, server });
    };
    let options;
    try {
      const mine = readInstalled(from.dir);
      client = { serial: mine.serial, spiffeId: mine.spiffeId, intermediate: mine.intermediate, root: mine.root };
      options = tlsOptions(mine);
    } catch (err) {
      return finish(undefined, `cannot read ${from.name}'s SVID: ${(err as Error).message}`);
    }
    const req = request(
      {
        host: '127.0.0.1',
        port: to.port,
        path: '/hello',
        servername: 'localhost',
        agent: false,
        timeout: timeoutMs,
        ...options,
        checkServerIdentity: (_host, cert) => {
          const id = uriSan(cert.subjectaltname);
          return id === to.spiffeId ? undefined : new Error(`expected ${to.spiffeId}, the server presented ${id || 'no SPIFFE ID'}`);
        },
      },
      (res) => {
        server = serverLineage(res.socket as TLSSocket);
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => {
          const answer = JSON.parse(body || '{}') as { caller?: string; error?: string };
          if (res.statusCode === 200 && answer.caller !== from.spiffeId) finish(res.statusCode, `the server saw ${answer.caller} calling`);
          else finish(res.statusCode, answer.error);
        });
        res.on('error', (err) => finish(res.statusCode, err.message));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => finish(undefined, err.message));
    req.end();
  });
}
