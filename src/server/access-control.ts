/** Authenticates every request and authorizes it against the access policy before any handler runs. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ACCESS, isAllowed, type Action } from '../ca/access-policy.js';
import { callerLabel, type Role } from '../ca/caller.js';
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import type { Authentication } from './request-context.js';

export type Authenticator = (request: FastifyRequest) => Promise<Authentication>;

const ANONYMOUS: Authentication = { caller: { role: 'anonymous' } };
const catalogs = new WeakMap<FastifyInstance, string[]>();

/** "METHOD /path" of every route registered with access control, e.g. for a test that every route is covered. */
export function routeCatalog(app: FastifyInstance): readonly string[] {
  return catalogs.get(app) ?? [];
}

export function installAccessControl(app: FastifyInstance, authenticate: Authenticator): void {
  const catalog: string[] = [];
  catalogs.set(app, catalog);
  // Anonymous until the hook below says otherwise: a request refused by an earlier hook (no Host, a repeated header)
  // still has a caller for the error handler to name, audit and count.
  const authentications = new WeakMap<FastifyRequest, Authentication>();
  app.decorateRequest('authentication', {
    getter(this: FastifyRequest) {
      return authentications.get(this) ?? ANONYMOUS;
    },
    setter(this: FastifyRequest, authentication: Authentication) {
      authentications.set(this, authentication);
    },
  });
  app.addHook('onRoute', (route) => {
    // A route without a declared action would be reachable by anyone: refuse to start instead.
    if (!route.config?.action) throw new Error(`route ${route.method} ${route.url} declares no action`);
    for (const method of [route.method].flat()) if (method !== 'HEAD') catalog.push(`${method} ${route.url}`);
  });
  app.addHook('onRequest', async (request, reply) => {
    const action = request.routeOptions.config.action;
    if (!action) return; // unknown route: the not-found handler answers
    if (ACCESS[action] === 'public') {
      // A credential in bad standing does not stop anyone reaching what is public to all.
      const authentication = await authenticate(request).catch(() => ANONYMOUS);
      request.authentication = authentication.failure ? ANONYMOUS : authentication;
      return;
    }
    const authentication = await authenticate(request);
    request.authentication = authentication;
    const { caller } = authentication;
    if (caller.role === 'anonymous') {
      throw authentication.failure ?? new UnauthenticatedError('unauthenticated', 'this route needs a client certificate');
    }
    // Fastify writes "request completed" (and its other reply-side lines) through reply.log, a logger of its own.
    const log = request.log.child({ caller: callerLabel(caller) });
    request.log = log;
    reply.log = log;
    if (authentication.failure) throw authentication.failure;
    if (!isAllowed(action, caller.role)) {
      throw new ForbiddenError('forbidden', notAllowed(action, caller.role));
    }
  });
}

const ARTICLE: Readonly<Record<Role, string>> = { anonymous: 'an anonymous', operator: 'an operator', auditor: 'an auditor', agent: 'an agent', workload: 'a workload' };

/**
 * The refusal of a role the action is not for, saying whose credential it
 * takes, so that a caller with the wrong one (an auditor's where an
 * operator's is needed) knows which to use rather than only that it failed.
 */
function notAllowed(action: Action, role: Role): string {
  const access = ACCESS[action];
  const allowed = access === 'public' ? [] : access.map((r) => `${ARTICLE[r]}'s`);
  const takes = allowed.length ? `: it takes ${allowed.join(' or ')} credential` : '';
  return `a caller with role ${role} may not ${action.replace('.', ' ')}${takes}`;
}
