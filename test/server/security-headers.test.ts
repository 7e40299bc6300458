/**
 * The security headers are @fastify/helmet's, recorded once from the plugin:
 * every answer carries exactly what the plugin registered on the app would
 * set, in its order.
 */
import helmet from '@fastify/helmet';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { helmetDefaults, installSecurityHeaders } from '../../src/server/security-headers.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function appWith(headers: (app: FastifyInstance) => Promise<void>): Promise<FastifyInstance> {
  const app = Fastify();
  apps.push(app);
  await headers(app);
  app.get('/ok', () => ({ ok: true }));
  app.get('/refused', async (_request, reply) => reply.code(403).send({ error: { code: 'forbidden', message: 'no' } }));
  return app;
}

/** The answer's headers in order, but the date, which differs between two answers. */
async function headersOf(app: FastifyInstance, url: string): Promise<Array<[string, unknown]>> {
  const res = await app.inject({ method: 'GET', url });
  return Object.entries(res.headers).filter(([name]) => name !== 'date');
}

describe('security headers', () => {
  it.each(['/ok', '/refused', '/no-such-route'])('on %s, are exactly those @fastify/helmet sets, in its order', async (url) => {
    const plugin = await appWith(async (app) => {
      await app.register(helmet);
    });
    const recorded = await appWith(async (app) => installSecurityHeaders(app, await helmetDefaults()));
    const expected = await headersOf(plugin, url);
    expect(expected.map(([name]) => name)).toContain('content-security-policy');
    expect(await headersOf(recorded, url)).toEqual(expected);
  });

  it('are recorded once per process', async () => {
    expect(await helmetDefaults()).toBe(await helmetDefaults());
  });
});
