/**
 * Reaching a CA on another host: HTTPS to its --server address, presenting an
 * operator's or auditor's credential, and taking for the CA only a server
 * whose certificate chains to the credential's bundle and is the CA's own
 * SVID (spiffe://<td>/meshca/server), as the agent does.
 */
import { request } from 'node:https';
import { checkCaIdentity } from '../platform/ca-server-identity.js';
import type { Clock } from '../time/clock.js';
import { CaUnreachableError, type AdminEndpoint } from './admin-client.js';
import { loadAdminCredential, type AdminCredential } from './admin-credential.js';

/** How long a request may go without a byte moving before the CA counts as not answering. */
const IDLE_TIMEOUT_MS = 30_000;

/** Errors of the network, before any server answered: the CA is unreachable, not refusing. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);

/** The server answered, but the credential's bundle does not vouch for it as the CA (chain, host name or SPIFFE ID). */
function isTrustFailure(err: NodeJS.ErrnoException): boolean {
  return err.code === undefined || /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(err.code);
}

export function remoteEndpoint(server: URL, credentialDir: string, clock: Clock): AdminEndpoint {
  let credential: AdminCredential | undefined;
  return {
    async prepare() {
      credential ??= await loadAdminCredential(credentialDir, clock);
    },
    request(options, onResponse) {
      const { keyPem, chainPem, bundlePem } = credential!;
      const req = request(
        new URL(options.path, server),
        {
          method: options.method,
          headers: options.headers,
          key: keyPem,
          cert: chainPem,
          // Node's public roots never vouch for the CA: the bundle does, or nothing.
          ca: bundlePem,
          checkServerIdentity: (host, cert) => checkCaIdentity(host, cert, () => false),
          agent: false,
        },
        onResponse,
      );
      req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new CaUnreachableError(`no answer from ${server.origin} in ${IDLE_TIMEOUT_MS / 1000} s`)));
      return req;
    },
    failure(err) {
      if (err instanceof CaUnreachableError) return err;
      if (err.code !== undefined && UNREACHABLE.has(err.code)) return new CaUnreachableError(`no CA answers at ${server.origin} (${err.code})`);
      if (isTrustFailure(err)) return new Error(`${server.origin} is not the CA this credential trusts (${credentialDir}/bundle.pem): ${err.message}`);
      return new Error(`the request to ${server.origin} failed: ${err.message}${err.code ? ` (${err.code})` : ''}`);
    },
  };
}
