/** What meshca adds to Fastify's request and route types. */
import type { Action } from '../ca/access-policy.js';
import type { Caller } from '../ca/caller.js';
import type { ForbiddenError, UnauthenticatedError } from '../errors.js';

/**
 * The caller, plus why it is not served when it is not: authentication failed
 * (an anonymous caller, 401 with the right code), or a caller it identified
 * is in bad standing (an evicted or banned agent, 403), who is still named in
 * the audit log and the CA log.
 */
export interface Authentication {
  readonly caller: Caller;
  readonly failure?: UnauthenticatedError | ForbiddenError;
}

declare module 'fastify' {
  interface FastifyRequest {
    authentication: Authentication;
  }
  interface FastifyContextConfig {
    /** Every route names the action it performs; access is decided from ACCESS[action]. */
    action?: Action;
  }
}
