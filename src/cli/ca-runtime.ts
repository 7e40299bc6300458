/**
 * The composition root of `meshca server`: the only place that builds the
 * concrete store, key custody, CA core, HTTP listeners and cron task, and wires
 * them together. Tests start a whole CA in-process through `startCa`.
 */
import cron from 'node-cron';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { AuthorityManager } from '../ca/authority-manager.js';
import { SELF } from '../ca/caller.js';
import { bundleRootsDer } from '../ca/trust-bundle.js';
import { SvidIssuer } from '../ca/svid-issuer.js';
import { AgentService } from '../ca/agent-service.js';
import { EntryService } from '../ca/entry-service.js';
import { RateLimiter } from '../server/rate-limiter.js';
import { SqliteRegistrationStore } from '../store/sqlite/registration-store.js';
import { formatListenAddress, type ListenAddress } from '../config/parsers.js';
import type { ServerConfig } from '../config/server-config.js';
import { buildApp } from '../server/app.js';
import { ServingCertificate } from '../server/serving-certificate.js';
import { tlsAuthenticator } from '../server/tls-authenticator.js';
import type { ServerServices } from '../server/services.js';
import { openDatabase } from '../store/sqlite/database.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import { FileKeyCustody } from '../store/file-key-custody.js';
import { systemClock, type Clock } from '../time/clock.js';
import { formatDuration, seconds } from '../time/duration.js';
import { certificatesToPem } from '../x509/pem.js';
import { cryptoRandom, type RandomSource } from '../x509/serial.js';
import { claimSocket, restrictSocket, socketPath } from './local-socket.js';

/** Most CSRs one workload SVID request may carry. */
const MAX_BATCH = 64;

export interface CaOverrides {
  readonly clock?: Clock;
  readonly random?: RandomSource;
  /** node-cron expression for the lifecycle check; "off" leaves ticking to the caller (tests). */
  readonly schedule?: string;
}

export interface RunningCa {
  readonly address: ListenAddress;
  readonly socketPath: string;
  readonly manager: AuthorityManager;
  readonly store: SqliteStore;
  readonly tlsApp: FastifyInstance;
  readonly localApp: FastifyInstance;
  /** Runs the periodic checks once (rotation, serving certificate renewal). */
  tick(): Promise<void>;
  close(): Promise<void>;
}

export async function startCa(config: ServerConfig, logger: Logger, overrides: CaOverrides = {}): Promise<RunningCa> {
  const clock = overrides.clock ?? systemClock;
  const random = overrides.random ?? cryptoRandom;
  const { db, created } = openDatabase(config.dataDir);
  const store = new SqliteStore(db, clock);
  const cleanups: Array<() => Promise<void> | void> = [() => store.close()];
  try {
    const custody = new FileKeyCustody(join(config.dataDir, 'keys'), config.keyPassphrase);
    const manager = await AuthorityManager.open(
      { journal: store, custody, clock, random, log: logger.child({ component: 'authorities' }) },
      { trustDomain: config.trustDomain, rootTtl: config.rootTtl, intermediateTtl: config.intermediateTtl },
      created,
    );
    await store.appendAudit({ type: 'ca.started', actor: SELF, data: describeConfig(config) });
    const issuer = new SvidIssuer(
      { authorities: manager, ledger: store, clock, random },
      { trustDomain: config.trustDomain, lifetimes: { defaultTtl: config.svidTtl, maxTtl: config.svidMaxTtl } },
    );
    const registrations = new SqliteRegistrationStore(db, store.audit, clock);
    const agents = new AgentService(
      { store: registrations, issuer, clock, random },
      { trustDomain: config.trustDomain, tokenTtl: config.joinTokenTtl, tokenMaxTtl: seconds(30 * 86400) },
    );
    const entries = new EntryService(
      { store: registrations, issuer, clock, random },
      { trustDomain: config.trustDomain, maxTtl: config.svidMaxTtl },
    );
    cleanups.unshift(() => agents.flushSeen());
    const services: ServerServices = {
      trustDomain: config.trustDomain,
      clock,
      authorities: manager,
      issuer,
      bundleRefreshHint: config.bundleRefreshHint,
      agents,
      entries,
      limits: {
        signing: new RateLimiter(clock, config.agentRateLimit, config.agentRateLimit * 4),
        attestation: new RateLimiter(clock, config.attestRateLimit / 60, config.attestRateLimit),
        maxBatch: MAX_BATCH,
      },
    };

    const serving = new ServingCertificate(
      { issuer, clock },
      { trustDomain: config.trustDomain, listen: config.listen, ttl: config.svidMaxTtl },
    );
    await serving.issue();
    const tlsOptions = () => ({
      key: serving.credentials().keyPem,
      cert: serving.credentials().chainPem,
      ca: certificatesToPem(bundleRootsDer(manager.current())),
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2' as const,
    });
    const tlsApp = await buildApp({
      services,
      logger: logger.child({ listener: 'tls' }),
      https: tlsOptions(),
      authenticate: tlsAuthenticator({
        trustDomain: config.trustDomain,
        clock,
        standing: (caller, serial) => agents.checkStanding(caller, serial),
      }),
    });
    cleanups.unshift(() => tlsApp.close());
    const refreshTls = () => (tlsApp.server as unknown as import('node:tls').Server).setSecureContext(tlsOptions());
    manager.onChange(refreshTls);

    const localApp = await buildApp({
      services,
      logger: logger.child({ listener: 'local' }),
      authenticate: async () => ({ caller: { role: 'operator', name: 'local', via: 'local' } }),
    });
    cleanups.unshift(() => localApp.close());
    const sock = socketPath(config.dataDir);
    await claimSocket(sock);
    await localApp.listen({ path: sock });
    await restrictSocket(sock);
    await tlsApp.listen({ host: config.listen.host, port: config.listen.port });
    const port = (tlsApp.server.address() as import('node:net').AddressInfo).port;
    const address = { host: config.listen.host, port };

    let ticking = false;
    const tick = async () => {
      if (ticking) return;
      ticking = true;
      try {
        await manager.tick();
        await agents.flushSeen();
        if (serving.isDue()) {
          await serving.issue();
          refreshTls();
          logger.info({ notAfter: serving.credentials().notAfter }, 'renewed the serving certificate');
        }
      } catch (err) {
        logger.error({ err }, 'scheduled check failed');
      } finally {
        ticking = false;
      }
    };
    const schedule = overrides.schedule ?? '* * * * *';
    if (schedule !== 'off') {
      const task = cron.schedule(schedule, tick, { noOverlap: true, name: 'meshca-lifecycle' });
      cleanups.unshift(() => task.destroy());
    }
    logger.info(
      { address: formatListenAddress(address), socket: sock, trustDomain: config.trustDomain.name },
      'meshca CA listening',
    );
    return {
      address,
      socketPath: sock,
      manager,
      store,
      tlsApp,
      localApp,
      tick,
      close: async () => {
        for (const cleanup of cleanups) await cleanup();
      },
    };
  } catch (err) {
    for (const cleanup of cleanups) await cleanup();
    throw err;
  }
}

/** The configuration as recorded in the audit log at start: everything but secrets. */
function describeConfig(config: ServerConfig): Record<string, unknown> {
  return {
    trustDomain: config.trustDomain.name,
    listen: formatListenAddress(config.listen),
    dataDir: config.dataDir,
    rootTtl: formatDuration(config.rootTtl),
    intermediateTtl: formatDuration(config.intermediateTtl),
    svidTtl: formatDuration(config.svidTtl),
    svidMaxTtl: formatDuration(config.svidMaxTtl),
    keysEncrypted: config.keyPassphrase !== undefined,
  };
}
