/**
 * A slow dependency asked on a schedule (readiness probes, metric scrapes):
 * one call in flight is joined by every caller rather than started again for
 * each, so calls to a datastore that does not answer do not pile up (each
 * holding a pooled connection until its own timeout), and each caller waits
 * at most `ms` for it.
 */
export function joinedWithin<T>(run: () => Promise<T>, ms: number, late: () => Error): () => Promise<T> {
  let running: Promise<T> | undefined;
  return async () => {
    running ??= run().finally(() => (running = undefined));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(late()), ms);
    });
    try {
      return await Promise.race([running, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}
