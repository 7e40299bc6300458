/** Builds the CA's core services over a datastore: the part of the composition root that knows no HTTP. */
import { CA_STARTED, refuseChangedTrustDomain, startedTrustDomain } from '../ca/authority-integrity.js';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { AgentService } from '../ca/agent-service.js';
import { JoinTokenService } from '../ca/join-token-service.js';
import { AuditService } from '../ca/audit-service.js';
import { AuthorityManager } from '../ca/authority-manager.js';
import { SELF } from '../ca/caller.js';
import { EntryService } from '../ca/entry-service.js';
import { SvidIssuer } from '../ca/svid-issuer.js';
import { AdminRenewal } from '../ca/admin-renewal.js';
import { ClientStanding } from '../ca/client-standing.js';
import { agentsNotSeenSince } from '../ca/root-rotation.js';
import { CrlService } from '../ca/crl-service.js';
import { RecordingHealth } from '../ca/recording-health.js';
import { RevocationService } from '../ca/revocation-service.js';
import type { Revoke } from '../ca/standing-after-issuance.js';
import { initialPki } from './initial-pki.js';
import { CaIntegrityError, InvalidInputError } from '../errors.js';
import { inThreadCsrVerifier } from '../ca/in-thread-signing.js';
import { SigningPool } from '../signing/signing-pool.js';
import { formatListenAddress } from '../config/parsers.js';
import { JOIN_TOKEN_MAX_TTL, type ServerConfig } from '../config/server-config.js';
import { CaMetrics } from '../server/metrics.js';
import { RateLimiter } from '../server/rate-limiter.js';
import { servingNames } from '../server/serving-certificate.js';
import type { ServerServices } from '../server/services.js';
import type { Datastore } from '../store/datastore.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import { formatDuration } from '../time/duration.js';
import type { RandomSource } from '../random/random-source.js';
import { CLI_SETTING_NAMES } from './setting-names.js';
import { VERSION } from './version.js';

/** The signing worker, beside this module once built (dist/src/signing/signing-worker.js). */
const SIGNING_WORKER = new URL('../signing/signing-worker.js', import.meta.url);

/** This process among the CA's replicas: the pod name (hostname) in Kubernetes, and the process id. */
const REPLICA = `${hostname()}/${process.pid}`;

/** Most CSRs one workload SVID request may carry. */
const MAX_BATCH = 64;

/**
 * Renewals of admin credentials, per holder: a burst of 10, then one a
 * minute. A holder needs one per half lifetime (minutes at the least); each
 * renewal is a certificate record and an audit event, kept for good, and an
 * auditor's credential must not let it flood the log any more than a
 * refused caller can (refusals.ts).
 */
const ADMIN_RENEWALS = { perSecond: 1 / 60, burst: 10 } as const;

export interface CaCore {
  readonly manager: AuthorityManager;
  readonly crls: CrlService;
  /** The lifecycle check's outcome, for doctor and metrics. */
  noteRotation(failure: Error | undefined): void;
  readonly issuer: SvidIssuer;
  readonly agents: AgentService;
  /** Per-request checks of a TLS client's certificate and agent status. */
  readonly standing: ClientStanding;
  readonly audit: AuditService;
  readonly metrics: CaMetrics;
  readonly services: ServerServices;
  /** Removes records of certificates expired longer than the retention; returns how many. */
  prune(): Promise<number>;
  /** Stops the signing workers. */
  close(): Promise<void>;
}

export async function buildCaCore(
  config: ServerConfig,
  store: Datastore,
  deps: { clock: Clock; random: RandomSource; logger: Logger },
): Promise<CaCore> {
  const { clock, random, logger } = deps;
  // Before the authorities are opened, which would otherwise act for the wrong trust domain (rotate, import) first.
  refuseChangedTrustDomain(await startedTrustDomain(store.audit), config.trustDomain, CLI_SETTING_NAMES.trustDomain);
  const pki = initialPki(config);
  const manager = await AuthorityManager.open(
    {
      journal: store.authorities,
      custody: store.custody,
      coordinator: store.coordinator,
      clock,
      random,
      log: logger.child({ component: 'authorities' }),
      replica: REPLICA,
    },
    { trustDomain: config.trustDomain, trustDomainSetting: CLI_SETTING_NAMES.trustDomain, rootTtl: config.rootTtl, intermediateTtl: config.intermediateTtl },
    pki,
  ).catch((err: unknown) => {
    // An imported root or intermediate refused at the first start: the files the configuration names, which a
    // restart does not change. Stop as for an unreadable one (exit 78, which systemd does not restart).
    if (pki.kind !== 'generate' && err instanceof InvalidInputError) throw new CaIntegrityError(err.message);
    throw err;
  });
  // Every key in use loaded with this passphrase (or the start stopped above): the rest can safely be put under it.
  // What comes back are the authorities' ids (public key identifiers, as GET /v1/authorities lists them), no key material.
  const authorityIds = await store.custody.encryptAtRest();
  if (authorityIds.length) {
    logger.info({ authorityIds }, 'put the stored keys of these authorities under the passphrase, stretched (an earlier start stored them in the clear, or under the passphrase as it was)');
  }
  await store.audit.append({ type: CA_STARTED, actor: SELF, data: { ...describeConfig(config), replica: REPLICA, version: VERSION } });
  const metrics = new CaMetrics({
    clock,
    authorities: () => manager.current(),
    liveSvids: () => store.certificates.countLive(nowSeconds(clock)),
    agentsByStatus: () => store.registrations.countAgentsByStatus(),
    version: VERSION,
  });
  manager.onTransition((kind, entered) => metrics.rotations.inc({ kind, result: entered }));
  const pool = config.signingWorkers > 0 ? new SigningPool(config.signingWorkers, SIGNING_WORKER) : undefined;
  if (pool) {
    pool.setIssuers(manager.current());
    manager.onChange((set) => pool.setIssuers(set));
  }
  // The names the CA is reached by over the network. Not localhost, which is every host's own (a workload's proxy
  // answers to it too): a certificate for it passes for the CA only with a client on the CA's host.
  const recording = new RecordingHealth();
  const caDnsNames = servingNames(config.listen, config.servingNames).dnsNames.filter((name) => name !== 'localhost');
  const issuer = new SvidIssuer(
    {
      authorities: manager,
      ledger: store.certificates,
      clock,
      random,
      observe: (record, s) => metrics.issued(record, s),
      recording,
      ...(pool ? { leafSigner: pool } : {}),
      // Issuances start only once the core is built, revocations with it.
      revokeWithdrawn: (issuerId, why) => revocations.revokeWithdrawn(issuerId, why, SELF),
    },
    { trustDomain: config.trustDomain, lifetimes: { defaultTtl: config.svidTtl, maxTtl: config.svidMaxTtl, maxTtlSetting: CLI_SETTING_NAMES.svidMaxTtl }, caDnsNames },
  );
  const crls = new CrlService({ authorities: manager, store: store.certificates, clock, storeUnavailable: (err) => store.unavailable(err) }, config.crlValidity);
  manager.onChange(() => crls.invalidate());
  const revocations = new RevocationService({ store: store.certificates, crls, manager, clock });
  const revokeAsCa: Revoke = (selector, reason) => revocations.revoke(selector, reason, SELF);
  const agents = new AgentService(
    { store: store.registrations, issuer, clock, random, onRevocation: () => crls.invalidate(), recording },
    { trustDomain: config.trustDomain, agentSvidTtl: config.agentSvidTtl },
  );
  const adminRenewal = new AdminRenewal({ issuer, store: store.registrations, revoke: revokeAsCa }, { trustDomain: config.trustDomain });
  const tokens = new JoinTokenService({ store: store.registrations, clock, random }, { tokenTtl: config.joinTokenTtl, tokenMaxTtl: JOIN_TOKEN_MAX_TTL });
  const standing = new ClientStanding({ store: store.registrations, clock });
  const finished = await revocations.finishTaints(SELF);
  if (finished) logger.warn({ revoked: finished }, 'revoked what a tainted intermediate signed: the taint was interrupted before it could');
  const retired = await revocations.finishRootRetirements(SELF);
  if (retired) logger.warn({ revoked: retired }, 'revoked what still chained to a retired root: its forced retirement was interrupted before it could');
  manager.onForeignTaint((id) => {
    revocations.revokeSignedBy(id, SELF).catch((err: unknown) => logger.error({ err, intermediate: id }, 'could not revoke what this replica signed with an intermediate another replica tainted'));
  });
  manager.onForeignRootRetirement((id) => {
    revocations.finishRootRetirements(SELF).catch((err: unknown) => logger.error({ err, root: id }, 'could not revoke what this replica signed under a root another replica retired'));
  });
  const entries = new EntryService(
    { store: store.registrations, issuer, clock, random, revoke: revokeAsCa },
    { trustDomain: config.trustDomain, lifetimes: { maxTtl: config.svidMaxTtl, maxTtlSetting: CLI_SETTING_NAMES.svidMaxTtl }, caDnsNames },
  );
  const audit = new AuditService({ store: store.audit, authorities: manager, journal: store.authorities, clock });
  let lastRotationFailure: { at: number; message: string } | undefined;
  const services: ServerServices = {
    trustDomain: config.trustDomain,
    clock,
    authorities: manager,
    issuer,
    csrVerifier: pool ?? inThreadCsrVerifier,
    datastoreReachable: () => store.reachable(),
    datastoreWritable: () => store.writable(),
    recording,
    bundleRefreshHint: config.bundleRefreshHint,
    agents,
    adminRenewal,
    tokens,
    entries,
    catalog: store.certificates,
    audit,
    auditStore: store.audit,
    lifecycle: {
      manager,
      rootPropagation: config.rootPropagation,
      // This replica's sightings first; other replicas write theirs each minute.
      agentsUnseenSince: async (since: number, now: number) => {
        await standing.flushSeen();
        return agentsNotSeenSince(await agents.list(), since, now);
      },
      rootHorizon: config.rootExpiryHorizon,
      lastRotationFailure: () => lastRotationFailure,
    },
    revocations,
    revocationStore: store.certificates,
    crls,
    limits: {
      // A bucket smaller than the largest batch would refuse a full batch for ever, with a Retry-After that lies.
      signing: new RateLimiter(clock, config.agentRateLimit, Math.max(config.agentRateLimit * 4, MAX_BATCH)),
      attestation: new RateLimiter(clock, config.attestRateLimit / 60, config.attestRateLimit),
      adminRenewal: new RateLimiter(clock, ADMIN_RENEWALS.perSecond, ADMIN_RENEWALS.burst),
      maxBatch: MAX_BATCH,
    },
  };
  const prune = () => {
    const before = nowSeconds(clock) - config.retention;
    return store.certificates.pruneExpired(before, (count) => ({
      type: 'certificates.pruned',
      actor: SELF,
      data: { count, expiredBefore: before, retention: formatDuration(config.retention) },
    }));
  };
  const noteRotation = (failure: Error | undefined) => {
    lastRotationFailure = failure ? { at: nowSeconds(clock), message: failure.message } : undefined;
  };
  return { manager, crls, noteRotation, issuer, agents, standing, audit, metrics, services, prune, close: async () => pool?.close() };
}

/** The configuration as recorded in the audit log at start: everything but secrets. */
function describeConfig(config: ServerConfig): Record<string, unknown> {
  return {
    trustDomain: config.trustDomain.name,
    datastore: config.datastore.kind,
    listen: formatListenAddress(config.listen),
    dataDir: config.dataDir,
    rootTtl: formatDuration(config.rootTtl),
    intermediateTtl: formatDuration(config.intermediateTtl),
    svidTtl: formatDuration(config.svidTtl),
    svidMaxTtl: formatDuration(config.svidMaxTtl),
    retention: formatDuration(config.retention),
    keysEncrypted: config.keyPassphrase !== undefined,
  };
}
