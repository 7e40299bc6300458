/**
 * Signing workers: CSR verification and leaf signing on worker threads, one per
 * core, so that issuance uses every core while the main thread keeps to HTTP
 * and the datastore (which stays single-writer). Requests go to the worker with
 * the fewest in flight; a worker that dies is replaced and its requests fail.
 *
 * So is one that stops answering: a thread stuck in native code (Node 20 has
 * deadlocked in node:crypto; see test/bench/ceiling.ts) neither answers nor
 * exits, and without a deadline its requests would wait for good while the
 * others' share of the load grew. A worker with work in flight that has sent
 * nothing for `stallMs` fails that work with 503 and is replaced; it is asked
 * to terminate but not waited for, since a stuck thread may never stop.
 */
import { Worker } from 'node:worker_threads';
import type { AuthoritySet, LoadedAuthority } from '../ca/authority-set.js';
import type { CsrVerifier, LeafSigner } from '../ca/ports.js';
import { InvalidInputError, UnavailableError, type InvalidInputCode } from '../errors.js';
import { ownedBytes, receivedBytes } from '../platform/thread-bytes.js';
import { toDer } from '../x509/asn1.js';
import { VerifiedCsr } from '../x509/csr.js';
import { KeyObjectSigner } from '../x509/signer.js';
import type { SvidFacts } from '../x509/profiles.js';
import type { IssuerKey, WorkerJob, WorkerRequest, WorkerResponse } from './protocol.js';

interface Pending {
  resolve(value: WorkerResponse): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, Pending>;
  /** Jobs queued this turn of the event loop, posted together once its I/O callbacks have run. */
  outbox: WorkerJob[];
  /** When the worker last answered, or was handed work while it had none (performance.now(), ms). */
  lastHeard: number;
}

/**
 * How long a worker with work in flight may send nothing before it counts as
 * stuck. A batch of a turn's jobs (hundreds of CSRs at most) takes well under
 * a second; a busy worker answers batch after batch, so only silence counts.
 */
export const DEFAULT_STALL_MS = 10_000;

export class SigningPool implements CsrVerifier, LeafSigner {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private issuers: IssuerKey[] = [];
  private closed = false;
  private readonly watchdog: NodeJS.Timeout;
  private readonly checkEveryMs: number;
  private lastCheck = performance.now();

  /** `workerUrl` is the built signing-worker.js (workers run JavaScript, not the TypeScript sources). */
  constructor(
    size: number,
    private readonly workerUrl: URL,
    private readonly stallMs = DEFAULT_STALL_MS,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
    this.checkEveryMs = Math.max(stallMs / 4, 10);
    this.watchdog = setInterval(() => this.replaceStalled(), this.checkEveryMs).unref();
  }

  /** Hands the workers every key meshca may sign leaves with; call whenever the authorities change. */
  setIssuers(set: AuthoritySet): void {
    this.issuers = set.authorities
      .filter((a): a is LoadedAuthority & { signer: KeyObjectSigner } => a.signer instanceof KeyObjectSigner)
      .map((a) => ({ id: a.record.id, key: a.signer.privateKey, subjectDer: ownedBytes(toDer(a.facts.subjectName)), keyId: ownedBytes(a.facts.keyId) }));
    for (const slot of this.slots) slot.worker.postMessage({ op: 'issuers', issuers: this.issuers } satisfies WorkerRequest);
  }

  async verify(pem: string): Promise<VerifiedCsr> {
    const response = await this.send((id) => ({ op: 'verify', id, pem }));
    if (!('verified' in response)) throw new Error('signing worker answered a verification with something else');
    const { verified } = response;
    return VerifiedCsr.fromVerified({ ...verified, spkiDer: receivedBytes(verified.spkiDer) });
  }

  async signLeaf(facts: SvidFacts, issuer: LoadedAuthority): Promise<Buffer> {
    const { issuer: _ref, ...leaf } = facts;
    const posted = { ...leaf, spkiDer: ownedBytes(leaf.spkiDer), serial: ownedBytes(leaf.serial), ipAddresses: leaf.ipAddresses.map(ownedBytes) };
    const response = await this.send((id) => ({ op: 'sign', id, issuerId: issuer.record.id, facts: posted }));
    if (!('signed' in response)) throw new Error('signing worker answered a signature with something else');
    return receivedBytes(response.signed);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private send(make: (id: number) => WorkerJob): Promise<WorkerResponse> {
    const slot = this.slots.reduce((a, b) => (b.inFlight.size < a.inFlight.size ? b : a));
    const id = this.nextId++;
    return new Promise<WorkerResponse>((resolve, reject) => {
      if (slot.inFlight.size === 0) slot.lastHeard = performance.now();
      slot.inFlight.set(id, { resolve, reject });
      // After the loop's I/O callbacks, not after this one's microtasks: requests read from several sockets in one
      // turn share a message, and each message that finds its worker asleep costs a wake-up of both threads' CPU.
      if (slot.outbox.push(make(id)) === 1) setImmediate(() => this.flush(slot));
    }).then((response) => {
      if ('failure' in response) {
        const f = response.failure;
        if (f.kind === 'invalid') throw new InvalidInputError(f.code as InvalidInputCode, f.message);
        throw new Error(`signing worker: ${f.message}`);
      }
      return response;
    });
  }

  private flush(slot: Slot): void {
    const jobs = slot.outbox;
    slot.outbox = [];
    // A slot replaced meanwhile has already failed these jobs' promises.
    if (jobs.length && this.slots.includes(slot)) slot.worker.postMessage({ op: 'jobs', jobs } satisfies WorkerRequest);
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(this.workerUrl), inFlight: new Map(), outbox: [], lastHeard: performance.now() };
    slot.worker.on('message', (responses: WorkerResponse[]) => {
      slot.lastHeard = performance.now();
      for (const response of responses) {
        const pending = slot.inFlight.get(response.id);
        slot.inFlight.delete(response.id);
        pending?.resolve(response);
      }
    });
    slot.worker.on('error', (err) => this.replace(slot, err));
    slot.worker.on('exit', (code) => {
      if (!this.closed) this.replace(slot, new Error(`signing worker exited with code ${code}`));
    });
    return slot;
  }

  /** Fails the slot's work with `err` and puts a new worker in its place (once: a replaced slot is no longer in the pool). */
  private replace(slot: Slot, err: Error): void {
    for (const p of slot.inFlight.values()) p.reject(err);
    slot.inFlight.clear();
    slot.outbox = [];
    if (this.closed) return;
    const index = this.slots.indexOf(slot);
    if (index >= 0) {
      this.slots[index] = this.spawn();
      this.slots[index]!.worker.postMessage({ op: 'issuers', issuers: this.issuers } satisfies WorkerRequest);
    }
  }

  private replaceStalled(): void {
    const now = performance.now();
    const late = now - this.lastCheck > 2 * this.checkEveryMs;
    this.lastCheck = now;
    // The main thread was busy, and timers run before the answers that came meanwhile are read: look again next time.
    if (late) return;
    for (const slot of [...this.slots]) {
      if (slot.inFlight.size === 0 || now - slot.lastHeard < this.stallMs) continue;
      const silent = Math.round((now - slot.lastHeard) / 1000);
      this.replace(slot, new UnavailableError('ca_unavailable', `a signing worker stopped answering (nothing for ${silent} s) and was replaced; retry`));
      // Not awaited: a thread stuck in native code may never stop, and the pool must go on without it.
      void slot.worker.terminate();
    }
  }
}
