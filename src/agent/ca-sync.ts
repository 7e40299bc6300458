/**
 * The periodic sync with the CA (every --sync-interval): the agent's entries,
 * the trust bundle and the CRLs, and what they change in --out.
 */
import { checkedBundle, checkedCrl } from './ca-answers.js';
import { CaRequestError, type SyncWire } from './ca-api.js';
import { crlsValidFrom, worthReplacing } from './crl-freshness.js';
import type { AgentIdentity } from './agent-identity.js';
import type { CaClockCheck } from './clock-skew.js';
import type { Installation } from './installation.js';
import type { SidecarCounters, SidecarDeps } from './sidecar-deps.js';
import type { TrustMaterial } from './trust-material.js';
import type { WorkloadSvid } from './workload-svid.js';

/** CRLs the CA offered at a sync. */
export interface OfferedCrls {
  /**
   * When they are all valid by this host's clock, in seconds, if one was not
   * yet (a CA whose clock runs ahead): they were not taken then
   * (crl-freshness.ts). Undefined when all were.
   */
  readonly validFromSeconds: number | undefined;
}

export class CaSync {
  private nextMs = 0;
  private lastMs: number | undefined;
  /** Asked for (SIGHUP) and not yet answered by a sync that started after the asking. */
  private requested = false;
  /** See offeredCrls. */
  private offered: OfferedCrls | undefined;

  constructor(
    private readonly client: SidecarDeps['client'],
    private readonly intervalMs: number,
    private readonly parts: {
      readonly identity: AgentIdentity;
      readonly trust: TrustMaterial;
      readonly workload: WorkloadSvid;
      readonly installation: Installation;
      readonly counters: SidecarCounters;
      readonly clockCheck: CaClockCheck;
      readonly log: SidecarDeps['log'];
    },
  ) {}

  get lastSyncMs(): number | undefined {
    return this.lastMs;
  }

  /** The CRLs the CA's last answer to a sync offered, taken or not; undefined when it offered none. */
  get offeredCrls(): OfferedCrls | undefined {
    return this.offered;
  }

  get nextSyncMs(): number {
    return this.requested ? 0 : this.nextMs;
  }

  /** Makes a sync due at the next step, whatever the interval says. */
  request(): void {
    this.requested = true;
  }

  /**
   * Due every interval, and at every step until an entry is known. Also when
   * the clock was set back since the last sync: the next sync was scheduled
   * on the old clock, and waiting for it would stop syncs (revocations,
   * bundles) for as long as the clock moved back. And at once after the
   * agent attested again following a refusal, to learn what it revoked.
   */
  due(now: number): boolean {
    return this.requested || now >= this.nextMs || this.nextMs - now > this.intervalMs || !this.parts.workload.entry || this.parts.identity.attestedSinceRefusal;
  }

  async run(now: number): Promise<void> {
    const { identity, counters } = this.parts;
    identity.configureClient();
    // A request made while this sync is under way is answered by the next one: this one's answer may predate it.
    const requested = this.requested;
    this.requested = false;
    try {
      const res = await this.client.sync().catch(async (err: unknown) => {
        if (err instanceof CaRequestError && err.credentialRejected) await identity.dropRefused(err);
        throw err;
      });
      const skew = this.parts.clockCheck.observe(this.client.lastAnswerDateMs?.());
      if (skew) this.parts.log.error(skew.logFields, skew.message);
      await this.take(res, now);
      identity.synced();
    } catch (err) {
      // An answer refused (a CRL nobody the bundle vouches for signed, a bundle sharing no root) is no sync either:
      // the metrics must not say one was made, and it is asked for again at the retry, as after an outage.
      this.requested ||= requested;
      counters.syncFailures++;
      throw err;
    }
    counters.syncs++;
    this.lastMs = now;
  }

  /** Checks the sync's answer and takes what it brings; throws, having taken at most a checked bundle, when any of it is refused. */
  private async take(res: SyncWire, now: number): Promise<void> {
    const { trust, workload, installation } = this.parts;
    // CRLs from a CA whose clock runs ahead are taken at the first sync once they are valid here, not a whole interval later.
    const validFromSeconds = res.crl === undefined ? undefined : crlsValidFrom(res.crl, Math.floor(now / 1000));
    // Before anything is refused: CRLs offered and refused are CRLs a proxy will not get.
    this.offered = res.crl === undefined ? undefined : { validFromSeconds };
    await trust.adoptBundle(checkedBundle(res.bundle, trust.bundlePem));
    // The CRLs held were checked when they came; CRLs that say what they say (another replica's copy) cost no second look.
    const replacing = res.crl !== undefined && worthReplacing(trust.crlPem, res.crl, Math.floor(now / 1000));
    trust.adoptCrl(replacing ? checkedCrl(res.crl, res.crlIssuers, trust.bundlePem) : undefined);
    workload.adoptEntries(res.entries);
    installation.catchUpWith(trust, now, res.bundleSequence);
    this.nextMs = validFromSeconds === undefined ? now + this.intervalMs : Math.min(now + this.intervalMs, (validFromSeconds + 1) * 1000);
  }
}
