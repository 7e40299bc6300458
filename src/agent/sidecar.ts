/**
 * The agent's reconcile loop. Each `step` compares what is installed with what
 * should be (a valid agent SVID, a fresh workload SVID for the chosen entry,
 * the current bundle, a proxy that has reloaded) and does what is missing; it
 * returns how long to wait before the next step. All timing comes from the
 * injected clock and randomness, so tests can drive it without sleeping.
 *
 * A failure never removes what is installed: the proxy keeps its certificate
 * while it is valid, and the agent retries with capped, jittered backoff.
 */
import type { Clock } from '../time/clock.js';
import { crlSerials } from '../x509/crl.js';
import { certificatesToPem, decodeCertificates, decodePemBlocks } from '../x509/pem.js';
import type { KeyType } from '../x509/keys.js';
import type { RandomSource } from '../random/random-source.js';
import { CaRequestError, type CaApi, type EntryWire, type SvidWire } from './ca-api.js';
import { holdCertificate, newKeyWithCsr, type HeldCertificate } from './credentials.js';
import type { PublishedFile } from './installer.js';
import type { StateStore } from './state-store.js';
import { backoffDelay, DEFAULT_BACKOFF, renewalTime, retryDelay, type BackoffPolicy } from './timing.js';

export interface SidecarLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SidecarDeps {
  readonly client: CaApi;
  readonly publish: (files: readonly PublishedFile[]) => Promise<unknown>;
  /** What the last publication left in --out (a previous run's, at start), if anything. */
  readonly readPublished?: (() => Promise<readonly PublishedFile[] | undefined>) | undefined;
  readonly reload: () => Promise<void>;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly log: SidecarLogger;
  readonly state?: StateStore | undefined;
}

export interface SidecarSettings {
  readonly joinToken?: string | undefined;
  readonly spiffeId?: string | undefined;
  readonly keyType: KeyType;
  readonly syncIntervalMs: number;
  readonly combined: boolean;
  readonly backoff?: BackoffPolicy;
  /** A single step (--once): nothing is retried, so no log may say it will be. */
  readonly once?: boolean;
}

/** Settings the agent cannot work with; raised to the caller (the process exits). */
export class SidecarConfigurationError extends Error {}

/** Reloading the proxy is local and cheap: retry it often, whatever the CA backoff policy says. */
const RELOAD_MAX_RETRY_MS = 30_000;

export interface SidecarStatus {
  readonly installed: HeldCertificate | undefined;
  readonly agentSvid: HeldCertificate | undefined;
  readonly lastSyncMs: number | undefined;
  /** Files were installed and the proxy has not yet reloaded them. */
  readonly reloadPending: boolean;
  /**
   * The CA refused the agent's own credential and it has not attested again:
   * an eviction or ban revokes the workload SVIDs too, so one kept in --out
   * is probably revoked.
   */
  readonly agentRefused: boolean;
  readonly counters: Readonly<Record<'renewals' | 'renewalFailures' | 'reloads' | 'reloadFailures' | 'syncs' | 'syncFailures', number>>;
}

interface Installed extends HeldCertificate {
  /** Undefined for an SVID found in --out at start, until a sync shows it is still what its entry grants. */
  readonly entryId: string | undefined;
  readonly entryRevision: number | undefined;
  readonly bundlePem: string;
  readonly crlPem: string | undefined;
  readonly renewAtMs: number;
}

export class Sidecar {
  private trustPem: string;
  private crlPem: string | undefined;
  /**
   * The bundle or CRL changed since the last installation, or what --out holds
   * lacks a file it should (combined.pem): one publication per step carries it.
   */
  private republishDue = false;
  /** The CA refused the agent's own credential (evicted, banned, revoked) and no new one has been had since. */
  private agentRefused = false;
  private agentSvid: (HeldCertificate & { renewAtMs: number }) | undefined;
  private tokenSpent = false;
  private entry: EntryWire | undefined;
  private installed: Installed | undefined;
  private nextSyncMs = 0;
  private lastSyncMs: number | undefined;
  private failures = 0;
  private retryAtMs = 0;
  private reloadPending = false;
  private reloadFailures = 0;
  private reloadRetryAtMs = 0;
  private expiryReported = false;
  private readonly counters = { renewals: 0, renewalFailures: 0, reloads: 0, reloadFailures: 0, syncs: 0, syncFailures: 0 };

  constructor(
    private readonly deps: SidecarDeps,
    private readonly settings: SidecarSettings,
    initialTrustPem: string,
  ) {
    this.trustPem = initialTrustPem;
  }

  /** Picks up what a previous run left: the agent SVID and bundle in the state directory, the SVID in --out. */
  async restore(): Promise<void> {
    await this.restoreState();
    await this.restoreInstalled();
  }

  private async restoreState(): Promise<void> {
    if (!this.deps.state) return;
    const removed = await this.deps.state.removeCrashLeftovers();
    if (removed.length) this.deps.log.info({ removed }, 'removed temporary files a crash left in the state directory');
    const saved = await this.deps.state.load();
    // The saved bundle may predate a root rotation the agent slept through, and the
    // configured one may predate the saved: trust both until the CA sends its own.
    if (saved.bundlePem) {
      try {
        this.trustPem = unionOfBundles(this.trustPem, saved.bundlePem);
      } catch {
        this.deps.log.warn({}, 'the saved trust bundle is unreadable; trusting --trust-bundle alone');
      }
    }
    const held = saved.credential && holdCertificate(saved.credential.keyPem, saved.credential.chainPem);
    if (held && held.notAfterMs > this.deps.clock.nowMs()) {
      // Due when its own life says, however often the agent restarts; at once if that is past.
      this.agentSvid = { ...held, renewAtMs: this.halfLife(held) };
      this.deps.log.info({ spiffeId: held.spiffeId, notAfter: new Date(held.notAfterMs).toISOString() }, 'reusing the agent SVID from the state directory');
    }
  }

  /**
   * Takes a valid SVID already in --out as installed, so that a restart keeps
   * the workload ready, reports its expiry and retries at the pace of an agent
   * with an SVID. Its entry is unknown until the first sync, which keeps it
   * only if it still matches (bindFoundSvid); otherwise it is replaced.
   */
  private async restoreInstalled(): Promise<void> {
    const files = await this.deps.readPublished?.().catch(() => undefined);
    const read = (name: string) => files?.find((f) => f.name === name)?.data;
    const [chainPem, keyPem] = [read('svid.pem'), read('svid_key.pem')];
    const held = chainPem && keyPem ? holdCertificate(keyPem, chainPem) : undefined;
    const unusable = held ? this.unusableFoundSvid(held) : 'no SVID with its own key';
    if (!held || unusable) {
      if (files) this.deps.log.info({ reason: unusable }, 'not keeping what --out holds; installing a new SVID');
      return;
    }
    this.installed = { ...held, entryId: undefined, entryRevision: undefined, bundlePem: read('bundle.pem') ?? '', crlPem: read('crl.pem'), renewAtMs: this.halfLife(held) };
    // A republication before the next sync (a new bundle) must carry the CRL the proxy already checks.
    this.crlPem ??= this.installed.crlPem;
    // --out written by a run without --combined: publish the same SVID again with combined.pem, rather than leave
    // a proxy that reads it without its file until the next renewal.
    if (this.settings.combined && read('combined.pem') !== held.keyPem + held.chainPem) this.republishDue = true;
    // The last run may have died between installing these files and reloading the proxy, which then serves older
    // ones (a CRL missing a revocation) until the next change. Reloading once costs the proxy little and needs no
    // record, where remembering what was reloaded would need a --state-dir, which is optional, and a second write
    // per installation that a crash can separate from the first.
    this.reloadPending = true;
    this.deps.log.info({ spiffeId: held.spiffeId, notAfter: new Date(held.notAfterMs).toISOString() }, 'keeping the valid SVID already installed in --out');
  }

  private unusableFoundSvid(held: HeldCertificate): string | undefined {
    if (held.notAfterMs <= this.deps.clock.nowMs()) return 'expired';
    if (this.settings.spiffeId !== undefined && held.spiffeId !== this.settings.spiffeId) return `for ${held.spiffeId}, not --spiffe-id`;
    return undefined;
  }

  status(): SidecarStatus {
    return {
      installed: this.installed,
      agentSvid: this.agentSvid,
      lastSyncMs: this.lastSyncMs,
      reloadPending: this.reloadPending,
      agentRefused: this.agentRefused,
      counters: { ...this.counters },
    };
  }

  /**
   * True while the installed SVID is one the proxy may serve (/readyz): not
   * expired, not in the last CRL, and not the SVID of an agent the CA refused
   * (an eviction or ban revokes its workload SVIDs too).
   */
  ready(): boolean {
    return this.installedUnexpired() && !this.installedRevoked() && !this.agentRefused;
  }

  private installedUnexpired(): boolean {
    return this.installed !== undefined && this.deps.clock.nowMs() < this.installed.notAfterMs;
  }

  private installedRevoked(): boolean {
    return this.installed !== undefined && this.crlPem !== undefined && revokedSerials(this.crlPem).has(this.installed.serial);
  }

  /** Does what is due and returns the milliseconds until the next step should run. */
  async step(): Promise<number> {
    const now = this.deps.clock.nowMs();
    if (now >= this.retryAtMs) {
      try {
        await this.reconcile(now);
        this.failures = 0;
      } catch (err) {
        if (err instanceof SidecarConfigurationError) throw err;
        this.failures++;
        this.retryAtMs = now + this.retryDelayAfter(err, now);
        this.deps.log.warn({ err: describe(err), attempt: this.failures, retryInMs: this.retryAtMs - now }, `could not reach or use the CA${this.willRetry()}`);
      }
    }
    await this.reloadIfPending(this.deps.clock.nowMs());
    this.reportExpiry();
    return this.nextWakeIn();
  }

  /**
   * The CA's suggested time, or half-life with jitter, counted from when the
   * certificate was received if that is later than its notBefore (which the
   * CA sets back for clock skew), so a short-lived SVID is never due the
   * moment it arrives.
   */
  private renewAt(held: HeldCertificate, suggested?: string): number {
    const start = Math.max(held.notBeforeMs, Math.min(this.deps.clock.nowMs(), held.notAfterMs));
    const suggestedMs = suggested === undefined ? undefined : Date.parse(suggested);
    return renewalTime(start, held.notAfterMs, this.deps.random, Number.isNaN(suggestedMs) ? undefined : suggestedMs);
  }

  /** Half-life with jitter from the certificate's own times, for one a previous run received (when is unknown). */
  private halfLife(held: HeldCertificate): number {
    return renewalTime(held.notBeforeMs, held.notAfterMs, this.deps.random);
  }

  private willRetry(): string {
    return this.settings.once ? '' : '; will retry';
  }

  /**
   * See timing.ts retryDelay: jittered backoff bounded by what the SVIDs have
   * left (slackMs); no wait when the CA just refused the agent's credential and
   * an unused join token can replace it; and never sooner than a 429's
   * Retry-After, unless that would outlast half of what the SVIDs have left.
   */
  private retryDelayAfter(err: unknown, now: number): number {
    if (err instanceof CaRequestError && err.credentialRejected && !this.agentSvid && this.settings.joinToken && !this.tokenSpent) return 0;
    const remaining = this.slackMs(now);
    const delay = retryDelay(this.failures, remaining, this.settings.backoff ?? DEFAULT_BACKOFF, this.deps.random);
    const askedMs = err instanceof CaRequestError && err.retryAfterSeconds !== undefined ? err.retryAfterSeconds * 1000 : 0;
    return Math.max(delay, remaining > 0 ? Math.min(askedMs, remaining / 2) : askedMs);
  }

  /**
   * How long the agent can go without the CA: until the installed SVID
   * expires (0 without one: the workload is down), or sooner the agent's own
   * SVID, whose expiry would need a new join token to recover from. One that
   * has expired already bounds nothing: retrying sooner cannot save it.
   */
  private slackMs(now: number): number {
    if (!this.installed || this.installed.notAfterMs <= now) return 0;
    const agentLeft = this.agentSvid && this.agentSvid.notAfterMs > now ? this.agentSvid.notAfterMs - now : Infinity;
    return Math.min(this.installed.notAfterMs - now, agentLeft);
  }

  private async reconcile(now: number): Promise<void> {
    try {
      await this.ensureAgentSvid(now);
      if (now >= this.nextSyncMs || !this.entry) await this.sync(now);
      await this.ensureWorkloadSvid(now);
    } finally {
      // Also when no new SVID could be had (the CA refusing issuance with 503
      // or 429 while sync works): a revoked peer or a new root cannot wait
      // for the next successful renewal.
      if (this.republishDue && this.installed) await this.install({ ...this.installed, bundlePem: this.trustPem, crlPem: this.crlPem });
    }
  }

  private async ensureAgentSvid(now: number): Promise<void> {
    if (this.agentSvid && now < this.agentSvid.notAfterMs) {
      if (now < this.agentSvid.renewAtMs) return;
      const { keyPem, csr } = await newKeyWithCsr('ec-p256');
      this.configureClient();
      try {
        const res = await this.deps.client.renew(csr);
        await this.adoptAgentSvid(keyPem, res.svid, res.bundle);
        this.deps.log.info({ notAfter: res.svid.notAfter }, 'renewed the agent SVID');
        return;
      } catch (err) {
        if (!(err instanceof CaRequestError && err.credentialRejected)) throw err;
        await this.dropRefusedAgentSvid(err);
      }
    }
    if (this.agentSvid) this.deps.log.error({ spiffeId: this.agentSvid.spiffeId }, 'the agent SVID has expired; attesting again needs a new join token');
    this.agentSvid = undefined;
    if (!this.settings.joinToken || this.tokenSpent) {
      throw new Error('no valid agent SVID and no unused join token: give a new --join-token (meshca token create --agent NAME)');
    }
    const { keyPem, csr } = await newKeyWithCsr('ec-p256');
    this.deps.client.configure(this.trustPem, undefined);
    try {
      const res = await this.deps.client.attest(this.settings.joinToken, csr);
      await this.adoptAgentSvid(keyPem, res.svid, res.bundle);
      this.deps.log.info({ spiffeId: res.svid.spiffeId }, 'attested with the join token');
    } catch (err) {
      // A refused token will not become valid by retrying.
      if (err instanceof CaRequestError && err.status === 401) this.tokenSpent = true;
      throw err;
    }
    this.tokenSpent = true;
  }

  private async dropRefusedAgentSvid(err: CaRequestError): Promise<void> {
    this.deps.log.error({ code: err.code }, 'the CA refused the agent SVID; the agent must attest again with a new join token');
    this.agentSvid = undefined;
    this.agentRefused = true;
    await this.deps.state?.forgetCredential();
  }

  private async adoptAgentSvid(keyPem: string, svid: SvidWire, bundlePem: string): Promise<void> {
    const held = holdCertificate(keyPem, svid.svid);
    if (!held) throw new Error('the CA answered with a certificate that does not match the key sent');
    await this.deps.state?.saveCredential({ keyPem, chainPem: svid.svid });
    this.agentSvid = { ...held, renewAtMs: this.renewAt(held, svid.renewAfter) };
    this.agentRefused = false;
    await this.adoptBundle(bundlePem);
    this.configureClient();
  }

  private async adoptBundle(bundlePem: string): Promise<boolean> {
    if (bundlePem === this.trustPem) return false;
    this.trustPem = bundlePem;
    // Installed at the end of this step, unless a new SVID is installed first (with it).
    if (this.installed) this.republishDue = true;
    await this.deps.state?.saveBundle(bundlePem);
    this.configureClient();
    return true;
  }

  private configureClient(): void {
    this.deps.client.configure(this.trustPem, this.agentSvid && { keyPem: this.agentSvid.keyPem, chainPem: this.agentSvid.chainPem });
  }

  private async sync(now: number): Promise<void> {
    this.configureClient();
    let res;
    try {
      res = await this.deps.client.sync();
    } catch (err) {
      this.counters.syncFailures++;
      if (err instanceof CaRequestError && err.credentialRejected) await this.dropRefusedAgentSvid(err);
      throw err;
    }
    this.counters.syncs++;
    this.lastSyncMs = now;
    this.nextSyncMs = now + this.settings.syncIntervalMs;
    await this.adoptBundle(res.bundle);
    if (res.crl !== undefined) this.crlPem = res.crl;
    this.entry = this.chooseEntry(res.entries);
    this.bindFoundSvid();
    const installed = this.installed;
    if (!installed) return;
    // Compared with what is installed rather than with the last sync, so that files found in --out at start are brought up to date too.
    const bundleChanged = installed.bundlePem !== this.trustPem;
    const crlChanged = this.crlPem !== undefined && installed.crlPem !== this.crlPem;
    if (bundleChanged || crlChanged) this.republishDue = true;
    if (this.installedRevoked()) {
      // Replaced in this same step, with the new bundle and CRL (installed with the old SVID should that fail).
      this.deps.log.warn({ serial: installed.serial }, 'the installed SVID was revoked; replacing it now');
      this.installed = { ...installed, renewAtMs: now };
    } else if (bundleChanged || crlChanged) {
      this.deps.log.info({ sequence: res.bundleSequence, bundleChanged, crlChanged }, 'the trust bundle or CRL changed; installing it');
    }
  }

  /**
   * An SVID found in --out at start is kept only while it is what the entry
   * would issue now (same SPIFFE ID and DNS names: the entry may have changed
   * while the agent was down); otherwise its unknown entry makes it due at once.
   */
  private bindFoundSvid(): void {
    const [found, entry] = [this.installed, this.entry];
    if (!found || found.entryId !== undefined || !entry) return;
    if (found.spiffeId !== entry.spiffeId || !sameNames(found.dnsNames, entry.dns)) return;
    this.installed = { ...found, entryId: entry.id, entryRevision: entry.revision };
  }

  private chooseEntry(entries: readonly EntryWire[]): EntryWire | undefined {
    const wanted = this.settings.spiffeId;
    if (wanted) {
      const match = entries.find((e) => e.spiffeId === wanted);
      if (!match) this.deps.log.warn({ wanted, granted: entries.map((e) => e.spiffeId) }, 'no entry grants this agent the --spiffe-id yet');
      return match;
    }
    if (entries.length > 1) {
      const choices = `this agent has ${entries.length} entries; choose one with --spiffe-id:\n${entries.map((e) => `  ${e.spiffeId} (entry ${e.id})`).join('\n')}`;
      // At start-up this is a configuration error (also with an SVID found in
      // --out: its entry is not known yet); later, an operator adding an entry
      // must not stop an agent whose workload is serving: it keeps its identity.
      if (this.installed?.entryId === undefined) throw new SidecarConfigurationError(choices);
      const kept = entries.find((e) => e.id === this.installed!.entryId);
      this.deps.log.error({ kept: kept?.spiffeId ?? null }, choices);
      return kept;
    }
    if (entries.length === 0) this.deps.log.warn({}, 'no registration entry grants this agent an identity yet');
    return entries[0];
  }

  private async ensureWorkloadSvid(now: number): Promise<void> {
    const entry = this.entry;
    if (!entry) return;
    const current = this.installed;
    const due = !current || current.entryId !== entry.id || current.entryRevision !== entry.revision || now >= current.renewAtMs;
    if (!due) return;
    const { keyPem, csr } = await newKeyWithCsr(this.settings.keyType);
    let res;
    try {
      res = await this.deps.client.workloadSvids([{ entryId: entry.id, csr }]);
    } catch (err) {
      this.counters.renewalFailures++;
      if (err instanceof CaRequestError && err.code === 'entry_not_granted') this.entry = undefined;
      if (err instanceof CaRequestError && err.credentialRejected) await this.dropRefusedAgentSvid(err);
      throw err;
    }
    const svid = res.svids[0]!;
    const held = holdCertificate(keyPem, svid.svid);
    if (!held) throw new Error('the CA answered with a certificate that does not match the key sent');
    await this.adoptBundle(res.bundle);
    await this.install({
      ...held,
      entryId: entry.id,
      entryRevision: entry.revision,
      bundlePem: this.trustPem,
      crlPem: this.crlPem,
      renewAtMs: this.renewAt(held, svid.renewAfter),
    });
    this.counters.renewals++;
    this.deps.log.info({ spiffeId: held.spiffeId, serial: held.serial, notAfter: new Date(held.notAfterMs).toISOString() }, 'installed a new SVID');
  }

  private async install(next: Installed): Promise<void> {
    const files: PublishedFile[] = [
      { name: 'svid.pem', data: next.chainPem, mode: 0o644 },
      { name: 'svid_key.pem', data: next.keyPem, mode: 0o600 },
      { name: 'bundle.pem', data: next.bundlePem, mode: 0o644 },
    ];
    if (next.crlPem) files.push({ name: 'crl.pem', data: next.crlPem, mode: 0o644 });
    if (this.settings.combined) files.push({ name: 'combined.pem', data: next.keyPem + next.chainPem, mode: 0o600 });
    await this.deps.publish(files);
    this.installed = next;
    this.republishDue = false;
    this.expiryReported = false;
    this.reloadPending = true;
    this.reloadFailures = 0;
    this.reloadRetryAtMs = 0;
  }

  private async reloadIfPending(now: number): Promise<void> {
    if (!this.reloadPending || now < this.reloadRetryAtMs) return;
    try {
      await this.deps.reload();
      this.reloadPending = false;
      this.counters.reloads++;
    } catch (err) {
      this.reloadFailures++;
      this.counters.reloadFailures++;
      this.reloadRetryAtMs = now + Math.min(backoffDelay(this.reloadFailures, this.settings.backoff ?? DEFAULT_BACKOFF, this.deps.random), RELOAD_MAX_RETRY_MS);
      this.deps.log.warn({ err: describe(err), attempt: this.reloadFailures }, `reloading the proxy failed${this.willRetry()}`);
    }
  }

  private reportExpiry(): void {
    if (this.installed && !this.installedUnexpired() && !this.expiryReported) {
      this.expiryReported = true;
      this.deps.log.error({ spiffeId: this.installed.spiffeId, notAfter: new Date(this.installed.notAfterMs).toISOString() }, 'the installed SVID has expired and could not be renewed');
    }
  }

  private nextWakeIn(): number {
    const now = this.deps.clock.nowMs();
    const due = (times: Array<number | undefined>) => Math.min(...times.filter((t): t is number => t !== undefined));
    // While backing off, nothing that needs the CA happens before the retry time.
    // The installed SVID's renewal is work only while an entry grants it; otherwise the next sync is.
    const workloadRenewal = this.entry ? this.installed?.renewAtMs : undefined;
    const caWork = Math.max(due([this.nextSyncMs, this.agentSvid?.renewAtMs, workloadRenewal]), this.failures > 0 ? this.retryAtMs : 0);
    const expiry = this.installed && this.installed.notAfterMs > now ? this.installed.notAfterMs : undefined;
    const next = due([caWork, expiry, this.reloadPending ? this.reloadRetryAtMs : undefined]);
    return Math.max(50, Math.min(next - now, this.settings.syncIntervalMs));
  }
}

/** The same DNS names, in any order and case. */
function sameNames(a: readonly string[], b: readonly string[]): boolean {
  const norm = (names: readonly string[]) => [...new Set(names.map((n) => n.toLowerCase()))].sort().join(' ');
  return norm(a) === norm(b);
}

/** Every certificate of both PEM bundles, once each, in order of first appearance. */
function unionOfBundles(a: string, b: string): string {
  const seen = new Map<string, Buffer>();
  for (const der of [...decodeCertificates(a), ...decodeCertificates(b)]) seen.set(der.toString('base64'), der);
  return certificatesToPem([...seen.values()]);
}

/** Serials listed by the CRLs in a PEM file (unreadable blocks are skipped: the CA's CRLs are well-formed). */
function revokedSerials(pem: string): Set<string> {
  const serials = new Set<string>();
  for (const block of decodePemBlocks(pem)) {
    if (block.label !== 'X509 CRL') continue;
    try {
      for (const serial of crlSerials(block.der)) serials.add(serial);
    } catch {
      // ignore a block we cannot read
    }
  }
  return serials;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
