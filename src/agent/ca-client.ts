/**
 * The agent's client for the CA: HTTPS with the agent SVID as client
 * certificate, over keep-alive connections (a handshake per request would cost
 * more than the signing). The connection pool is rebuilt whenever the agent's
 * credential or trust bundle changes.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request } from 'node:https';
import type { TrustDomain } from '../identity/trust-domain.js';
import { checkCaIdentity, trustDomainOf } from '../platform/ca-server-identity.js';
import { caConnectionError } from './ca-connection-errors.js';
import { CaRequestError, type CaApi, type SvidWire, type SyncWire, type WorkloadSvidWire } from './ca-api.js';
import { svidAnswer, syncAnswer, workloadSvidsAnswer } from './ca-wire.js';

export interface ClientCredential {
  readonly keyPem: string;
  /** Leaf first. */
  readonly chainPem: string;
}

export interface CaClientOptions {
  readonly serverUrl: URL;
  /** How long a request may go without a byte moving, in milliseconds. */
  readonly timeoutMs?: number;
  /** How long a whole request may take, however its bytes trickle, in milliseconds. */
  readonly deadlineMs?: number;
}

/** Far more than any answer of the CA (a sync with every CRL of a CA that revoked a great deal). */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

/** The CA's error message as the agent logs it: enough to act on, not a flood. */
const MAX_ERROR_MESSAGE = 500;

export class CaClient implements CaApi {
  private pool: Agent | undefined;
  private trustPem = '';
  private revoked: (serial: string) => boolean = () => false;
  private credential: ClientCredential | undefined;
  /** The agent's own trust domain, once it holds an SVID: the CA must be that trust domain's. */
  private trustDomain: TrustDomain | undefined;
  /** Attestations sent in full and not yet answered: each may have spent its join token at the CA already. */
  private spending = 0;
  /** The Date header of the latest answer: see lastAnswerDateMs. */
  private lastDateMs: number | undefined;

  constructor(private readonly options: CaClientOptions) {}

  /** Sets the roots used to verify the CA and the credential presented to it; takes effect on the next request. */
  configure(trustPem: string, credential: ClientCredential | undefined): void {
    const same = credential?.keyPem === this.credential?.keyPem && credential?.chainPem === this.credential?.chainPem;
    if (trustPem === this.trustPem && same) return;
    this.trustPem = trustPem;
    this.credential = credential;
    this.trustDomain = credential ? trustDomainOf(credential.chainPem) : undefined;
    this.pool?.destroy();
    this.pool = undefined;
  }

  close(): void {
    this.pool?.destroy();
    this.pool = undefined;
  }

  distrust(revoked: (serial: string) => boolean): void {
    this.revoked = revoked;
    this.close();
  }

  crlsChanged(): void {
    this.close();
  }

  async attest(token: string, csr: string): Promise<{ svid: SvidWire; bundle: string }> {
    return svidAnswer(await this.call('POST', '/v1/agent/attest', { token, csr }, { spendsToken: true }), 'an attestation');
  }

  /** An attestation has reached the CA and its answer (the SVID the token bought) has not come back yet. */
  get spendingToken(): boolean {
    return this.spending > 0;
  }

  async renew(csr: string): Promise<{ svid: SvidWire; bundle: string }> {
    return svidAnswer(await this.call('POST', '/v1/agent/renew', { csr }), 'a renewal');
  }

  async sync(): Promise<SyncWire> {
    return syncAnswer(await this.call('GET', '/v1/agent/entries'));
  }

  async workloadSvids(requests: ReadonlyArray<{ entryId: string; csr: string }>): Promise<{ svids: WorkloadSvidWire[]; bundle: string }> {
    return workloadSvidsAnswer(await this.call('POST', '/v1/agent/svids', { requests }), requests.length);
  }

  private connectionPool(): Agent {
    // Node would verify against its public roots instead: the CA is pinned by the bundle or not reached.
    const trustPem = this.trustPem;
    if (!trustPem) throw new Error('no trust bundle to verify the CA with');
    this.pool ??= new Agent({
      keepAlive: true,
      maxSockets: 4,
      ca: trustPem,
      // Explicit: NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment would otherwise skip the chain and these checks.
      rejectUnauthorized: true,
      checkServerIdentity: (host, cert) => checkCaIdentity(host, cert, this.revoked, this.trustDomain, trustPem),
      ...(this.credential ? { key: this.credential.keyPem, cert: this.credential.chainPem } : {}),
    });
    return this.pool;
  }

  /**
   * The Date header of the CA's answer to GET /healthz, the cheapest request
   * anyone may make: no credential, no signing, and any status will do.
   */
  async serverDateMs(): Promise<number | undefined> {
    const { headers } = await this.exchange('GET', '/healthz');
    const date = headers.date === undefined ? NaN : Date.parse(headers.date);
    return Number.isNaN(date) ? undefined : date;
  }

  lastAnswerDateMs(): number | undefined {
    return this.lastDateMs;
  }

  async call<T>(method: string, path: string, body?: unknown, o: { spendsToken?: boolean } = {}): Promise<T> {
    const { status, headers, text } = await this.exchange(method, path, body, o.spendsToken === true);
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (status >= 200 && status < 300) return parsed as T;
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    const retryAfter = Number(headers['retry-after']);
    const message = typeof error?.message === 'string' ? error.message.slice(0, MAX_ERROR_MESSAGE) : `HTTP ${status}`;
    const code = typeof error?.code === 'string' ? error.code.slice(0, 64) : 'http_error';
    throw new CaRequestError(status, code, message, Number.isFinite(retryAfter) ? retryAfter : undefined);
  }

  /** One request and its whole answer, whatever the status; rejects only when no answer came. */
  private exchange(method: string, path: string, body?: unknown, spendsToken = false): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
    const url = new URL(path, this.options.serverUrl);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent: this.connectionPool(),
          timeout: this.options.timeoutMs ?? 10_000,
          headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`the answer of ${url.origin} is larger than ${MAX_ANSWER_BYTES} bytes`));
            else chunks.push(c);
          });
          res.on('error', reject);
          res.on('end', () => {
            const date = res.headers.date === undefined ? NaN : Date.parse(res.headers.date);
            if (!Number.isNaN(date)) this.lastDateMs = date;
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
          });
        },
      );
      const deadlineMs = this.options.deadlineMs ?? 60_000;
      const deadline = setTimeout(() => req.destroy(new Error(`request to ${url.origin} took longer than ${deadlineMs / 1000} s`)), deadlineMs);
      req.on('close', () => clearTimeout(deadline));
      if (spendsToken) {
        // Counted once the request is written out (after the handshake), until its answer or failure.
        req.once('finish', () => {
          this.spending++;
          req.once('close', () => this.spending--);
        });
      }
      req.on('timeout', () => req.destroy(new Error(`request to ${url.origin} timed out`)));
      req.on('error', (err) => reject(caConnectionError(err, url.origin)));
      req.end(payload);
    });
  }
}
