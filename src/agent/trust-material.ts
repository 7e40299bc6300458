/**
 * What the agent trusts and distrusts: the CA's trust bundle (which verifies
 * the CA and goes into bundle.pem) and its CRLs (crl.pem). A new bundle is
 * saved in --state-dir, so a restarted agent still trusts a root the CA moved
 * to, and so are the roots it retired, so a restarted agent does not trust
 * them again from --trust-bundle.
 */
import { serialsListedInPem } from '../x509/crl-reader.js';
import { certificatesToPem, decodeCertificates } from '../x509/pem.js';
import { describeError, type SidecarLogger } from './sidecar-deps.js';
import type { RetiredRootsRecord, StateStore } from './state-store.js';

export class TrustMaterial {
  private bundle: string;
  /** The bundle held is not yet in --state-dir: a failed write is tried again at the next adoption. */
  private unsaved = false;
  /**
   * The CA bundle --state-dir is known to hold (read at restore, or written
   * by this run). The CA's first bundle is saved even when it equals
   * --trust-bundle: the file may change before the next start.
   */
  private saved: string | undefined;
  private crl: string | undefined;
  /**
   * Every root --trust-bundle has held, at start or read again since: each is
   * offered once. A ConfigMap left holding a root the CA has since retired
   * must not put it back at every outage.
   */
  private readonly offeredRoots: Set<string>;
  /**
   * Every root a bundle of the CA's has held, in this run or saved by an
   * earlier one: one the CA's bundle no longer holds was retired, and whoever
   * has its key could pass for the CA while the CA cannot be reached.
   */
  private readonly caRoots = new Set<string>();
  /**
   * The roots of caRoots that the CA's latest bundle lacks: retired. Saved in
   * --state-dir, where they outlive this run's caRoots; none is ever trusted
   * again unless a bundle of the CA's holds it.
   */
  private retired = new Set<string>();
  /** `retired` differs from its record in --state-dir, which is written (before the bundle) at the next adoption. */
  private retiredUnsaved = false;

  /**
   * @param initialBundlePem --trust-bundle as read at start.
   * @param onBundleChanged called when a new bundle is adopted, before it is
   *   saved: what was installed, and the client's connections, must follow it.
   */
  constructor(
    initialBundlePem: string,
    private readonly state: StateStore | undefined,
    private readonly log: SidecarLogger,
    private readonly onBundleChanged: () => void,
  ) {
    this.bundle = initialBundlePem;
    this.offeredRoots = rootKeys(initialBundlePem);
  }

  get bundlePem(): string {
    return this.bundle;
  }

  /** The CA's CRLs as last synced (or as found in --out at start); undefined before either. */
  get crlPem(): string | undefined {
    return this.crl;
  }

  /**
   * Stops trusting the roots an earlier run recorded as retired, whatever
   * --trust-bundle holds: a ConfigMap made before `root retire` still holds
   * the retired root. Without a record (none retired yet, or the state
   * directory of a build that kept none) nothing is left out, as before; a
   * damaged one leaves nothing out either, and is written anew at the next
   * adoption.
   */
  restoreRetired(record: RetiredRootsRecord | undefined): void {
    if (record === 'unreadable') this.retiredUnsaved = true;
    if (record === undefined || record === 'unreadable') return;
    for (const der of record) {
      const root = der.toString('base64');
      this.retired.add(root);
      this.caRoots.add(root);
    }
    if (record.length > 0) this.bundle = this.withoutRetired(this.bundle);
  }

  /**
   * Trusts the roots of a bundle saved by an earlier run besides the
   * configured ones, none retired: the saved one may predate a root rotation
   * the agent slept through, and the configured one may predate the saved.
   * Throws when the saved bundle is unreadable.
   */
  trustAlso(savedBundlePem: string): void {
    this.bundle = this.withoutRetired(unionOfBundles(this.bundle, savedBundlePem));
    for (const root of rootKeys(savedBundlePem)) this.caRoots.add(root);
    this.saved = savedBundlePem;
  }

  /** `pem` without the retired roots; a crash between saving the record and the bundle can leave one in the saved bundle. */
  private withoutRetired(pem: string): string {
    return certificatesToPem(decodeCertificates(pem).filter((der) => !this.retired.has(der.toString('base64'))));
  }

  /**
   * Trusts, besides the bundle held, roots an operator has added to
   * --trust-bundle since the agent started; true when there were any. For an
   * agent that cannot verify the CA any more (it slept through a root
   * rotation): as at start, the CA's own bundle replaces the union at the
   * next sync. A root the file held at start, or offered before, is not
   * added, nor one a CA bundle has held (one held still is already trusted,
   * one dropped was retired). Throws when `pem` holds no readable certificate.
   */
  trustOperatorRoots(pem: string): boolean {
    const offered = decodeCertificates(pem);
    if (offered.length === 0) throw new Error('it holds no PEM certificate');
    // Every root held came from one of the two records.
    const added = offered.filter((der) => {
      const root = der.toString('base64');
      const isNew = !this.offeredRoots.has(root) && !this.caRoots.has(root);
      this.offeredRoots.add(root);
      return isNew;
    });
    if (added.length === 0) return false;
    this.bundle = unionOfBundles(this.bundle, certificatesToPem(added));
    this.onBundleChanged();
    return true;
  }

  /**
   * Takes the CA's bundle, and saves it unless --state-dir holds it already
   * (also when it is --trust-bundle's to the byte); false when it is the one
   * already held. Held whether or not it could be saved:
   * a --state-dir that cannot be written costs only what a restart would
   * trust, never this run's renewals or CRLs, and the save is tried again at
   * the next adoption.
   */
  async adoptBundle(bundlePem: string): Promise<boolean> {
    const changed = bundlePem !== this.bundle;
    const roots = rootKeys(bundlePem);
    this.noteRetirements(roots);
    // Also when unchanged: the bundle held may be --trust-bundle's, now known to be the CA's.
    for (const root of roots) this.caRoots.add(root);
    if (changed) {
      this.bundle = bundlePem;
      this.onBundleChanged();
    }
    if (bundlePem !== this.saved) this.unsaved = true;
    await this.save();
    return changed;
  }

  /**
   * Every root the CA's bundles held that this one lacks is retired. One back
   * in it (from a replica behind the others) is not: the agent trusts it
   * again anyway, from the CA.
   */
  private noteRetirements(roots: ReadonlySet<string>): void {
    const retired = new Set([...this.retired, ...this.caRoots].filter((root) => !roots.has(root)));
    if (retired.size === this.retired.size && [...retired].every((root) => this.retired.has(root))) return;
    this.retired = retired;
    this.retiredUnsaved = true;
  }

  /** The record of retired roots first: a crash before the bundle then leaves a saved bundle the restart filters. */
  private async save(): Promise<void> {
    if (!this.state || !(this.retiredUnsaved || this.unsaved)) return;
    try {
      if (this.retiredUnsaved) await this.state.saveRetiredRoots([...this.retired].map((root) => Buffer.from(root, 'base64')));
      this.retiredUnsaved = false;
      if (this.unsaved) await this.state.saveBundle(this.bundle);
      this.saved = this.bundle;
      this.unsaved = false;
    } catch (err) {
      this.log.warn(
        { err: describeError(err) },
        'could not save the trust bundle or the retired roots in --state-dir (tried again at the next sync); a restart until then trusts only the roots saved before, and may trust a root retired since',
      );
    }
  }

  /** The CRLs a sync brought; a sync without any keeps the ones held. */
  adoptCrl(crlPem: string | undefined): void {
    if (crlPem === undefined || crlPem === this.crl) return;
    this.crl = crlPem;
    this.onCrlChanged?.();
  }

  /** Told whenever the CRLs held change, the first ones a sync brings included. */
  onCrlChanged: (() => void) | undefined;

  /** The CRLs the proxy already checks, found in --out at start, until a sync brings the CA's. */
  adoptCrlIfNone(crlPem: string | undefined): void {
    this.crl ??= crlPem;
  }

  /** Read once per CRL held: /readyz asks on every probe, and a CRL may list many thousands. */
  private revoked: { readonly crl: string; readonly serials: Set<string> } | undefined;

  revokes(serial: string): boolean {
    if (this.crl === undefined) return false;
    if (this.revoked?.crl !== this.crl) this.revoked = { crl: this.crl, serials: serialsListedInPem(this.crl) };
    return this.revoked.serials.has(serial);
  }
}

/** The certificates of a PEM bundle, each as its DER in base64. */
function rootKeys(pem: string): Set<string> {
  return new Set(decodeCertificates(pem).map((der) => der.toString('base64')));
}

/** Every certificate of both PEM bundles, once each, in order of first appearance. */
export function unionOfBundles(a: string, b: string): string {
  const seen = new Map<string, Buffer>();
  for (const der of [...decodeCertificates(a), ...decodeCertificates(b)]) seen.set(der.toString('base64'), der);
  return certificatesToPem([...seen.values()]);
}
