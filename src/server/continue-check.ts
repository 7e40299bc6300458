/**
 * `Expect: 100-continue`: a client asks whether to send its body. Node says
 * yes to every such request by itself, so one declaring a body over its
 * route's limit sent it all before hearing 413, and one without a credential
 * sent it all before hearing 401. Listening to the server's `checkContinue`
 * event, meshca looks at the declared length first: over the route's limit,
 * the client is told 413 at once and never asked for the body. Otherwise the
 * request goes through Fastify's onRequest hooks as any other, the access
 * control among them, and the client is asked for its body only when those
 * let it through (preParsing): a caller refused there hears its 401 or 403
 * without ever being asked for the body.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { PAYLOAD_TOO_LARGE } from './error-handler.js';

/** Each route's body limit, by method and path, as the routes declare them (onRoute). */
export class BodyLimits {
  private readonly byRoute = new Map<string, number>();
  /** For a path no static route has: the largest limit of any route with parameters, so that none is refused early. */
  private parametric: number;

  constructor(private readonly defaultLimit: number) {
    this.parametric = defaultLimit;
  }

  readonly add = (route: RouteOptions): void => {
    const limit = route.bodyLimit ?? this.defaultLimit;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (/[:*]/.test(route.url)) this.parametric = Math.max(this.parametric, limit);
    else for (const method of methods) this.byRoute.set(`${method} ${route.url}`, limit);
  };

  limitFor(method: string | undefined, url: string | undefined): number {
    const path = (url ?? '/').split('?')[0]!;
    return this.byRoute.get(`${method ?? 'GET'} ${path}`) ?? this.parametric;
  }
}

/** Requests that asked to continue and have not yet been told to: the 100 waits until the request is admitted. */
const continueOwed = new WeakSet<IncomingMessage>();

/** The `checkContinue` listener: 413 for a declared length over the limit, otherwise the request as usual, its 100 owed. */
export function answerContinue(server: Server, limits: BodyLimits): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limits.limitFor(request.method, request.url)) {
      const body = JSON.stringify(PAYLOAD_TOO_LARGE);
      // The body was never asked for; the connection closes rather than have it arrive anyway and be read as a request.
      response.writeHead(413, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
      response.end(body);
      return;
    }
    continueOwed.add(request);
    server.emit('request', request, response);
  };
}

/**
 * Sends the owed 100 once every onRequest hook (framing checks, shutdown,
 * authentication and authorization) has let the request through, before its
 * body is read. Registered after those hooks, as preParsing runs after all of them.
 */
export function continueWhenAdmitted(app: FastifyInstance): void {
  app.addHook('preParsing', async (request, reply, payload) => {
    if (continueOwed.delete(request.raw)) reply.raw.writeContinue();
    return payload;
  });
}
