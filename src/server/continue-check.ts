/**
 * `Expect: 100-continue`: a client asks whether to send its body. Node says
 * yes to every such request by itself, so one declaring a body over its
 * route's limit sent it all before hearing 413. Listening to the server's
 * `checkContinue` event, meshca looks at the declared length first: over the
 * route's limit, the client is told 413 at once and never asked for the body.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { RouteOptions } from 'fastify';
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

/** The `checkContinue` listener: 413 for a declared length over the limit, otherwise 100 and the request as usual. */
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
    response.writeContinue();
    server.emit('request', request, response);
  };
}
