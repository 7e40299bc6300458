/**
 * Reaching a CA on another host: HTTPS to its --server address, presenting an
 * operator's or auditor's credential, and taking for the CA only a server
 * whose certificate chains to the credential's bundle and is the CA's own
 * SVID (spiffe://<td>/meshca/server) in the credential's trust domain, as the
 * agent does; and, before the first request is sent, whose chain the CA's
 * own current CRLs, which it must send, do not revoke
 * (serving-chain-revocation.ts).
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { request } from 'node:https';
import { checkCaIdentity, shownChain } from '../platform/ca-server-identity.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import { CaUnreachableError, errorFrom, type AdminEndpoint } from './admin-client.js';
import { loadAdminCredential, type AdminCredential } from './admin-credential.js';
import { serialsListedInPem } from '../x509/crl-reader.js';
import { servingChainProblem } from './serving-chain-revocation.js';

/**
 * How long connecting and the TLS handshake may take before the CA counts as
 * not answering (exit 69). Once the request is sent the CLI waits for the
 * answer as it does on the local socket: a CA that took the request may be
 * carrying it out, and giving up then would say nothing was asked when
 * something was.
 */
export const CONNECT_TIMEOUT_MS = 30_000;

/** Errors of the network, before any server answered: the CA is unreachable, not refusing. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);

/** Which stage a request failed in, for the operator's message: nothing sent, the CA not trusted, or after sending. */
type Stage = 'connecting' | 'handshake' | 'sent';

/** Far more than the CRLs of any CA (one per CA key, each listing what it revoked). */
const MAX_CRL_BYTES = 32 * 1024 * 1024;

export function remoteEndpoint(server: URL, credentialDir: string, clock: Clock, connectTimeoutMs = CONNECT_TIMEOUT_MS): AdminEndpoint {
  let credential: AdminCredential | undefined;
  let checked: Promise<void> | undefined;
  /** Serials the CA's CRLs list: a later connection that shows one is refused in its handshake. */
  let revoked = new Set<string>();
  const stages = new WeakMap<Error, Stage>();

  const unread = (err: NodeJS.ErrnoException) =>
    new Error(`${server.origin} is not to be trusted as the CA, so nothing was sent to it: its CRLs could not be read (${err.message}${err.code ? `, ${err.code}` : ''})`);

  /** Asks the server for its CRLs on a connection of its own, and refuses it when they revoke the chain it showed, or are missing. */
  const checkServingChain = async (): Promise<void> => {
    const { bundlePem } = credential!;
    const { status, body, chain } = await new Promise<{ status: number; body: string; chain: X509Certificate[] | undefined }>((resolve, reject) => {
      let chain: X509Certificate[] | undefined;
      const req = endpoint.request({ method: 'GET', path: '/v1/crl.pem', headers: {} }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_CRL_BYTES) req.destroy(new Error(`larger than ${MAX_CRL_BYTES / 1024 / 1024} MiB, which no CA's are`));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), chain }));
        res.on('error', (err: NodeJS.ErrnoException) => reject(unread(err)));
      });
      req.once('socket', (socket) => (socket as TLSSocket).once('secureConnect', () => (chain = shownChain((socket as TLSSocket).getPeerCertificate(true), bundlePem))));
      // Past the handshake, a failure is this request's, not the command's: endpoint.failure would say the command may have been carried out.
      req.on('error', (err: NodeJS.ErrnoException) => reject(stages.get(err) === 'sent' ? unread(err) : endpoint.failure(err)));
      req.end();
    });
    if (status !== 200) throw errorFrom(status, body, [], {});
    // The handshake refused a chain that does not hold together (checkCaIdentity): this is for want of one.
    if (!chain) throw new Error(`${server.origin} is not to be trusted as the CA, so nothing was sent to it: the certificate chain it showed could not be read`);
    const problem = servingChainProblem(chain, body, nowSeconds(clock));
    if (problem) throw new Error(`${server.origin} is not to be trusted as the CA, so nothing was sent to it: ${problem}`);
    // Unchecked: a server's own word that something is revoked can only make the CLI refuse more.
    revoked = serialsListedInPem(body);
  };

  const endpoint: AdminEndpoint = {
    async prepare() {
      credential ??= await loadAdminCredential(credentialDir, clock);
      checked ??= checkServingChain();
      await checked;
    },
    request(options, onResponse) {
      const { keyPem, chainPem, bundlePem, trustDomain } = credential!;
      let stage: Stage = 'connecting';
      const req = request(
        {
          // The URL's host and port only (parseServerUrl refuses anything else): the path is the API's, as typed.
          host: server.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: server.port || 443,
          path: options.path,
          method: options.method,
          headers: options.headers,
          key: keyPem,
          cert: chainPem,
          // Node's public roots never vouch for the CA: the bundle does, or nothing.
          ca: bundlePem,
          // Explicit: NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment would otherwise skip the chain and the checks below.
          rejectUnauthorized: true,
          checkServerIdentity: (host, cert) => checkCaIdentity(host, cert, (serial) => revoked.has(serial), trustDomain, bundlePem),
          agent: false,
          timeout: connectTimeoutMs,
        },
        onResponse,
      );
      req.once('socket', (socket) => {
        socket.once('connect', () => (stage = 'handshake'));
        (socket as TLSSocket).once('secureConnect', () => {
          stage = 'sent';
          req.setTimeout(0);
        });
      });
      req.on('timeout', () => req.destroy(new CaUnreachableError(`no answer from ${server.origin} in ${connectTimeoutMs / 1000} s`)));
      req.on('error', (err) => stages.set(err, stage));
      return req;
    },
    failure(err) {
      if (err instanceof CaUnreachableError) return err;
      const stage = stages.get(err) ?? 'sent';
      if (stage === 'connecting' && err.code !== undefined && UNREACHABLE.has(err.code)) return new CaUnreachableError(`no CA answers at ${server.origin} (${err.code})`);
      if (stage !== 'sent') {
        return new Error(
          `${server.origin} is not the CA this credential trusts (${credentialDir}/bundle.pem), or refused it: ${err.message}; ` +
            'check --server, and that this credential is from that CA and still valid',
        );
      }
      return new Error(`the request to ${server.origin} failed after it was sent, so it may have been carried out: ${err.message}${err.code ? ` (${err.code})` : ''}`);
    },
  };
  return endpoint;
}
