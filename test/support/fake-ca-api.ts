/** A CA for the agent's reconcile loop, in memory and on the test's clock, with switchable failures. */
import { CaRequestError, type CaApi, type EntryWire, type SvidWire, type SyncWire, type WorkloadSvidWire } from '../../src/agent/ca-api.js';
import type { Clock } from '../../src/time/clock.js';
import { MiniCa } from './mini-ca.js';

const iso = (s: number) => new Date(s * 1000).toISOString();

export class FakeCaApi implements CaApi {
  entries: EntryWire[] = [];
  /** When set, every call rejects with it (the CA is down or refuses). */
  failure: Error | undefined;
  /** Calls (by name: attest, renew, sync, svids) that reject with the given error. */
  readonly refusals = new Map<string, Error>();
  workloadTtl = 3600;
  /** When set, SVIDs carry a renewAfter this fraction of the way from issuance to notAfter; otherwise none, as from a CA that suggests nothing. */
  renewAfterFraction: number | undefined;
  agentTtl = 3600;
  /** When set, workload SVIDs are for this SPIFFE ID instead of their entry's (a CA with a bug). */
  workloadIdentity: string | undefined;
  /** When set, workload SVIDs carry these DNS names instead of their entry's (a CA with a bug). */
  workloadDnsNames: string[] | undefined;
  /** When set, workload SVIDs become valid only this many seconds after they are issued. */
  workloadNotBeforeDelay: number | undefined;
  readonly calls: string[] = [];
  configured: { trustPem: string; credential: unknown } | undefined;
  bundlePem: string;
  /** What sync answers as `crl`; none until a test publishes one (publishCrl). */
  crlPem: string | undefined;

  private constructor(
    private readonly ca: MiniCa,
    private readonly clock: Clock,
    /** The join token attest accepts; a test sets another to stand for a new one the operator made. */
    public acceptedToken: string,
  ) {
    this.bundlePem = ca.bundlePem;
  }

  /** The agent name the accepted token was made for. */
  agentName = 'node-1';

  static async create(clock: Clock, token = 'good-token'): Promise<FakeCaApi> {
    return new FakeCaApi(await MiniCa.create(clock), clock, token);
  }

  addEntry(spiffeId: string, id = `entry-${this.entries.length + 1}`): EntryWire {
    const entry: EntryWire = { id, agent: 'node-1', spiffeId, ttl: null, dns: [], revision: 1 };
    this.entries.push(entry);
    return entry;
  }

  configure(trustPem: string, credential: unknown): void {
    this.configured = { trustPem, credential };
  }

  /** What the agent told the client to refuse the CA for (CaApi.distrust), and how often it said the CRLs changed. */
  distrusted: ((serial: string) => boolean) | undefined;
  crlChanges = 0;

  distrust(revoked: (serial: string) => boolean): void {
    this.distrusted = revoked;
  }

  crlsChanged(): void {
    this.crlChanges++;
  }

  async attest(token: string, csr: string): Promise<{ svid: SvidWire; bundle: string }> {
    this.record('attest');
    if (token !== this.acceptedToken) throw new CaRequestError(401, 'invalid_token', 'the join token is unknown, already used, revoked or expired');
    return { svid: await this.svid(csr, `spiffe://example.org/meshca/agent/${this.agentName}`, this.agentTtl), bundle: this.bundlePem };
  }

  async renew(csr: string): Promise<{ svid: SvidWire; bundle: string }> {
    this.record('renew');
    return { svid: await this.svid(csr, `spiffe://example.org/meshca/agent/${this.agentName}`, this.agentTtl), bundle: this.bundlePem };
  }

  async sync(): Promise<SyncWire> {
    this.record('sync');
    return { entries: [...this.entries], bundle: this.bundlePem, bundleSequence: 1, ...(this.crlPem === undefined ? {} : { crl: this.crlPem }) };
  }

  async workloadSvids(requests: ReadonlyArray<{ entryId: string; csr: string }>): Promise<{ svids: WorkloadSvidWire[]; bundle: string }> {
    this.record('svids');
    const svids = await Promise.all(
      requests.map(async (r) => {
        const entry = this.entries.find((e) => e.id === r.entryId);
        if (!entry) throw new CaRequestError(403, 'entry_not_granted', `entry ${JSON.stringify(r.entryId)} is not granted`);
        const names = { dns: this.workloadDnsNames ?? entry.dns };
        return { entryId: entry.id, ...(await this.svid(r.csr, this.workloadIdentity ?? entry.spiffeId, this.workloadTtl, this.workloadNotBeforeDelay, names)) };
      }),
    );
    return { svids, bundle: this.bundlePem };
  }

  /** Signs a new CRL listing `revokedSerials`; later syncs answer it. */
  async publishCrl(revokedSerials: readonly string[] = [], crlNumber = 1): Promise<string> {
    this.crlPem = await this.ca.crlPem(revokedSerials, crlNumber);
    return this.crlPem;
  }

  count(call: string): number {
    return this.calls.filter((c) => c === call).length;
  }

  /**
   * A root the client must trust to verify the CA at all, as after a root
   * rotation: while it is not among the configured roots, every call fails
   * as TLS verification does.
   */
  requiredRoot: string | undefined;

  private record(call: string): void {
    this.calls.push(call);
    if (this.requiredRoot && !this.configured?.trustPem.includes(this.requiredRoot.trim())) {
      throw Object.assign(new Error('unable to get local issuer certificate'), { code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' });
    }
    const failure = this.failure ?? this.refusals.get(call);
    if (failure) throw failure;
  }

  private async svid(csr: string, spiffeId: string, ttl: number, notBeforeDelay?: number, names: { dns?: readonly string[] } = {}): Promise<SvidWire> {
    const issuedAt = Math.floor(this.clock.nowMs() / 1000);
    const s = await this.ca.issue(csr, spiffeId, ttl, notBeforeDelay, names);
    const svid: SvidWire = { spiffeId, serial: s.serial, svid: s.chainPem, notBefore: iso(s.notBefore), notAfter: iso(s.notAfter) };
    if (this.renewAfterFraction === undefined) return svid;
    return { ...svid, renewAfter: iso(issuedAt + Math.round((s.notAfter - issuedAt) * this.renewAfterFraction)) };
  }
}
