/**
 * Issuing X509-SVIDs. The identity comes from the decision passed in (an
 * entry, an agent name, an operator's mint), never from the CSR; the
 * certificate is recorded durably before it is returned.
 */
import { InvalidInputError, MeshcaError, UnavailableError } from '../errors.js';
import type { DnsName } from '../identity/dns-name.js';
import type { SpiffeId } from '../identity/spiffe-id.js';
import type { TrustDomain } from '../identity/trust-domain.js';
import { nowSeconds, type Clock } from '../time/clock.js';
import type { WrittenDuration } from '../time/duration.js';
import { serialToHex } from '../x509/certificate-reader.js';
import type { VerifiedCsr } from '../x509/csr.js';
import { keyLabel } from '../x509/keys.js';
import { randomSerial } from '../x509/serial.js';
import type { RandomSource } from '../random/random-source.js';
import type { AuthoritySet } from './authority-set.js';
import type { AuditEvent, CertificateKind, IssuedCertificateRecord } from './model.js';
import { inThreadLeafSigner } from './in-thread-signing.js';
import { ISSUANCE_EVENT, issuanceEventData } from './issuance-event.js';
import type { IssuanceLedger, LeafSigner } from './ports.js';
import type { RecordingHealth } from './recording-health.js';
import { RenewalSlots } from './renewal-slots.js';
import { assertNoCaName, assertNotReserved } from './reserved-ids.js';
import { decideValidity, type LifetimePolicy } from './validity.js';

export interface SvidRequest {
  readonly csr: VerifiedCsr;
  readonly spiffeId: SpiffeId;
  readonly dnsNames?: readonly DnsName[];
  /** IPv4 or IPv6 address bytes, for the CA's own serving certificate. */
  readonly ipAddresses?: readonly Buffer[];
  /** As the requester wrote it, for a refusal to quote. */
  readonly ttl?: WrittenDuration;
  readonly kind: CertificateKind;
  /** Label of whoever asked, e.g. callerLabel(caller) or SELF. */
  readonly requestedBy: string;
  readonly agent?: string | null;
  readonly entryId?: string | null;
  /** A time (epoch seconds) the certificate may not outlive: cut there, as at its issuer's expiry. */
  readonly notAfterCeiling?: number;
  /**
   * Facts the issuance event states beside the record's (the holder of an
   * admin credential, the credential a renewal replaces), which the record
   * does not keep; the hash chain protects them as any event data.
   */
  readonly eventFacts?: Readonly<Record<string, string>>;
}

export interface IssuedSvid {
  readonly serial: string;
  readonly spiffeId: SpiffeId;
  /** Leaf first, then every intermediate up to (excluding) a root of the bundle. */
  readonly chainDer: readonly Buffer[];
  readonly notBefore: number;
  readonly notAfter: number;
  /** When the holder should renew: a second the CA booked so that renewals arrive evenly. */
  readonly renewAfter: number;
  readonly issuerId: string;
}

export interface SignedSvid {
  readonly svid: IssuedSvid;
  readonly record: IssuedCertificateRecord;
  readonly event: AuditEvent;
}

export interface SvidIssuerDeps {
  /** adoptRecentChanges, where replicas share the journal: see AuthorityManager. */
  readonly authorities: { current(): AuthoritySet; adoptRecentChanges?(now: number): Promise<void> };
  readonly ledger: IssuanceLedger;
  readonly clock: Clock;
  readonly random: RandomSource;
  /** Told of each certificate once it is durably recorded, with the seconds it took (for metrics). */
  readonly observe?: (record: IssuedCertificateRecord, seconds: number) => void;
  /** Told whether the datastore took each record (readiness, doctor). */
  readonly recording?: RecordingHealth;
  /** Where leaves are encoded and signed; in this thread unless signing workers are configured. */
  readonly leafSigner?: LeafSigner;
  /**
   * Revokes what an issuer signed once it was withdrawn (see confirm): the
   * sweep a taint or a root retirement makes, run again for what it missed.
   */
  readonly revokeWithdrawn?: (issuerId: string, why: 'taint' | 'root-retired') => Promise<unknown>;
}

export interface SvidIssuerSettings {
  readonly trustDomain: TrustDomain;
  readonly lifetimes: LifetimePolicy;
  /** The DNS names of the CA's serving certificate, which no other certificate may carry. */
  readonly caDnsNames: readonly DnsName[];
}

export class SvidIssuer {
  private readonly renewals: RenewalSlots;

  constructor(
    private readonly deps: SvidIssuerDeps,
    private readonly settings: SvidIssuerSettings,
  ) {
    this.renewals = new RenewalSlots(deps.random);
  }

  /** Signs and records; resolves only once the record is durable. */
  async issue(req: SvidRequest): Promise<IssuedSvid> {
    const [svid] = await this.issueAll([req]);
    return svid!;
  }

  /**
   * Signs every request, then records them all at once, so that a batch
   * shares one group commit (one fsync) instead of one per signing worker's
   * answer. Resolves, in order, once every record is durable.
   */
  async issueAll(reqs: readonly SvidRequest[]): Promise<IssuedSvid[]> {
    const started = performance.now();
    const signed = await Promise.all(reqs.map((req) => this.sign(req)));
    await Promise.all(signed.map((s) => this.record(s)));
    await this.confirm(signed, started);
    return signed.map((s) => s.svid);
  }

  private async record(signed: SignedSvid): Promise<void> {
    const write = () => this.deps.ledger.recordIssued(signed.record, signed.event);
    try {
      await (this.deps.recording ? this.deps.recording.track(() => nowSeconds(this.deps.clock), write) : write());
    } catch (err) {
      // Whatever the store's failure, the certificate was not recorded and so is never returned.
      if (err instanceof MeshcaError) throw err;
      throw new UnavailableError('store_unavailable', 'the issuance could not be recorded; no certificate was issued', { cause: err });
    }
  }

  /**
   * Once certificates are recorded, and before they are handed out (callers
   * of `sign` that committed the record themselves call it too): refuses them
   * when their issuer was withdrawn meanwhile. A taint or a root retirement
   * revokes what the issuer signed in one sweep, right after it changes the
   * authorities here; a certificate signed before that change but recorded
   * after the sweep would escape it. Recorded after the sweep, it is checked
   * here after the change, so one or the other catches it: this one revokes
   * it (and anything else the sweep missed) and answers 503, and the caller
   * asks again under the next intermediate.
   */
  async confirm(signed: readonly SignedSvid[], startedAt: number): Promise<void> {
    const set = this.deps.authorities.current();
    const withdrawn = new Map<string, 'taint' | 'root-retired'>();
    for (const s of signed) {
      const why = set.withdrawal(s.record.issuerId, s.record.kind);
      if (why) withdrawn.set(s.record.issuerId, why);
    }
    if (withdrawn.size > 0) {
      for (const [issuerId, why] of withdrawn) await this.deps.revokeWithdrawn?.(issuerId, why);
      throw new UnavailableError(
        'ca_unavailable',
        `the intermediate that signed this was ${withdrawn.values().next().value === 'taint' ? 'tainted' : 'put under a retired root'} while it was being signed; it was revoked, not handed out: ask again`,
      );
    }
    for (const s of signed) this.deps.observe?.(s.record, (performance.now() - startedAt) / 1000);
  }

  /**
   * Signs without recording, for callers that must record the certificate in
   * the same transaction as another change (attestation consumes a token). The
   * result must not be handed out before its record is committed.
   */
  async sign(req: SvidRequest): Promise<SignedSvid> {
    if (!req.spiffeId.memberOf(this.settings.trustDomain)) {
      throw new InvalidInputError(
        'foreign_trust_domain',
        `${req.spiffeId} is not in this CA's trust domain ${this.settings.trustDomain.name}`,
      );
    }
    // Also for entries made before a name was added to --serving-names, or before the reserved path was matched in any case.
    if (req.kind !== 'server' && req.dnsNames) assertNoCaName(req.dnsNames, this.settings.caDnsNames);
    if (req.kind === 'workload' || req.kind === 'mint') assertNotReserved(req.spiffeId);
    const now = nowSeconds(this.deps.clock);
    await this.deps.authorities.adoptRecentChanges?.(now);
    const authorities = this.deps.authorities.current();
    const issuer = authorities.signingIntermediate(now);
    const validity = decideValidity(now, req.ttl, this.settings.lifetimes, issuer.record, req.notAfterCeiling);
    const serial = randomSerial(this.deps.random);
    const leaf = await (this.deps.leafSigner ?? inThreadLeafSigner).signLeaf(
      {
        serial,
        spiffeId: req.spiffeId.toString(),
        dnsNames: req.dnsNames ?? [],
        ipAddresses: req.ipAddresses ?? [],
        spkiDer: req.csr.spkiDer,
        keyKind: req.csr.keyKind,
        ...validity,
        issuer: { subjectName: issuer.facts.subjectName, keyId: issuer.facts.keyId },
      },
      issuer,
    );
    const record: IssuedCertificateRecord = {
      serial: serialToHex(serial),
      spiffeId: req.spiffeId.toString(),
      dnsNames: req.dnsNames ?? [],
      ...validity,
      publicKeySha256: req.csr.publicKeySha256,
      keyType: keyLabel(req.csr.keyKind),
      issuerId: issuer.record.id,
      kind: req.kind,
      requestedBy: req.requestedBy,
      agent: req.agent ?? null,
      entryId: req.entryId ?? null,
      issuedAt: now,
      certDer: leaf,
    };
    const event: AuditEvent = {
      type: ISSUANCE_EVENT,
      actor: record.requestedBy,
      data: { ...req.eventFacts, ...issuanceEventData(record) },
    };
    const svid: IssuedSvid = {
      serial: record.serial,
      spiffeId: req.spiffeId,
      chainDer: [leaf, ...authorities.chainFor(issuer)],
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      renewAfter: this.renewals.book(now, validity.notAfter),
      issuerId: issuer.record.id,
    };
    return { svid, record, event };
  }
}
