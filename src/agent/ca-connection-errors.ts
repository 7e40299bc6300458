/**
 * What the agent logs when no answer came from the CA, in words that say what
 * to check: Node's own ("connect ECONNREFUSED 127.0.0.1:8443", "unable to get
 * local issuer certificate") name neither the CA nor the setting at fault.
 * The code and the original error are kept (`code`, `cause`).
 */

/** No connection could be made: nothing listens there, or the name or route is wrong. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** OpenSSL's verdicts on a server certificate that no root the agent trusts vouches for. */
const UNVOUCHED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

export function caConnectionError(err: NodeJS.ErrnoException, origin: string): Error {
  const code = err.code;
  if (code !== undefined && UNREACHABLE.has(code)) {
    return Object.assign(new Error(`no CA answers at ${origin} (${code}): is it running, and is --server its address?`, { cause: err }), { code });
  }
  if (code !== undefined && UNVOUCHED.has(code)) {
    return Object.assign(
      new Error(
        `the server at ${origin} is not vouched for by the roots this agent trusts (${err.message}): ` +
          'is --server the CA that --trust-bundle (or the bundle this agent last installed) is from?',
        { cause: err },
      ),
      { code },
    );
  }
  return err;
}
