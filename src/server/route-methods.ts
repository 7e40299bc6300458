/**
 * Which methods each path takes, so that a known path asked with another
 * method is answered 405 with an Allow header (RFC 9110 15.5.6), not a 404
 * that suggests the path itself is wrong.
 */
import type { RouteOptions } from 'fastify';

interface KnownRoute {
  readonly pattern: RegExp;
  readonly method: string;
}

/** A route URL as a whole-path pattern: each :param stands for one segment. */
function patternOf(url: string): RegExp {
  const literal = url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${literal.replace(/:[A-Za-z0-9_]+/g, '[^/]+')}$`);
}

export class RouteMethods {
  private readonly routes: KnownRoute[] = [];

  /** For Fastify's onRoute hook. */
  readonly add = (route: RouteOptions): void => {
    const pattern = patternOf(route.url);
    for (const method of [route.method].flat()) this.routes.push({ pattern, method });
  };

  /** The methods some route takes at `path`, sorted; empty when no route has it. */
  allowedAt(path: string): string[] {
    return [...new Set(this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method))].sort();
  }
}
