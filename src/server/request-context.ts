/** What meshca adds to Fastify's request and route types. */
import type { Action } from '../ca/access-policy.js';
import type { Caller } from '../ca/caller.js';
import type { UnauthenticatedError } from '../errors.js';

/** The caller, plus why authentication failed when it did (to answer 401 with the right code). */
export interface Authentication {
  readonly caller: Caller;
  readonly failure?: UnauthenticatedError;
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
