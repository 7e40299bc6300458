/**
 * What the agent knows of --out losing what it installed there (files
 * removed or replaced behind its back: installed-files.ts): the loss as last
 * seen, for /readyz to name; one warning per loss, however many probes see
 * it; and how soon a probe's sighting may have the loop install the files
 * again.
 */
import { describeError, type SidecarLogger } from './sidecar-deps.js';

export class OutWatch {
  /** What --out lacks, as last seen; undefined while it holds everything the agent installed. */
  private lost: string | undefined;
  private lastRepairMs: number | undefined;

  constructor(
    private readonly check: (() => Promise<readonly string[]>) | undefined,
    private readonly log: SidecarLogger,
    /** --sync-interval: repairs come at most every half of it (mayRepairNow). */
    private readonly intervalMs: number,
  ) {}

  get loss(): string | undefined {
    return this.lost;
  }

  /**
   * Looks at --out again; says whether this is a loss not seen before. The
   * warning comes once per loss, at its first sighting: a loss lasts, the
   * same, until --out is seen whole again, or is installed again.
   */
  async look(now: number): Promise<boolean> {
    if (this.check === undefined) return false;
    let found: string | undefined;
    try {
      const differences = await this.check();
      found = differences.length ? differences.join('; ') : undefined;
    } catch (err) {
      // Not expected (the check only stats), and not a reason to call --out broken: the next look decides.
      this.log.warn({ err: describeError(err) }, 'could not check the files installed in --out');
      return false;
    }
    // Another loss than the one last seen is news too (a second file gone while the first is being put back).
    const fresh = found !== undefined && found !== this.lost;
    this.lost = found;
    if (fresh) this.log.warn({ lost: found }, `--out no longer holds what the agent installed (${found}); ${this.whenRepaired(now)}`);
    return fresh;
  }

  /**
   * Whether the files may be installed again now, by a step or at once for
   * a probe that saw a new loss. Against a tool that keeps overwriting --out,
   * that makes about one repair per sync, not one per probe or per reload
   * retry (each repair makes a reload due). Half the interval, not all of it:
   * a repair a probe asked for shortly before a sync must not put off the
   * sync's own by a whole interval more.
   */
  mayRepairNow(now: number): boolean {
    return this.lastRepairMs === undefined || now - this.lastRepairMs >= this.intervalMs / 2 || now < this.lastRepairMs;
  }

  /** What the warning of a loss promises: the repair now, or after the pause that follows the last one. */
  private whenRepaired(now: number): string {
    const what = 'the same SVID, key, bundle and CRL';
    if (this.mayRepairNow(now)) return `installing ${what} again`;
    const from = new Date(this.lastRepairMs! + this.intervalMs / 2).toISOString();
    return `installing ${what} again at the first step from ${from} (after one repair, the next waits half --sync-interval)`;
  }

  /** The files were just installed again: whole until a look says otherwise. */
  repaired(now: number): void {
    this.lost = undefined;
    this.lastRepairMs = now;
  }
}
