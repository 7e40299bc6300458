/**
 * The workload's SVID: which registration entry it is for, and getting a new
 * one from the CA when none is installed, the entry changed, or the installed
 * one is due for renewal.
 */
import { checkedBundle, checkIssued } from './ca-answers.js';
import { CaRequestError, type EntryWire } from './ca-api.js';
import type { AgentIdentity } from './agent-identity.js';
import type { CaClockCheck } from './clock-skew.js';
import { holdCertificate, newKeyWithCsr } from './credentials.js';
import type { Installation } from './installation.js';
import { SidecarConfigurationError, type SidecarCounters, type SidecarDeps, type SidecarSettings } from './sidecar-deps.js';
import { renewalAfterReceipt } from './timing.js';
import type { TrustMaterial } from './trust-material.js';

export class WorkloadSvid {
  private chosen: EntryWire | undefined;

  constructor(
    private readonly deps: Pick<SidecarDeps, 'client' | 'log' | 'clock' | 'random'>,
    private readonly settings: Pick<SidecarSettings, 'spiffeId' | 'keyType'>,
    private readonly parts: {
      readonly installation: Installation;
      readonly trust: TrustMaterial;
      readonly identity: AgentIdentity;
      readonly clockCheck: CaClockCheck;
      readonly counters: SidecarCounters;
    },
  ) {}

  /** The entry the installed SVID is for; undefined before the first sync, or while none grants one. */
  get entry(): EntryWire | undefined {
    return this.chosen;
  }

  /** Chooses among the entries a sync brought, and keeps an SVID found in --out if it matches the choice. */
  adoptEntries(entries: readonly EntryWire[]): void {
    this.chosen = this.chooseEntry(entries);
    this.parts.installation.bindFound(this.chosen);
  }

  private chooseEntry(entries: readonly EntryWire[]): EntryWire | undefined {
    const wanted = this.settings.spiffeId;
    if (wanted) {
      const match = entries.find((e) => e.spiffeId === wanted);
      if (!match) this.deps.log.warn({ wanted, granted: entries.map((e) => e.spiffeId) }, 'no entry grants this agent the --spiffe-id yet');
      return match;
    }
    if (entries.length > 1) {
      const listed = entries.map((e) => `  ${e.spiffeId} (entry ${e.id})`).join('\n');
      const choices = `this agent has ${entries.length} entries; choose one with --spiffe-id:\n${listed}\nrestarted with --spiffe-id: ${this.parts.identity.restartNeeds()}`;
      // At start-up this is a configuration error (also with an SVID found in
      // --out: its entry is not known yet); later, an operator adding an entry
      // must not stop an agent whose workload is serving: it keeps its identity.
      const installedEntryId = this.parts.installation.current?.entryId;
      if (installedEntryId === undefined) throw new SidecarConfigurationError(choices);
      const kept = entries.find((e) => e.id === installedEntryId);
      this.deps.log.error({ kept: kept?.spiffeId ?? null }, choices);
      return kept;
    }
    if (entries.length === 0) this.deps.log.warn({}, 'no registration entry grants this agent an identity yet');
    return entries[0];
  }

  /** Gets and installs a new SVID for the entry when one is due. */
  async ensure(now: number): Promise<void> {
    const entry = this.chosen;
    if (!entry) return;
    const { installation, trust, identity, counters } = this.parts;
    const current = installation.current;
    // By the CA's clock too, when this host's is far behind it: an SVID due by the CA's time expires by its peers'.
    const latest = Math.max(now, this.parts.clockCheck.caNowMs(now));
    const due = !current || current.entryId !== entry.id || current.entryRevision !== entry.revision || latest >= current.renewAtMs;
    if (!due) return;
    const pending = installation.pendingFor(entry.id, entry.revision, now);
    if (pending && !trust.revokes(pending.serial)) {
      await installation.install({ ...pending, bundlePem: trust.bundlePem, crlPem: trust.crlPem });
      counters.renewals++;
      this.deps.log.info({ spiffeId: pending.spiffeId, serial: pending.serial }, 'installed the SVID that --out could not take before');
      return;
    }
    const { keyPem, csr } = await newKeyWithCsr(this.settings.keyType);
    let res;
    try {
      res = await this.deps.client.workloadSvids([{ entryId: entry.id, csr }]);
    } catch (err) {
      counters.renewalFailures++;
      if (err instanceof CaRequestError && err.code === 'entry_not_granted') this.chosen = undefined;
      if (err instanceof CaRequestError && err.credentialRejected) await identity.dropRefused(err);
      throw err;
    }
    const svid = res.svids[0]!;
    const held = holdCertificate(keyPem, svid.svid);
    if (!held) throw new Error('the CA answered with a certificate that does not match the key sent');
    const bundle = checkedBundle(res.bundle, trust.bundlePem);
    checkIssued(held, { spiffeId: entry.spiffeId, dnsNames: entry.dns }, bundle);
    await trust.adoptBundle(bundle);
    const skew = this.parts.clockCheck.inspectFresh(held, 'SVID');
    if (skew?.code === 'svid_expired_on_arrival') {
      // Not installed: it would be due again at once, and the CA asked for another at every step.
      counters.renewalFailures++;
      throw skew;
    }
    if (skew) this.deps.log.error(skew.logFields, skew.message);
    await installation.install({
      ...held,
      entryId: entry.id,
      entryRevision: entry.revision,
      bundlePem: trust.bundlePem,
      crlPem: trust.crlPem,
      renewAtMs: renewalAfterReceipt(held, this.deps.clock.nowMs(), this.deps.random, svid.renewAfter),
    });
    counters.renewals++;
    this.deps.log.info({ spiffeId: held.spiffeId, serial: held.serial, notAfter: new Date(held.notAfterMs).toISOString() }, 'installed a new SVID');
  }
}
