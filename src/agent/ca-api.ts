/** The CA's HTTP API as the agent sees it: the wire shapes, in the agent's own terms. */

export interface SvidWire {
  readonly spiffeId: string;
  readonly serial: string;
  /** PEM chain, leaf first. */
  readonly svid: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** The CA's suggested renewal time; meshca always sends one, the agent copes without. */
  readonly renewAfter?: string;
}

export interface WorkloadSvidWire extends SvidWire {
  readonly entryId: string;
}

export interface EntryWire {
  readonly id: string;
  readonly agent: string;
  readonly spiffeId: string;
  readonly ttl: number | null;
  readonly dns: readonly string[];
  readonly revision: number;
}

export interface SyncWire {
  readonly entries: readonly EntryWire[];
  readonly bundle: string;
  readonly bundleSequence: number;
  /** Every CRL of the CA, PEM; installed as crl.pem. */
  readonly crl?: string;
  /** The certificates that signed them, with each one's chain to the bundle, PEM (roots' CRLs need none). */
  readonly crlIssuers?: string;
}

export class CaRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  /** The CA answered that this credential will never work again (evicted, banned, revoked, expired). */
  get credentialRejected(): boolean {
    return this.status === 401 || this.code === 'agent_evicted' || this.code === 'agent_banned';
  }
}

/** What the agent asks of the CA; CaClient implements it over HTTPS, tests with a fake. */
export interface CaApi {
  /** Sets the roots that verify the CA and the credential presented to it. */
  configure(trustPem: string, credential: { keyPem: string; chainPem: string } | undefined): void;
  /**
   * Refuse as the CA a server whose certificate chain holds a certificate the
   * CA's CRLs revoke (serial, lowercase hex): an intermediate tainted after
   * its key was stolen must not let its thief pass for the CA. Connections
   * made before the CRLs changed are dropped. Optional for fakes.
   */
  distrust?(revoked: (serial: string) => boolean): void;
  /** The CRLs changed: connections checked against the earlier ones are not reused. */
  crlsChanged?(): void;
  attest(token: string, csr: string): Promise<{ svid: SvidWire; bundle: string }>;
  /** An attestation has reached the CA and its answer has not come back yet. Optional for fakes. */
  readonly spendingToken?: boolean;
  renew(csr: string): Promise<{ svid: SvidWire; bundle: string }>;
  sync(): Promise<SyncWire>;
  workloadSvids(requests: ReadonlyArray<{ entryId: string; csr: string }>): Promise<{ svids: WorkloadSvidWire[]; bundle: string }>;
  /**
   * The CA's clock, in milliseconds since the epoch: the HTTP Date header of
   * its answer to an unauthenticated request (whatever the status), or
   * undefined when it sent none. Whole seconds, late by up to the round trip.
   * Optional: without it the agent cannot compare clocks before attesting and
   * attests as it did before it could (see clock-skew.ts).
   */
  serverDateMs?(): Promise<number | undefined>;
  /**
   * The CA's clock as the Date header of its latest answer (to any request)
   * said, in milliseconds since the epoch; undefined before any or without
   * one. It lets every sync compare clocks without a request of its own.
   * Optional for fakes.
   */
  lastAnswerDateMs?(): number | undefined;
}
