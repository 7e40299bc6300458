/**
 * Whether --out still holds what the agent published there. Files can go
 * behind the agent's back (an operator's rm, a cleanup job, another tool
 * writing into a shared --out); the proxy then fails at its next reload or
 * restart, while the agent, which only writes at a renewal or a new bundle,
 * would not notice until then.
 *
 * Each published file's identity (device, inode, size, modification time in
 * nanoseconds, permission bits) is remembered right after the publication;
 * a check is then a readlink of ..data and one stat per stable name. Nothing
 * is read: probes come every few seconds, and a CRL can be large. A file
 * rewritten in place keeps its inode but not its modification time; one put
 * in place of a name is another inode; either way it is not what was
 * published. stat follows the stable name through ..data, which is what a
 * proxy opens. A rewrite that keeps the size and sets the modification time
 * back goes unnoticed: the change time would tell, but chmod and link
 * changes move it too, and a group permission added must not count.
 */
import { readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DATA_LINK } from './installer.js';

/** What stat says of a file, as far as telling it apart from any other file (or from itself rewritten) goes. */
interface FileIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly mode: bigint;
}

/** One publication: the version ..data was made to point at, and the identity of each file under its stable name (undefined: gone already). */
interface Publication {
  readonly version: string;
  readonly files: ReadonlyMap<string, FileIdentity | undefined>;
}

export class InstalledFiles {
  private publication: Publication | undefined;
  /** Publications under way, and a count that moves at each one's start and end. */
  private underWay = 0;
  private generation = 0;

  constructor(private readonly dir: string) {}

  /**
   * Runs `work`, a publication into --out that ends by remembering it. A
   * check made meanwhile, or overlapping it, finds nothing: between the swap
   * of ..data and the remembering, --out holds a version not yet remembered,
   * which is no loss.
   */
  async publishing<T>(work: () => Promise<T>): Promise<T> {
    this.underWay++;
    this.generation++;
    try {
      return await work();
    } finally {
      this.underWay--;
      this.generation++;
    }
  }

  /**
   * Remembers `names`, published as `version`, as what --out should hold.
   * Never fails: a file that cannot be looked at now is remembered as gone,
   * which the next check reports, rather than failing a publication that has
   * been made.
   */
  async remember(version: string | undefined, names: readonly string[]): Promise<void> {
    if (version === undefined) {
      this.publication = undefined;
      return;
    }
    const files = new Map<string, FileIdentity | undefined>();
    for (const name of names) files.set(name, await this.identityOf(name));
    this.publication = { version, files };
  }

  /**
   * What --out no longer holds of the last publication, each naming the
   * file; empty while it holds it all, or when nothing was published. A
   * publication under way, or made while the check ran, makes it answer
   * nothing: what it would find is about the files that publication replaces.
   */
  async check(): Promise<string[]> {
    const publication = this.publication;
    const generation = this.generation;
    if (publication === undefined || this.underWay > 0) return [];
    const found = await this.differences(publication);
    return this.generation === generation ? found : [];
  }

  private async differences(publication: Publication): Promise<string[]> {
    const target = await readlink(join(this.dir, DATA_LINK)).catch((err: NodeJS.ErrnoException) => err);
    if (target instanceof Error) {
      if (target.code !== 'ENOENT') return [`${DATA_LINK} in --out cannot be read (${target.code ?? target.message})`];
      const outGone = (await stat(this.dir).catch(() => undefined)) === undefined;
      return [outGone ? `--out ${this.dir} is missing` : `${DATA_LINK} is missing from --out`];
    }
    // Every stable name resolves through ..data: pointed elsewhere, each file differs, for one reason worth naming.
    if (target !== publication.version) return [`${DATA_LINK} in --out points at ${target}, not at the version the agent published (${publication.version})`];
    const found: string[] = [];
    for (const [name, published] of publication.files) {
      const difference = describeDifference(name, published, await this.identityOf(name));
      if (difference !== undefined) found.push(difference);
    }
    return found;
  }

  private async identityOf(name: string): Promise<FileIdentity | undefined> {
    const info = await stat(join(this.dir, name), { bigint: true }).catch(() => undefined);
    if (info === undefined || !info.isFile()) return undefined;
    return { dev: info.dev, ino: info.ino, size: info.size, mtimeNs: info.mtimeNs, mode: info.mode & 0o7777n };
  }
}

function describeDifference(name: string, published: FileIdentity | undefined, now: FileIdentity | undefined): string | undefined {
  if (now === undefined) return `${name} is missing from --out`;
  if (published === undefined) return undefined;
  if (now.dev !== published.dev || now.ino !== published.ino) return `${name} in --out was replaced by another file`;
  if (now.size !== published.size || now.mtimeNs !== published.mtimeNs) return `${name} in --out was rewritten`;
  if (modeWorsened(published.mode, now.mode)) return `${name} in --out had its mode changed to ${now.mode.toString(8).padStart(4, '0')}`;
  return undefined;
}

/**
 * A permission the file was installed with taken away (the proxy may no
 * longer read it), or one given to every user (a key readable by all). A
 * group permission added is not: deployments give the proxy's group read
 * access, some from the reload command itself, which must not set off a
 * repair at each reload.
 */
function modeWorsened(published: bigint, now: bigint): boolean {
  const OTHERS = 0o007n;
  return (published & ~now) !== 0n || (now & ~published & OTHERS) !== 0n;
}
