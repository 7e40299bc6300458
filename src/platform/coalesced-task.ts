/**
 * A task that runs one at a time, for work that any number of events may ask
 * for (renewing the CA's serving certificate: a timer, a new intermediate, a
 * revocation). Calls while it runs share one further run, started when the
 * current one ends, whether that succeeded or failed: a reason to run that
 * arose meanwhile is never answered by a run that decided before it.
 */
export function coalescedTask(task: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const run = (): Promise<void> => {
    if (running === undefined) {
      running = task().finally(() => (running = undefined));
      return running;
    }
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return run();
      });
    return queued;
  };
  return run;
}
