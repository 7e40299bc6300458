/** The only routes an anonymous caller may reach: health, readiness and the trust bundle. */
import type { FastifyInstance } from 'fastify';
import { bundleRootsDer, spiffeBundle } from '../../ca/trust-bundle.js';
import { UnavailableError } from '../../errors.js';
import { nowSeconds } from '../../time/clock.js';
import { caCertificatesToPem } from '../../x509/pem.js';
import { errorSchema } from '../schemas.js';
import type { ServerServices } from '../services.js';

export function publicRoutes(app: FastifyInstance, s: ServerServices): void {
  app.get(
    '/healthz',
    { config: { action: 'health.read' }, schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      config: { action: 'health.read' },
      schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } }, 503: errorSchema } },
    },
    async () => {
      s.authorities.current().signingIntermediate(nowSeconds(s.clock));
      try {
        await s.datastoreReachable();
      } catch (err) {
        throw new UnavailableError('store_unavailable', 'the datastore does not answer: nothing can be issued here', { cause: err });
      }
      const failure = s.recording.lastFailure;
      if (failure) {
        // Answering queries is not enough after an issuance failed to record (a full disk): a change must commit.
        try {
          await s.datastoreWritable();
          s.recording.recorded();
        } catch (err) {
          // Anyone may ask here: the datastore's own words, which may name its files, hosts and users, are for
          // doctor's readers and the log; the prober needs only the state and since when.
          const since = new Date(failure.at * 1000).toISOString();
          throw new UnavailableError('store_unavailable', `the datastore takes no changes (since ${since}): nothing can be issued here; meshca doctor says why`, { cause: err });
        }
      }
      return { status: 'ready' };
    },
  );

  app.get('/v1/bundle', { config: { action: 'bundle.read' } }, async (_request, reply) => {
    const set = s.authorities.current();
    if (set.bundleRoots().length === 0) throw new UnavailableError('ca_unavailable', 'the CA has no roots yet');
    return reply.type('application/json').send(spiffeBundle(set, s.bundleRefreshHint));
  });

  app.get('/v1/bundle.pem', { config: { action: 'bundle.read' } }, async (_request, reply) =>
    reply.type('application/x-pem-file').send(caCertificatesToPem(bundleRootsDer(s.authorities.current()))),
  );
}
