/**
 * The composition root of `meshca server`: the only place that builds the
 * concrete datastore, key custody, CA core, listeners and cron tasks, and wires
 * them together. Tests start a whole CA in-process through `startCa`.
 */
import cron from 'node-cron';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AuthorityManager } from '../ca/authority-manager.js';
import { diagnose } from '../ca/doctor.js';
import { formatListenAddress, type ListenAddress } from '../config/parsers.js';
import type { ServerConfig } from '../config/server-config.js';
import { ServingCertificate } from '../server/serving-certificate.js';
import type { Datastore } from '../store/datastore.js';
import { openDatastore } from './open-datastore.js';
import { nowSeconds, systemClock, type Clock } from '../time/clock.js';
import { cryptoRandom, type RandomSource } from '../random/random-source.js';
import { buildCaCore, type CaCore } from './ca-core.js';
import { startListeners } from './ca-listeners.js';
import { lockDataDir } from './data-dir-lock.js';
import { probeListenAddress } from './listen-probe.js';
import { checkDataDirAccess, makeDataDir, refusePlanted, removeMadeDataDir } from './data-dir-access.js';
import { operatorSocketPath } from './local-socket.js';
import { startWarnings } from './start-warnings.js';
import { VERSION } from './version.js';
import { coalescedTask } from '../platform/coalesced-task.js';

export interface CaOverrides {
  readonly clock?: Clock;
  readonly random?: RandomSource;
  /** "off" starts no cron task; the caller (a test) runs tick(), checkpoint() and prune() itself. */
  readonly schedules?: 'off';
}

export interface RunningCa {
  readonly address: ListenAddress;
  readonly socketPath: string;
  readonly metricsAddress: ListenAddress | undefined;
  readonly manager: AuthorityManager;
  readonly core: CaCore;
  readonly store: Datastore;
  readonly tlsApp: FastifyInstance;
  readonly localApp: FastifyInstance;
  /** The lifecycle check: rotation, serving certificate renewal, agents' last-seen times. */
  tick(): Promise<void>;
  /** The scheduled checkpoint: signs the audit log's head unless the newest checkpoint covers it; never throws. */
  checkpoint(): Promise<void>;
  /** The scheduled pruning of records past --retention; never throws (a failure is logged). */
  prune(): Promise<void>;
  close(): Promise<void>;
}

export async function startCa(given: ServerConfig, logger: Logger, overrides: CaOverrides = {}): Promise<RunningCa> {
  const clock = overrides.clock ?? systemClock;
  const random = overrides.random ?? cryptoRandom;
  const madeDataDir = await makeDataDir(given.dataDir);
  // From here on the data directory's path as checked, resolved: no link on the way is followed again.
  const config: ServerConfig = { ...given, dataDir: await checkDataDirAccess(given.dataDir, logger) };
  const socketPath = operatorSocketPath(config.dataDir, given.dataDir);
  const lock = await lockDataDir(config.dataDir);
  let store: Datastore;
  try {
    // After the lock, which names a second server on this data directory, and before the datastore and the PKI:
    // a first start that cannot listen must not leave a CA behind (listen-probe.ts).
    await probeListenAddress('--listen', config.listen);
    if (config.metricsListen) await probeListenAddress('--metrics-listen', config.metricsListen);
    store = await openDatastore(config, clock);
  } catch (err) {
    // A first start refused here leaves no data directory it made behind: an empty one read as a CA's, or holding only meshca.flock.
    if (madeDataDir.length === 0) await lock.release();
    else await lock.releaseAndRemove().then(() => removeMadeDataDir(madeDataDir));
    throw err;
  }
  const cleanups: Array<() => unknown> = [() => store.close(), () => lock.release()];
  const close = async () => {
    for (const cleanup of cleanups) await cleanup();
  };
  try {
    const core = await buildCaCore(config, store, { clock, random, logger });
    cleanups.unshift(() => core.close());
    // Again now that the datastore, the keys and the lock are open or made: another user may have made one of those names first.
    await refusePlanted(config.dataDir);
    // Only now: keys that turn out encrypted stop the start above, and the warning would contradict it.
    if (config.keyPassphrase === undefined) {
      logger.warn({ keys: `${config.dataDir}/keys` }, 'CA keys are stored unencrypted (0600 files); set MESHCA_KEY_PASSPHRASE or --key-passphrase-file to encrypt them at rest');
    }
    for (const w of startWarnings(config, store.created)) logger.warn(w.fields, w.message);
    cleanups.unshift(() => core.standing.flushSeen());
    const serving = new ServingCertificate(
      { issuer: core.issuer, clock },
      { trustDomain: config.trustDomain, listen: config.listen, ttl: config.svidMaxTtl, extraNames: config.servingNames },
    );
    await serving.issue();
    core.metrics.watchServingCertificate(() => serving.credentials());
    const listeners = await startListeners(config, core, store, serving, { clock, logger, socketPath });
    cleanups.unshift(() => listeners.close());

    /**
     * Re-issues the serving certificate when half its life has passed, a new intermediate signs, or an operator
     * revoked it (the CA must not present a certificate its own CRL lists). The one it replaces is not revoked:
     * its key never left this process, and a revocation would change every CRL, which every agent then installs
     * and reloads its proxy for, all within one sync interval. A reason that arises while a renewal runs (a
     * revocation that renewal read too early, a taint of the intermediate it signs with) gets a renewal after it.
     */
    const renewServing = coalescedTask(() => renewServingOnce());
    let servingTimer: NodeJS.Timeout | undefined;
    /** The serving certificate is renewed at half-life by its own timer, not only by the lifecycle schedule. */
    const scheduleServingRenewal = () => {
      clearTimeout(servingTimer);
      const { notBefore, notAfter } = serving.credentials();
      const dueMs = (notBefore + Math.ceil((notAfter - notBefore) / 2)) * 1000 - clock.nowMs();
      servingTimer = setTimeout(() => renewServing().catch((err: unknown) => logger.error({ err }, 'could not renew the serving certificate')), Math.max(1000, dueMs));
      servingTimer.unref();
    };
    cleanups.unshift(() => clearTimeout(servingTimer));
    const renewServingOnce = async () => {
      const previous = serving.credentials().serial;
      // Read at every lifecycle check too: another replica may have taken the revocation.
      const revoked = ((await store.registrations.credential(previous))?.revocation ?? null) !== null;
      if (!revoked && !serving.isDue(core.manager.current().activeIntermediate()?.record.id)) return scheduleServingRenewal();
      await serving.issue();
      listeners.refreshTls();
      scheduleServingRenewal();
      logger.info({ notAfter: serving.credentials().notAfter, issuer: serving.credentials().issuerId, ...(revoked ? { replaced: 'revoked' } : {}) }, 'renewed the serving certificate');
    };
    scheduleServingRenewal();
    core.manager.onChange(() => {
      listeners.refreshTls();
      renewServing().catch((err: unknown) => logger.error({ err }, 'could not renew the serving certificate'));
    });
    core.services.revocations.onRevoked(() => renewServing().catch((err: unknown) => logger.error({ err }, 'could not renew the serving certificate')));

    const warned = new Map<string, number>();
    /** Expiry is never silent: every failing doctor check is logged as a warning, at most hourly each. */
    const warnOfExpiry = () => {
      const now = nowSeconds(clock);
      for (const f of diagnose({ set: core.manager.current(), now, rootHorizon: config.rootExpiryHorizon })) {
        if (f.status === 'ok' || now - (warned.get(f.message) ?? -Infinity) < 3600) continue;
        warned.set(f.message, now);
        logger.warn({ check: f.check }, f.message);
      }
    };

    // Each step on its own: one that fails (the datastore's write lock held elsewhere, a full disk) neither holds
    // back the others nor is reported as another's; a failed rotation is what doctor's "last rotation" says.
    const tick = async () => {
      try {
        await core.manager.tick();
        core.noteRotation(undefined);
      } catch (err) {
        core.noteRotation(err as Error);
        core.metrics.rotations.inc({ kind: 'check', result: 'failure' });
        logger.error({ err }, 'scheduled lifecycle check failed');
      }
      await core.standing.flushSeen().catch((err: unknown) => logger.error({ err }, "could not write agents' last-seen times; they are kept for the next check"));
      await renewServing().catch((err: unknown) => logger.error({ err }, 'could not renew the serving certificate'));
      warnOfExpiry();
    };
    const checkpoint = async () => {
      try {
        core.metrics.checkpoints.inc({ result: (await core.audit.checkpointIfNew()) ? 'signed' : 'covered' });
      } catch (err) {
        core.metrics.checkpoints.inc({ result: 'failure' });
        logger.error({ err }, 'audit checkpoint failed');
      }
    };
    // Caught here: a rejection left to node-cron is printed by its own logger, outside the CA's log.
    const prune = async () => {
      try {
        const removed = await core.prune();
        if (removed) logger.info({ removed }, 'pruned expired certificate records');
      } catch (err) {
        logger.error({ err }, 'pruning expired certificate records failed; the next scheduled run takes up what is left');
      }
    };
    if (overrides.schedules !== 'off') {
      const tasks = [
        cron.schedule(config.rotationSchedule, tick, { noOverlap: true, name: 'lifecycle' }),
        cron.schedule(config.checkpointSchedule, checkpoint, { noOverlap: true, name: 'audit-checkpoint' }),
        cron.schedule(config.pruneSchedule, prune, { noOverlap: true, name: 'retention' }),
      ];
      cleanups.unshift(() => Promise.all(tasks.map((t) => t.destroy())));
    }
    logger.info(
      { address: formatListenAddress(listeners.address), socket: listeners.socketPath, trustDomain: config.trustDomain.name, version: VERSION },
      'meshca CA listening',
    );
    return {
      address: listeners.address,
      socketPath: listeners.socketPath,
      metricsAddress: listeners.metricsAddress,
      manager: core.manager,
      core,
      store,
      tlsApp: listeners.tlsApp,
      localApp: listeners.localApp,
      tick,
      checkpoint,
      prune,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
