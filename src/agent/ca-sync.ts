/**
 * The periodic sync with the CA (every --sync-interval): the agent's entries,
 * the trust bundle and the CRLs, and what they change in --out.
 */
import { checkedBundle, checkedCrl } from './ca-answers.js';
import { CaRequestError } from './ca-api.js';
import { worthReplacing } from './crl-freshness.js';
import type { AgentIdentity } from './agent-identity.js';
import type { Installation } from './installation.js';
import type { SidecarCounters, SidecarDeps } from './sidecar-deps.js';
import type { TrustMaterial } from './trust-material.js';
import type { WorkloadSvid } from './workload-svid.js';

export class CaSync {
  private nextMs = 0;
  private lastMs: number | undefined;

  constructor(
    private readonly client: SidecarDeps['client'],
    private readonly intervalMs: number,
    private readonly parts: {
      readonly identity: AgentIdentity;
      readonly trust: TrustMaterial;
      readonly workload: WorkloadSvid;
      readonly installation: Installation;
      readonly counters: SidecarCounters;
    },
  ) {}

  get lastSyncMs(): number | undefined {
    return this.lastMs;
  }

  get nextSyncMs(): number {
    return this.nextMs;
  }

  /** Due every interval, and at every step until an entry is known. */
  due(now: number): boolean {
    return now >= this.nextMs || !this.parts.workload.entry;
  }

  async run(now: number): Promise<void> {
    const { identity, trust, workload, installation, counters } = this.parts;
    identity.configureClient();
    let res;
    try {
      res = await this.client.sync();
    } catch (err) {
      counters.syncFailures++;
      if (err instanceof CaRequestError && err.credentialRejected) await identity.dropRefused(err);
      throw err;
    }
    counters.syncs++;
    this.lastMs = now;
    this.nextMs = now + this.intervalMs;
    await trust.adoptBundle(checkedBundle(res.bundle, trust.bundlePem));
    // The CRLs held were checked when they came; CRLs that say what they say (another replica's copy) cost no second look.
    const replacing = res.crl !== undefined && worthReplacing(trust.crlPem, res.crl, Math.floor(now / 1000));
    trust.adoptCrl(replacing ? checkedCrl(res.crl, res.crlIssuers, trust.bundlePem) : undefined);
    workload.adoptEntries(res.entries);
    installation.catchUpWith(trust, now, res.bundleSequence);
  }
}
