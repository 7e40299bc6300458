/**
 * Everything the demo starts, so that it can all be stopped: the child
 * processes (by their PIDs), the services, and the temporary directory. Stopped
 * in reverse order of starting, once, whether the story ends, fails or is
 * interrupted; if this process exits some other way, children are killed and
 * the directory removed synchronously on the way out.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DemoChild } from './children.js';

export class Session {
  /** Short, because a unix socket path (the CA's, inside it) is limited to about 100 bytes. */
  readonly dir = mkdtempSync(join(tmpdir(), 'meshca-demo-'));
  readonly children: DemoChild[] = [];
  private readonly closers: Array<() => Promise<void>> = [];
  private closing: Promise<void> | undefined;
  private reportDeath: ((err: Error) => void) | undefined;
  /** Rejects when a child process exits while the demo still needs it. */
  readonly childDied = new Promise<never>((_resolve, reject) => (this.reportDeath = reject));

  constructor() {
    this.childDied.catch(() => undefined); // observed by whoever races it
    process.once('exit', () => {
      for (const child of this.children) child.kill();
      rmSync(this.dir, { recursive: true, force: true });
    });
  }

  /** Stops `child` at the end, and treats its exit before then as a failure. */
  adopt(child: DemoChild): DemoChild {
    this.children.push(child);
    this.closers.push(() => child.stop());
    void child.exited.then(({ code, signal }) => {
      if (!this.closing) this.reportDeath?.(new Error(`${child.name} (pid ${child.pid}) exited unexpectedly (code ${code}, signal ${signal})`));
    });
    return child;
  }

  onClose(closer: () => Promise<void>): void {
    this.closers.push(closer);
  }

  /** Stops everything, newest first, and removes the directory; safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const closer of this.closers.reverse()) await closer().catch(() => undefined);
      rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.closing;
  }
}
