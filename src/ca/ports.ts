/**
 * What the CA needs from the outside world, declared here and implemented by
 * adapters (store/, cli/). The core never imports an adapter.
 */
import type { KeyObject } from 'node:crypto';
import type { VerifiedCsr } from '../x509/csr.js';
import type { SvidFacts } from '../x509/profiles.js';
import type { LoadedAuthority } from './authority-set.js';
import type { AuditEvent, AuthorityRecord, IssuedCertificateRecord } from './model.js';

/** Durable record of issued certificates. Resolves only after the record is committed. */
export interface IssuanceLedger {
  recordIssued(record: IssuedCertificateRecord, event: AuditEvent): Promise<void>;
}

/** One atomic change to the CA's authorities: the journal of the key lifecycle. */
export interface AuthorityChange {
  /** New or updated authority records (state transitions). */
  readonly upserts: readonly AuthorityRecord[];
  /** The trust bundle's sequence after the change. */
  readonly bundleSequence: number;
  readonly events: readonly AuditEvent[];
}

export interface AuthorityJournal {
  listAuthorities(): Promise<AuthorityRecord[]>;
  bundleSequence(): Promise<number>;
  /** Commits the whole change or nothing; the caller updates memory only after it resolves. */
  applyAuthorityChange(change: AuthorityChange): Promise<void>;
  /**
   * How a PKI was begun in this datastore, or undefined when none ever was.
   * Noted (durably) before the first CA key is saved, it tells CA keys found
   * without records apart: a first start interrupted (begun here) or the
   * records lost (never begun). And a first start that began to import an
   * organisation's PKI and never finished (refused, or stopped) from one that
   * may make a root of its own.
   */
  pkiBegun(): Promise<PkiOrigin | undefined>;
  /** Notes how this first start gets its PKI, in place of what an unfinished earlier one noted. */
  notePkiBegun(origin: PkiOrigin): Promise<void>;
}

/** Where a first start's PKI comes from: meshca makes it, or it imports an organisation's root or intermediate. */
export type PkiOrigin = 'generate' | 'import';

/** Keeps CA private keys. `describe` names the place (a file path) for error messages. */
export interface KeyCustody {
  save(ref: string, key: KeyObject): Promise<void>;
  /** Throws CaIntegrityError naming the place when the key is missing, unreadable or corrupt. */
  load(ref: string): Promise<KeyObject>;
  describe(ref: string): string;
  /** Every reference custody holds, e.g. to notice keys whose records were lost. */
  list(): Promise<string[]>;
  /**
   * Moves the keys no record names out of use and returns their references:
   * what a server killed between saving a new key and committing its record
   * left (or what a datastore restored from an older backup no longer names,
   * hence set aside, not deleted). Called at start under the lifecycle lock,
   * so no replica is between those two steps. Every custody has it: one that
   * left keys unrecorded in use could sign unseen.
   */
  setAsideUnreferenced(referenced: ReadonlySet<string>): Promise<string[]>;
  /**
   * Encrypts with the passphrase the keys stored without one (an earlier
   * start had none), or under the passphrase unstretched (an earlier build),
   * and returns their references (authority ids, public). Call it only once every
   * key in use has loaded with that passphrase, so that a wrong one stops the
   * start before anything is rewritten and keys never end up under two.
   */
  encryptAtRest(): Promise<string[]>;
}

/** The subset of a pino logger the core uses, so it can log decisions without importing pino. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  child(bindings: object): Logger;
}

/**
 * Checks untrusted CSRs (size, structure, proof of possession, key policy).
 * The CPU-heavy part of issuance: done in this thread, or on signing workers.
 */
export interface CsrVerifier {
  verify(pem: string): Promise<VerifiedCsr>;
}

/** Encodes and signs a leaf with an authority's key: in this thread, or on signing workers. */
export interface LeafSigner {
  signLeaf(facts: SvidFacts, issuer: LoadedAuthority): Promise<Buffer>;
}

/**
 * Keeps CA replicas that share a datastore from running lifecycle work
 * (creating the PKI, rotating) at the same time. An embedded CA is alone and
 * always runs the work.
 */
export interface Coordinator {
  /** Runs `work` holding the lifecycle lock, or resolves `undefined` without running it if another replica holds it. */
  exclusive<T>(work: () => Promise<T>): Promise<T | undefined>;
}

export const aloneCoordinator: Coordinator = { exclusive: (work) => work() };
