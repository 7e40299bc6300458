/** Authenticates every request and authorizes it against the access policy before any handler runs. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ACCESS, isAllowed } from '../ca/access-policy.js';
import { callerLabel } from '../ca/caller.js';
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import type { Authentication } from './request-context.js';

export type Authenticator = (request: FastifyRequest) => Promise<Authentication>;

const ANONYMOUS: Authentication = { caller: { role: 'anonymous' } };

export function installAccessControl(app: FastifyInstance, authenticate: Authenticator): void {
  app.decorateRequest('authentication', null as unknown as Authentication);
  app.addHook('onRoute', (route) => {
    // A route without a declared action would be reachable by anyone: refuse to start instead.
    if (!route.config?.action) throw new Error(`route ${route.method} ${route.url} declares no action`);
  });
  app.addHook('onRequest', async (request) => {
    request.authentication = ANONYMOUS;
    const action = request.routeOptions.config.action;
    if (!action) return; // unknown route: the not-found handler answers
    const authentication = await authenticate(request);
    request.authentication = authentication;
    const { caller } = authentication;
    if (caller.role !== 'anonymous') request.log = request.log.child({ caller: callerLabel(caller) });
    if (ACCESS[action] === 'public') return;
    if (caller.role === 'anonymous') {
      throw authentication.failure ?? new UnauthenticatedError('unauthenticated', 'this route needs a client certificate');
    }
    if (!isAllowed(action, caller.role)) {
      throw new ForbiddenError('forbidden', `a caller with role ${caller.role} may not ${action.replace('.', ' ')}`);
    }
  });
}
