/**
 * A route takes the query parameters and body its schema declares, and is
 * refused anything else: an operator who types `?status=banned` on a route
 * with no such filter, or sends a ban reason a route does not record, learns
 * so from a 400 instead of acting on an answer that ignored them.
 */
import type { FastifyRequest, RouteOptions } from 'fastify';
import { InvalidInputError } from '../errors.js';

const NO_QUERY = { type: 'object', additionalProperties: false, properties: {} } as const;

/** Whether the request carries body bytes, parsed or not: Fastify leaves a GET's body unread. */
function sentBytes(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

async function refuseBody(request: FastifyRequest): Promise<void> {
  const body = request.body;
  // An empty JSON object is what many clients send when there is nothing to say; it says nothing.
  const empty =
    body === undefined
      ? !sentBytes(request)
      : typeof body === 'object' && body !== null && !Array.isArray(body) && Object.keys(body).length === 0;
  if (!empty) throw new InvalidInputError('invalid_request', `${request.method} ${request.routeOptions.url} takes no request body`);
}

/** For Fastify's onRoute hook: fills in the "nothing" a route's schema leaves undeclared. */
export function refuseUndeclaredInput(route: RouteOptions): void {
  route.schema = { querystring: NO_QUERY, ...route.schema };
  if (route.schema.body === undefined) {
    const existing = route.preValidation === undefined ? [] : [route.preValidation].flat();
    route.preValidation = [refuseBody, ...existing];
  }
}
