/**
 * The agent's private state across restarts (--state-dir, 0700, files 0600):
 * its own SVID and key, the newest trust bundle it has seen, the roots the
 * CA has retired since, and whether the CA refused the agent. With a valid
 * agent SVID here, a restarted agent needs no new join token.
 */
import { lstat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory, makeDirectory, removeTemporaries, writeFileAtomic } from '../platform/atomic-file.js';
import { readRegularFile } from '../platform/regular-file.js';
import { certificatesToPem, decodeCertificates, decodePemBlocks, encodePem } from '../x509/pem.js';

export interface AgentCredential {
  readonly keyPem: string;
  /** Leaf first. */
  readonly chainPem: string;
}

/** Key and chain in one file, so that one rename replaces both: a crash can never pair a new key with an old certificate. */
const CREDENTIAL = 'agent_credential.pem';
/**
 * Not bundle.pem, the name of the bundle published for the proxy: one
 * directory may be both --out and --state-dir, and each publication would
 * turn the saved bundle into a link into --out's current version (read as
 * none: no link is followed here), while each save put a 0600 copy in place
 * of the proxy's bundle.pem.
 */
const BUNDLE = 'ca_bundle.pem';
/** Where earlier builds saved the bundle: still read, removed once replaced, but only as a file of this directory's own. */
const OLD_BUNDLE = 'bundle.pem';
/**
 * Roots a bundle of the CA's held and a later one did not: retired. A
 * restarted agent takes none of them from --trust-bundle, which may be a
 * ConfigMap made before the retirement. Written before the bundle that
 * dropped them, so that a crash in between leaves the record beside the
 * bundle that still held them, never the new bundle without the record.
 */
const RETIRED_ROOTS = 'retired_roots.pem';
/**
 * Present while the CA has refused the agent (evicted, banned, its SVID
 * revoked) and no attestation has succeeded since: the refused credential is
 * gone, so only this file keeps a restarted agent from serving the SVID in
 * --out, which the refusal revoked too, as if nothing had happened.
 */
const REFUSED = 'agent_refused.json';
/** Where earlier builds kept the key and the chain, in two files: still read, removed once replaced. */
const OLD_KEY = 'agent_key.pem';
const OLD_CHAIN = 'agent_svid.pem';

/**
 * What the CA refused, as recorded. The serial tells the refused credential
 * from one saved after it: the two files cannot change in one rename, and a
 * crash can leave either beside the record. Absent when the record cannot be
 * read, which counts as a refusal of whatever credential is saved.
 */
export interface AgentRefusal {
  /** The CA's error code (agent_evicted, agent_banned, …). */
  readonly code?: string;
  /** The refused agent SVID's serial, lowercase hex. */
  readonly serial?: string;
  readonly atMs?: number;
}

/**
 * The record of retired roots as read: each root's DER (none is an empty
 * file), or 'unreadable'. It is written by one rename, so only damage from
 * outside the agent makes it unreadable.
 */
export type RetiredRootsRecord = readonly Buffer[] | 'unreadable';

function parseRetiredRoots(text: string): RetiredRootsRecord {
  let roots: Buffer[];
  try {
    roots = decodeCertificates(text);
  } catch {
    return 'unreadable';
  }
  // Text without a certificate is damage: the record of no root is an empty file.
  return roots.length === 0 && text.trim() !== '' ? 'unreadable' : roots;
}

function parseRefusal(text: string): AgentRefusal {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {};
  }
  const r = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const atMs = typeof r.refusedAt === 'string' ? Date.parse(r.refusedAt) : NaN;
  return {
    ...(typeof r.code === 'string' ? { code: r.code } : {}),
    ...(typeof r.serial === 'string' ? { serial: r.serial.toLowerCase() } : {}),
    ...(Number.isFinite(atMs) ? { atMs } : {}),
  };
}

function splitCredential(pem: string): AgentCredential | undefined {
  let blocks;
  try {
    blocks = decodePemBlocks(pem);
  } catch {
    return undefined; // unreadable: the agent attests again, as with no file
  }
  const key = blocks.find((b) => b.label === 'PRIVATE KEY');
  const chain = blocks.filter((b) => b.label === 'CERTIFICATE');
  if (!key || chain.length === 0) return undefined;
  return { keyPem: encodePem(key.label, key.der), chainPem: chain.map((b) => encodePem(b.label, b.der)).join('') };
}

export class StateStore {
  /** `user`: the agent's, whose files (and root's) are believed; the effective user unless a test says otherwise. */
  constructor(
    private readonly dir: string,
    private readonly user: number | undefined = process.geteuid?.(),
  ) {}

  /**
   * `retiredRoots` is absent when there is no record (a state directory of a
   * build that kept none). `foreign` names the files left unread because
   * another user owns them (neither the agent's user nor root): in a
   * --state-dir others can write to (which the agent warns of at start), a
   * bundle planted there would otherwise be trusted for the CA's connection,
   * and a credential planted there presented as the agent's. The refusal and
   * retired-roots records are read whoever owns them: one planted can only
   * make the agent more cautious.
   */
  async load(): Promise<{ credential?: AgentCredential; bundlePem?: string; retiredRoots?: RetiredRootsRecord; refusal?: AgentRefusal; foreign?: string[] }> {
    const foreign: string[] = [];
    // Each file as itself: a link planted in a directory others can write is not followed.
    const read = (name: string) =>
      readRegularFile(join(this.dir, name)).then(
        (file) => {
          if (this.user === undefined || file.owner === this.user || file.owner === 0) return file.data;
          foreign.push(name);
          return undefined;
        },
        () => undefined,
      );
    const [credentialPem, savedBundle, oldBundle, oldKey, oldChain, retiredRoots, refusal] = await Promise.all([
      read(CREDENTIAL), read(BUNDLE), read(OLD_BUNDLE), read(OLD_KEY), read(OLD_CHAIN), this.readRetiredRoots(), this.readRefusal(),
    ]);
    const bundlePem = savedBundle ?? oldBundle;
    const saved = credentialPem ?? (oldKey && oldChain ? oldKey + oldChain : undefined);
    const credential = saved === undefined ? undefined : splitCredential(saved);
    return {
      ...(credential ? { credential } : {}),
      ...(bundlePem ? { bundlePem } : {}),
      ...(retiredRoots ? { retiredRoots } : {}),
      ...(refusal ? { refusal } : {}),
      ...(foreign.length ? { foreign: foreign.sort() } : {}),
    };
  }

  /** Only a record known to be absent is no record: one there but unreadable (a link, say) is damage to report. */
  private async readRetiredRoots(): Promise<RetiredRootsRecord | undefined> {
    try {
      return parseRetiredRoots((await readRegularFile(join(this.dir, RETIRED_ROOTS))).data);
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : 'unreadable';
    }
  }

  /** Only a record known to be absent means no refusal: one there but unreadable still counts. */
  private async readRefusal(): Promise<AgentRefusal | undefined> {
    try {
      return parseRefusal((await readRegularFile(join(this.dir, REFUSED))).data);
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : {};
    }
  }

  /**
   * Removes the temporary files a save killed midway left (one may hold the
   * agent's private key). Only at start: the agent is the directory's one writer.
   * Returns the names removed.
   */
  async removeCrashLeftovers(): Promise<string[]> {
    return removeTemporaries(this.dir);
  }

  async saveCredential(c: AgentCredential): Promise<void> {
    await makeDirectory(this.dir, 0o700);
    await writeFileAtomic(join(this.dir, CREDENTIAL), c.keyPem + c.chainPem, 0o600);
    await this.removeSynced([OLD_KEY, OLD_CHAIN]);
  }

  /**
   * Records that the CA refused the agent, on disk before this returns. Call it
   * before forgetCredential: a crash in between leaves the record beside the
   * refused credential (told apart by `serial`), never neither.
   */
  async recordRefusal(r: { readonly code: string; readonly serial: string | undefined; readonly atMs: number }): Promise<void> {
    await makeDirectory(this.dir, 0o700);
    const record = { code: r.code, ...(r.serial ? { serial: r.serial } : {}), refusedAt: new Date(r.atMs).toISOString() };
    await writeFileAtomic(join(this.dir, REFUSED), `${JSON.stringify(record)}\n`, 0o600);
  }

  /** Removes the refusal record, once a new credential is saved (saveCredential): a crash in between leaves a record whose serial is not the saved one's. */
  async clearRefusal(): Promise<void> {
    await this.removeSynced([REFUSED]);
  }

  /** Forgets a credential the CA refused, so that a restart does not present it again. */
  async forgetCredential(): Promise<void> {
    await this.removeSynced([CREDENTIAL, OLD_KEY, OLD_CHAIN]);
  }

  /** Removes `names` and makes the removal durable, as writeFileAtomic does a write. */
  private async removeSynced(names: readonly string[]): Promise<void> {
    await Promise.all(names.map((name) => rm(join(this.dir, name), { force: true })));
    await fsyncDirectory(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err; // no directory: nothing was there to remove
    });
  }

  /** Replaces the record of retired roots (each root's DER) with `roots`; call it before saving the bundle that dropped them. */
  async saveRetiredRoots(roots: readonly Buffer[]): Promise<void> {
    await makeDirectory(this.dir, 0o700);
    await writeFileAtomic(join(this.dir, RETIRED_ROOTS), certificatesToPem(roots), 0o600);
  }

  async saveBundle(pem: string): Promise<void> {
    await makeDirectory(this.dir, 0o700);
    await writeFileAtomic(join(this.dir, BUNDLE), pem, 0o600);
    // A link of that name is the proxy's bundle.pem (the directory is also --out), not an earlier build's file.
    if ((await lstat(join(this.dir, OLD_BUNDLE)).catch(() => undefined))?.isFile()) await this.removeSynced([OLD_BUNDLE]);
  }
}
