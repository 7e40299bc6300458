/**
 * Reaching a CA on another host: HTTPS to its --server address, presenting an
 * operator's or auditor's credential, and taking for the CA only a server
 * whose certificate chains to the credential's bundle and is the CA's own
 * SVID (spiffe://<td>/meshca/server) in the credential's trust domain, as the
 * agent does.
 */
import type { TLSSocket } from 'node:tls';
import { request } from 'node:https';
import { checkCaIdentity } from '../platform/ca-server-identity.js';
import type { Clock } from '../time/clock.js';
import { CaUnreachableError, type AdminEndpoint } from './admin-client.js';
import { loadAdminCredential, type AdminCredential } from './admin-credential.js';

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

export function remoteEndpoint(server: URL, credentialDir: string, clock: Clock, connectTimeoutMs = CONNECT_TIMEOUT_MS): AdminEndpoint {
  let credential: AdminCredential | undefined;
  const stages = new WeakMap<Error, Stage>();
  return {
    async prepare() {
      credential ??= await loadAdminCredential(credentialDir, clock);
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
          checkServerIdentity: (host, cert) => checkCaIdentity(host, cert, () => false, trustDomain),
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
      if (stage !== 'sent') return new Error(`${server.origin} is not the CA this credential trusts (${credentialDir}/bundle.pem), or refused it: ${err.message}`);
      return new Error(`the request to ${server.origin} failed after it was sent, so it may have been carried out: ${err.message}${err.code ? ` (${err.code})` : ''}`);
    },
  };
}
