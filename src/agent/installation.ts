/**
 * The SVID installed in --out for the proxy, with the bundle and CRL beside
 * it: publishing them as one unit, publishing again when the bundle or CRL
 * changes, and knowing whether what is installed may still be served.
 */
import { chainsToBundle, sameDnsNames } from './ca-answers.js';
import type { EntryWire } from './ca-api.js';
import type { HeldCertificate } from './credentials.js';
import { SwapNotDurableError, type PublishedFile } from './installer.js';
import type { ProxyReload } from './proxy-reload.js';
import type { SidecarCounters, SidecarLogger } from './sidecar-deps.js';
import type { TrustMaterial } from './trust-material.js';

export interface InstalledSvid extends HeldCertificate {
  /** Undefined for an SVID found in --out at start, until a sync shows it is still what its entry grants. */
  readonly entryId: string | undefined;
  readonly entryRevision: number | undefined;
  readonly bundlePem: string;
  readonly crlPem: string | undefined;
  readonly renewAtMs: number;
}

/** --out could not take the SVID (a full or read-only disk): a local failure, not the CA's. */
export class InstallError extends Error {}

export class Installation {
  private installed: InstalledSvid | undefined;
  /**
   * An SVID the CA issued that --out could not take: installed at the next
   * attempt while still valid, rather than asking the CA for another each
   * time the disk refuses.
   */
  private pending: InstalledSvid | undefined;
  /**
   * The bundle or CRL changed since the last installation, or what --out holds
   * lacks a file it should (combined.pem): one publication per step carries it.
   */
  private republishDue = false;
  private expiryReported = false;

  constructor(
    private readonly publish: (files: readonly PublishedFile[]) => Promise<unknown>,
    private readonly combined: boolean,
    private readonly reload: ProxyReload,
    private readonly log: SidecarLogger,
    private readonly counters: Pick<SidecarCounters, 'outWriteFailures'>,
  ) {}

  get current(): InstalledSvid | undefined {
    return this.installed;
  }

  unexpired(now: number): boolean {
    return this.installed !== undefined && now < this.installed.notAfterMs;
  }

  /** Publishes the SVID, its key, the bundle and the CRL as one unit, then has the proxy reload them. */
  async install(next: InstalledSvid): Promise<void> {
    const files: PublishedFile[] = [
      { name: 'svid.pem', data: next.chainPem, mode: 0o644 },
      { name: 'svid_key.pem', data: next.keyPem, mode: 0o600 },
      { name: 'bundle.pem', data: next.bundlePem, mode: 0o644 },
    ];
    if (next.crlPem) files.push({ name: 'crl.pem', data: next.crlPem, mode: 0o644 });
    if (this.combined) files.push({ name: 'combined.pem', data: next.keyPem + next.chainPem, mode: 0o600 });
    try {
      await this.publish(files);
    } catch (err) {
      // Counted apart from the CA's failures: a disk that stays full shows on a graph before the SVID it holds expires.
      this.counters.outWriteFailures++;
      if (!(err instanceof SwapNotDurableError)) {
        // A republication of what is installed is retried as such (republishDue stays set); only a new SVID waits here.
        if (next.serial !== this.installed?.serial) this.pending = next;
        throw new InstallError(`could not install the SVID in --out: ${(err as Error).message}`, { cause: err });
      }
      // Readers see the new set already, so it is installed: publishing the old one again would swap it back.
      this.log.warn({ err: err.message }, 'installed the SVID in --out, but the disk may lose the change should the host crash before it writes it out');
    }
    this.pending = undefined;
    this.installed = next;
    this.republishDue = false;
    this.expiryReported = false;
    this.reload.markPending();
  }

  /** The SVID --out could not take, when it is for this entry's revision and still valid at `now`. */
  pendingFor(entryId: string, entryRevision: number, now: number): InstalledSvid | undefined {
    const p = this.pending;
    return p && p.entryId === entryId && p.entryRevision === entryRevision && now < p.notAfterMs ? p : undefined;
  }

  /** A new bundle was adopted: installed at the end of this step, unless a new SVID is installed first (with it). */
  markRepublishDue(): void {
    if (this.installed) this.republishDue = true;
  }

  /**
   * What is installed, published again after --out lost some of it
   * (out-watch.ts): the same SVID, key, bundle and CRL, or the bundle and CRL
   * now held when those are due anyway. No new SVID: nothing was wrong with it.
   */
  async reinstall(trust: TrustMaterial): Promise<void> {
    if (this.republishDue) await this.republishIfDue(trust);
    else if (this.installed) await this.install(this.installed);
  }

  /** The same SVID again, with the bundle and CRL now held, when they changed (or a file is missing). */
  async republishIfDue(trust: TrustMaterial): Promise<void> {
    if (this.republishDue && this.installed) await this.install({ ...this.installed, bundlePem: trust.bundlePem, crlPem: trust.crlPem });
  }

  /**
   * Takes a valid SVID found in --out at start as installed (restore.ts), so
   * that a restart keeps the workload ready, reports its expiry and retries at
   * the pace of an agent with an SVID.
   */
  keepFound(found: InstalledSvid, lacksCombined: boolean): void {
    this.installed = found;
    // --out written by a run without --combined: publish the same SVID again with combined.pem, rather than leave
    // a proxy that reads it without its file until the next renewal.
    if (this.combined && lacksCombined) this.republishDue = true;
    // The last run may have died between installing these files and reloading the proxy, which then serves older
    // ones (a CRL missing a revocation) until the next change. Reloading once costs the proxy little and needs no
    // record, where remembering what was reloaded would need a --state-dir, which is optional, and a second write
    // per installation that a crash can separate from the first.
    this.reload.markPending();
  }

  /**
   * An SVID found in --out at start is kept only while it is what the entry
   * would issue now (same SPIFFE ID and DNS names: the entry may have changed
   * while the agent was down); otherwise its unknown entry makes it due at once.
   */
  bindFound(entry: EntryWire | undefined): void {
    const found = this.installed;
    if (!found || found.entryId !== undefined || !entry) return;
    if (found.spiffeId !== entry.spiffeId || !sameDnsNames(found.dnsNames, entry.dns)) return;
    this.installed = { ...found, entryId: entry.id, entryRevision: entry.revision };
  }

  /**
   * After a sync: the bundle and CRL now held are installed in this step if
   * what is installed lacks them — compared with what is installed rather
   * than with the last sync, so that files found in --out at start are brought
   * up to date too — and an SVID the CRL lists is replaced at once.
   */
  catchUpWith(trust: TrustMaterial, now: number, bundleSequence: number): void {
    const installed = this.installed;
    if (!installed) return;
    const bundleChanged = installed.bundlePem !== trust.bundlePem;
    const crlChanged = trust.crlPem !== undefined && installed.crlPem !== trust.crlPem;
    if (bundleChanged || crlChanged) this.republishDue = true;
    if (trust.revokes(installed.serial)) {
      // Replaced in this same step, with the new bundle and CRL (installed with the old SVID should that fail).
      this.log.warn({ serial: installed.serial }, 'the installed SVID was revoked; replacing it now');
      this.installed = { ...installed, renewAtMs: now };
    } else if (!chainsToBundle(installed, trust.bundlePem)) {
      // Found in --out at start, from another CA (rebuilt, or the agent moved): no peer trusting this bundle would take it.
      this.log.warn({ serial: installed.serial }, "the installed SVID does not chain to the CA's trust bundle; replacing it now");
      this.installed = { ...installed, renewAtMs: now };
    } else if (bundleChanged || crlChanged) {
      this.log.info({ sequence: bundleSequence, bundleChanged, crlChanged }, 'the trust bundle or CRL changed; installing it');
    }
  }

  /** Says so once, at error level, when the installed SVID has expired without a replacement. */
  reportExpiry(now: number): void {
    if (this.installed && !this.unexpired(now) && !this.expiryReported) {
      this.expiryReported = true;
      this.log.error({ spiffeId: this.installed.spiffeId, notAfter: new Date(this.installed.notAfterMs).toISOString() }, 'the installed SVID has expired and could not be renewed');
    }
  }
}
