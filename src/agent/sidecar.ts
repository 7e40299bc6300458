/**
 * The agent's reconcile loop. Each `step` compares what is installed with what
 * should be (a valid agent SVID, a fresh workload SVID for the chosen entry,
 * the current bundle, a proxy that has reloaded) and does what is missing; it
 * returns how long to wait before the next step. All timing comes from the
 * injected clock and randomness, so tests can drive it without sleeping.
 *
 * A failure never removes what is installed: the proxy keeps its certificate
 * while it is valid, and the agent retries with capped, jittered backoff.
 *
 * This file composes the parts and schedules them; each part is its own
 * module: agent-identity (the agent SVID), ca-sync (entries, bundle, CRL),
 * workload-svid (the entry and its SVID), installation (--out), out-watch
 * (--out losing what was installed), proxy-reload, restore (what a previous
 * run left), clock-skew and timing.
 */
import { chainsToBundle } from './ca-answers.js';
import { AgentIdentity, type AgentSvid } from './agent-identity.js';
import { CaRequestError } from './ca-api.js';
import { CaSync } from './ca-sync.js';
import { countingWriteFailures } from './counted-state.js';
import { CaClockCheck, ClockSkewError, SkewReports } from './clock-skew.js';
import type { HeldCertificate } from './credentials.js';
import { InstallError, Installation, type InstalledSvid } from './installation.js';
import { OutWatch } from './out-watch.js';
import { ProxyReload } from './proxy-reload.js';
import { findInstalledSvid, restoreStateDir } from './restore.js';
import {
  describeError,
  newCounters,
  RereadFile,
  retryNote,
  SidecarConfigurationError,
  type SidecarCounters,
  type SidecarDeps,
  type SidecarSettings,
} from './sidecar-deps.js';
import { caRetryDelay, DEFAULT_BACKOFF, slackMs, waitUntilDue } from './timing.js';
import { TrustMaterial } from './trust-material.js';
import { WorkloadSvid } from './workload-svid.js';

export { SidecarConfigurationError, type SidecarDeps, type SidecarLogger, type SidecarSettings } from './sidecar-deps.js';

export interface SidecarStatus {
  readonly installed: InstalledSvid | undefined;
  readonly agentSvid: AgentSvid | undefined;
  readonly lastSyncMs: number | undefined;
  /** Files were installed and the proxy has not yet reloaded them. */
  readonly reloadPending: boolean;
  /**
   * The CA refused the agent's own credential and it has not attested again:
   * an eviction or ban revokes the workload SVIDs too, so one kept in --out
   * is probably revoked.
   */
  readonly agentRefused: boolean;
  /** What /readyz answers: the installed SVID may be served (ready()). */
  readonly ready: boolean;
  readonly counters: Readonly<SidecarCounters>;
}

export class Sidecar {
  private readonly counters = newCounters();
  private readonly trust: TrustMaterial;
  private readonly clockCheck: CaClockCheck;
  private readonly identity: AgentIdentity;
  private readonly reload: ProxyReload;
  private readonly installation: Installation;
  private readonly workload: WorkloadSvid;
  private readonly caSync: CaSync;
  private readonly outWatch: OutWatch;
  /**
   * Called when a readiness probe sees --out lose what was installed and it
   * may be installed again at once (OutWatch.mayRepairNow): the composition
   * root then runs a step, as for SIGHUP. Without it, the next step does.
   */
  onOutLost: (() => void) | undefined;
  /** Consecutive failures to reach or use the CA, and when the next attempt may be made. */
  private failures = 0;
  private retryAtMs = 0;
  private retryDelayMs = 0;
  private readonly skewReports = new SkewReports();
  /**
   * The SVID the proxy serves, as far as the agent knows: the one installed
   * at its last successful reload in this run. Before one, the agent cannot
   * know what the proxy read (a restart does not tell it whether the last
   * run's reloads worked).
   */
  private loaded: HeldCertificate | undefined;
  /** The installed SVID whose proxy was reported, at error level, as serving an unusable one. */
  private staleProxyReported: string | undefined;

  constructor(
    private readonly deps: SidecarDeps,
    private readonly settings: SidecarSettings,
    initialTrustPem: string,
  ) {
    // Every part is handed this.deps, whose --state-dir counts the writes its disk refuses.
    if (deps.state) this.deps = { ...deps, state: countingWriteFailures(deps.state, () => this.counters.stateWriteFailures++) };
    // A new bundle must reach the installed files and the client's connections.
    this.trust = new TrustMaterial(initialTrustPem, this.deps.state, deps.log, () => {
      this.installation.markRepublishDue();
      this.identity.configureClient();
    });
    // The CA is a server whose chain the CA's own CRLs do not revoke; connections are checked again once they change.
    deps.client.distrust?.((serial) => this.trust.revokes(serial));
    this.trust.onCrlChanged = () => deps.client.crlsChanged?.();
    this.clockCheck = new CaClockCheck(deps.client, deps.clock);
    this.bundleFile = new RereadFile(deps.log, '--trust-bundle again for roots added since the start');
    this.identity = new AgentIdentity(this.deps, settings.joinToken, this.trust, this.clockCheck);
    this.reload = new ProxyReload(deps.reload, deps.random, deps.log, this.counters, settings);
    this.installation = new Installation(deps.publish, settings.combined, this.reload, deps.log, this.counters);
    this.workload = new WorkloadSvid(deps, settings, {
      installation: this.installation,
      trust: this.trust,
      identity: this.identity,
      clockCheck: this.clockCheck,
      counters: this.counters,
    });
    this.caSync = new CaSync(deps.client, settings.syncIntervalMs, {
      identity: this.identity,
      trust: this.trust,
      workload: this.workload,
      installation: this.installation,
      counters: this.counters,
      clockCheck: this.clockCheck,
      log: deps.log,
    });
    this.outWatch = new OutWatch(deps.checkPublished, deps.log, settings.syncIntervalMs);
  }

  /** Picks up what a previous run left: the agent SVID and bundle in the state directory, the SVID in --out. */
  async restore(): Promise<void> {
    if (this.deps.state) await restoreStateDir(this.deps.state, this.deps.log, this.trust, this.identity);
    const found = await findInstalledSvid(this.deps.readPublished, {
      nowMs: this.deps.clock.nowMs(),
      spiffeId: this.settings.spiffeId,
      combined: this.settings.combined,
      random: this.deps.random,
      log: this.deps.log,
    });
    if (!found) return;
    this.installation.keepFound(found.svid, found.lacksCombined);
    // A republication before the next sync (a new bundle) must carry the CRL the proxy already checks.
    this.trust.adoptCrlIfNone(found.svid.crlPem);
  }

  status(): SidecarStatus {
    return {
      installed: this.installation.current,
      agentSvid: this.identity.svid,
      lastSyncMs: this.caSync.lastSyncMs,
      reloadPending: this.reload.isPending,
      agentRefused: this.identity.refused,
      ready: this.ready(),
      counters: { ...this.counters },
    };
  }

  /**
   * Set while no CRL is held though the CA's last answer offered some, so
   * crl.pem is not installed, which a proxy that checks CRLs cannot start
   * without: `--once` waits or fails rather than leave it so. `validFromMs`
   * is when a step can install them, had they not been valid yet by this
   * host's clock (a CA whose clock runs ahead); undefined when they were, and
   * were refused (the step's error says why).
   */
  crlsNotInstalled(): { readonly validFromMs: number | undefined } | undefined {
    const offered = this.caSync.offeredCrls;
    if (offered === undefined || this.trust.crlPem !== undefined) return undefined;
    const from = offered.validFromSeconds;
    return { validFromMs: from === undefined ? undefined : (from + 1) * 1000 };
  }

  /**
   * True while the installed SVID is one the proxy may serve (/readyz): not
   * expired, not in the last CRL, not the SVID of an agent the CA refused
   * (an eviction or ban revokes its workload SVIDs too), and judged by a clock
   * that agreed with the CA's when they were last compared.
   */
  ready(): boolean {
    return this.notReadyReason() === undefined;
  }

  /**
   * Makes the next step sync with the CA (SIGHUP), within the backoff of a
   * failing CA; the caller runs that step when it likes.
   */
  requestSync(): void {
    this.caSync.request();
  }

  /** An attestation the CA has received is still being answered or taken in; see AgentIdentity.settlingAttestation. */
  attestationInFlight(): boolean {
    return this.deps.client.spendingToken === true || this.identity.settlingAttestation;
  }

  /**
   * notReadyReason for a readiness probe (/readyz): --out is looked at first,
   * so that files removed or replaced there since the last step are named,
   * and installed again without waiting for the next sync when that may be.
   */
  async probeReadiness(): Promise<string | undefined> {
    if (this.installation.current !== undefined && (await this.outWatch.look(this.deps.clock.nowMs())) && this.outWatch.mayRepairNow(this.deps.clock.nowMs())) this.onOutLost?.();
    return this.notReadyReason();
  }

  /** Why the installed SVID may not be served, for /readyz to say; undefined when it may. */
  notReadyReason(): string | undefined {
    const installed = this.installation.current;
    if (installed === undefined) return 'no SVID is installed yet';
    // First: on a clock too far from the CA's, what the next two say is not to be believed either way.
    if (this.clockCheck.skewed) return "this host's clock disagrees with the CA's, so the SVID's validity cannot be judged";
    const now = this.deps.clock.nowMs();
    if (!this.installation.unexpired(now)) return 'the installed SVID has expired';
    if (now < installed.notBeforeMs) return 'the installed SVID is not valid yet';
    if (this.identity.refused) {
      return 'the CA refused this agent (evicted, banned, its SVID revoked, or superseded by another agent under its name): an eviction or ban revokes the installed SVID too, and until the agent attests again it learns of no revocation';
    }
    if (this.identity.attestedSinceRefusal) {
      return 'the agent attested again after the CA refused it, and has not yet synced the CRLs that may revoke the installed SVID (an eviction or ban revokes it too)';
    }
    if (this.trust.revokes(installed.serial)) return 'the installed SVID is revoked (listed in the CRL)';
    if (!this.chainsToTrustedBundle(installed)) return 'the installed SVID does not chain to the trust bundle (another CA issued it)';
    const loss = this.outWatch.loss;
    if (loss !== undefined) return `${loss}: the proxy would fail at its next reload or restart; the agent installs the files again`;
    return this.proxyServesUnusable(now);
  }

  /** Why the proxy may not serve a usable SVID while reloading it with the installed one fails; undefined when it does. */
  private proxyServesUnusable(now: number): string | undefined {
    const loaded = this.loaded;
    // Until a reload has been tried, the proxy is taken to serve what --out held (a restart keeps a workload ready).
    if (!this.reload.failing) return undefined;
    if (loaded === undefined) return 'the proxy has not been reloaded since the agent started (reloading it failed), so what it serves is unknown';
    if (loaded.serial === this.installation.current?.serial) return undefined;
    if (now >= loaded.notAfterMs) return 'the proxy was not reloaded (reloading it failed), and still serves an SVID that has expired';
    if (this.trust.revokes(loaded.serial)) return 'the proxy was not reloaded (reloading it failed), and still serves an SVID that is revoked';
    return undefined;
  }

  /** Checked once per SVID and bundle: /readyz asks on every probe. */
  private chainCheck: { readonly chainPem: string; readonly bundlePem: string; readonly chains: boolean } | undefined;

  private chainsToTrustedBundle(installed: HeldCertificate): boolean {
    const bundlePem = this.trust.bundlePem;
    if (this.chainCheck?.chainPem !== installed.chainPem || this.chainCheck.bundlePem !== bundlePem) {
      this.chainCheck = { chainPem: installed.chainPem, bundlePem, chains: chainsToBundle(installed, bundlePem) };
    }
    return this.chainCheck.chains;
  }

  /** Does what is due and returns the milliseconds until the next step should run. */
  async step(): Promise<number> {
    const repairTried = await this.restoreOut();
    const now = this.deps.clock.nowMs();
    // An operator has just given it: tried at once, whatever the backoff.
    if (await this.identity.takeNewToken()) this.retryAtMs = Math.min(this.retryAtMs, now);
    if (this.failures > 0 && (await this.takeOperatorRoots())) this.retryAtMs = Math.min(this.retryAtMs, now);
    // Also when the clock was set back since the retry was scheduled (time sync fixed at last): the wait chosen
    // then must not grow by the correction, hours after a clock-skew error.
    if (now >= this.retryAtMs || this.retryAtMs - now > this.retryDelayMs) {
      try {
        await this.reconcile(now);
        this.failures = 0;
        this.skewReports.clear();
      } catch (err) {
        if (err instanceof SidecarConfigurationError) throw err;
        this.failures++;
        this.retryDelayMs = this.retryDelayAfter(err, now);
        this.retryAtMs = now + this.retryDelayMs;
        const fields = { attempt: this.failures, retryInMs: this.retryAtMs - now };
        if (err instanceof ClockSkewError) {
          if (this.skewReports.shouldSay(err, now)) this.deps.log.error({ ...err.logFields, ...fields }, `${err.message}${retryNote(this.settings)}`);
        }
        else if (err instanceof InstallError) this.deps.log.error({ err: describeError(err.cause), ...fields }, `${err.message}${retryNote(this.settings)}`);
        else this.deps.log.warn({ err: describeError(err), ...fields }, `could not reach or use the CA${retryNote(this.settings)}`);
      }
    }
    // Again after the CA's part: a loss seen while a request to the CA was in flight (a probe's early step waits for
    // the step under way) is repaired as soon as that request ends, not a step later. Not twice in one step.
    if (!repairTried) await this.restoreOut();
    if (await this.reload.runIfDue(this.deps.clock.nowMs())) this.loaded = this.installation.current;
    this.installation.reportExpiry(this.deps.clock.nowMs());
    this.reportStaleProxy(this.deps.clock.nowMs());
    return this.nextWakeIn();
  }

  private async reconcile(now: number): Promise<void> {
    let failed: { error: unknown } | undefined;
    try {
      await this.identity.ensure(now);
      if (this.caSync.due(now)) await this.caSync.run(now);
      await this.workload.ensure(now);
    } catch (error) {
      failed = { error };
    }
    // Also when no new SVID could be had (the CA refusing issuance with 503
    // or 429 while sync works): a revoked peer or a new root cannot wait
    // for the next successful renewal.
    try {
      await this.installation.republishIfDue(this.trust);
    } catch (err) {
      // The CA's answer decides the retry (a Retry-After, a configuration error that ends the run): the disk's failure is only said.
      if (!failed || !(err instanceof InstallError)) throw err;
      this.deps.log.error({ err: describeError(err.cause) }, `${err.message}${retryNote(this.settings)}`);
    }
    if (failed) throw failed.error;
  }

  /**
   * Installs what is held again when --out has lost some of it. At the
   * start and the end of every step, outside the CA's backoff: it needs no
   * CA, and a step begun after the loss must not wait for one that does not
   * answer. A failure is the disk's, said as such and tried again at the
   * next step. Says whether it tried (and so logged any failure).
   */
  private async restoreOut(): Promise<boolean> {
    if (this.installation.current === undefined) return false;
    await this.outWatch.look(this.deps.clock.nowMs());
    // At most every half sync interval, whatever else wakes the loop: each publication makes a reload due at once,
    // so against something that keeps changing --out a failing reload would otherwise repair at every retry.
    if (this.outWatch.loss === undefined || !this.outWatch.mayRepairNow(this.deps.clock.nowMs())) return false;
    try {
      await this.installation.reinstall(this.trust);
      this.outWatch.repaired(this.deps.clock.nowMs());
      this.counters.outRepairs++;
    } catch (err) {
      if (!(err instanceof InstallError)) throw err;
      this.deps.log.error({ err: describeError(err.cause) }, `${err.message}${retryNote(this.settings)}`);
    }
    return true;
  }

  private readonly bundleFile: RereadFile<boolean>;

  /**
   * While the CA cannot be reached or used, roots an operator has added to
   * --trust-bundle since the start: an agent that slept through a root
   * rotation cannot verify the CA, which serves under the new root, and so
   * cannot learn of it from the CA. True when there were any.
   */
  private async takeOperatorRoots(): Promise<boolean> {
    const read = this.deps.readTrustBundle;
    if (!read) return false;
    const trust = this.trust;
    // A file of no certificates is as unreadable as a missing one.
    const added = await this.bundleFile.read(async () => trust.trustOperatorRoots(await read()));
    if (added) this.deps.log.info({}, "trusting the roots added to --trust-bundle since the start, until the CA's own bundle replaces them");
    return added === true;
  }

  /** Says so once per installed SVID, at error level: peers may refuse the proxy, and /readyz says why. */
  private reportStaleProxy(now: number): void {
    const stale = this.proxyServesUnusable(now);
    const installed = this.installation.current?.serial;
    if (!stale || this.staleProxyReported === installed) return;
    this.staleProxyReported = installed;
    // Not knowing is usual for a few seconds at a pod's start, while the proxy starts beside the agent.
    if (this.loaded === undefined) this.deps.log.warn({ installed }, stale);
    else this.deps.log.error({ served: this.loaded.serial, installed }, stale);
  }

  /**
   * See timing.ts caRetryDelay; the slack is what the installed SVID and the
   * agent's own have left. Waiting for a new join token is no outage: the
   * token file is read at every step, and the attempt logged (as a failure)
   * once a sync interval rather than ever more often as the SVID runs out.
   */
  private retryDelayAfter(err: unknown, now: number): number {
    if (this.identity.needsNewToken && !(err instanceof ClockSkewError)) return this.settings.syncIntervalMs;
    return caRetryDelay({
      attempt: this.failures,
      slackMs: slackMs(now, this.installation.current?.notAfterMs, this.identity.svid?.notAfterMs),
      retryAfterMs: err instanceof CaRequestError && err.retryAfterSeconds !== undefined ? err.retryAfterSeconds * 1000 : undefined,
      attestAtOnce: err instanceof CaRequestError && err.credentialRejected && this.identity.canAttest,
      policy: this.settings.backoff ?? DEFAULT_BACKOFF,
      random: this.deps.random,
    });
  }

  /** A renewal time as the loop waits for it: by this host's clock or the CA's, whichever reaches it first (as the due checks do). */
  private firstReached(renewAtMs: number | undefined): number | undefined {
    return renewAtMs === undefined ? undefined : this.clockCheck.firstReachedMs(renewAtMs);
  }

  private nextWakeIn(): number {
    return waitUntilDue(
      this.deps.clock.nowMs(),
      {
        nextSyncMs: this.caSync.nextSyncMs,
        agentRenewalMs: this.firstReached(this.identity.svid?.renewAtMs),
        // Nothing installed yet for a chosen entry after a failed attempt: due again when the retry allows, not at the next sync.
        workloadRenewalMs: this.workload.entry ? (this.firstReached(this.installation.current?.renewAtMs) ?? (this.failures > 0 ? this.retryAtMs : undefined)) : undefined,
        caRetryMs: this.failures > 0 ? this.retryAtMs : undefined,
        installedNotAfterMs: this.installation.current?.notAfterMs,
        reloadRetryMs: this.reload.nextAttemptMs,
      },
      this.settings.syncIntervalMs,
    );
  }
}
