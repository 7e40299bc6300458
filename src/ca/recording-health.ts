/**
 * Whether the datastore took the last issuance it was given. A full disk or
 * a read-only file system leaves the datastore answering queries (so it looks
 * reachable) while every issuance fails with 503: readiness and doctor must
 * say so, and learn when changes are taken again.
 */
import { MeshcaError, UnavailableError } from '../errors.js';

export interface RecordingFailure {
  /** Unix seconds. */
  readonly at: number;
  readonly message: string;
}

export class RecordingHealth {
  private failure: RecordingFailure | undefined;

  /** The last failure, while no change has been recorded since. */
  get lastFailure(): RecordingFailure | undefined {
    return this.failure;
  }

  failed(at: number, message: string): void {
    this.failure = { at, message };
  }

  recorded(): void {
    this.failure = undefined;
  }

  /**
   * Runs an issuance's write and notes whether the datastore took it. A
   * refusal for cause (a token spent, an agent evicted meanwhile) is neither:
   * the datastore answered.
   */
  async track<T>(now: () => number, write: () => Promise<T>, wrote: (result: T) => boolean = () => true): Promise<T> {
    try {
      const result = await write();
      // A transaction that changed nothing (a token already spent) says nothing of whether the disk takes changes.
      if (wrote(result)) this.recorded();
      return result;
    } catch (err) {
      if (!(err instanceof MeshcaError) || err instanceof UnavailableError) this.failed(now(), (err as Error).message);
      throw err;
    }
  }
}
