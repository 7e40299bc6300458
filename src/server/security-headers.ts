/**
 * @fastify/helmet's security headers, on every answer Fastify sends.
 *
 * Registered on the app itself, @fastify/helmet builds helmet's middleware
 * again for every request (its options and Content-Security-Policy directives
 * parsed each time) through two hooks, one of them async: about 7 % of the
 * main thread's CPU at batch 1. meshca uses its defaults, which never change
 * from one request to the next, so they are recorded once per process from
 * the plugin itself, on an app of their own, and one synchronous hook sets
 * them.
 */
import helmet from '@fastify/helmet';
import Fastify, { type FastifyInstance } from 'fastify';

/** Name and value, as @fastify/helmet sets them, in its order. */
export type SecurityHeaders = ReadonlyArray<readonly [string, string]>;

let recorded: Promise<SecurityHeaders> | undefined;

/** What @fastify/helmet, with its defaults, sets on a response before a route runs; recorded once per process. */
export function helmetDefaults(): Promise<SecurityHeaders> {
  recorded ??= recordHelmetHeaders();
  return recorded;
}

async function recordHelmetHeaders(): Promise<SecurityHeaders> {
  const app = Fastify();
  try {
    const seen: Array<readonly [string, string]> = [];
    let recording = true;
    // Before the plugin's hooks: every header it sets is noted as it spells it, in its order.
    app.addHook('onRequest', (_request, reply, done) => {
      const res = reply.raw;
      const setHeader = res.setHeader.bind(res);
      res.setHeader = (name: string, value: number | string | readonly string[]) => {
        if (recording) seen.push([name, String(value)]);
        return setHeader(name, value);
      };
      done();
    });
    await app.register(helmet);
    // After them: what the reply itself sets is not theirs.
    app.addHook('onRequest', (_request, _reply, done) => {
      recording = false;
      done();
    });
    app.get('/', () => '');
    await app.inject({ method: 'GET', url: '/' });
    if (seen.length === 0) throw new Error('@fastify/helmet set no headers');
    return seen;
  } finally {
    await app.close();
  }
}

/**
 * Sets the headers as the request arrives, on the raw response as the plugin
 * did: an answer written later by any path (a refusal, a 404, shutdown's 503)
 * carries them. Install before every other onRequest hook.
 */
export function installSecurityHeaders(app: FastifyInstance, headers: SecurityHeaders): void {
  app.addHook('onRequest', (_request, reply, done) => {
    const res = reply.raw;
    for (const [name, value] of headers) res.setHeader(name, value);
    done();
  });
}
