/**
 * The load generator the benchmark uses for every CA: closed loops at a fixed
 * concurrency, or an open loop at a fixed rate (latency measured from when a
 * request was due, so a slow server cannot hide its queueing).
 */
/**
 * How long one request may go unanswered before it counts as an error: a CA
 * that stops answering then ends each step at its window plus this, and the
 * run goes on to stop it, rather than waiting for good.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

/** `answer`, or an error naming `what` once it has been unanswered for `timeoutMs` (for the bench's one-off requests). */
export async function answeredWithin<T>(what: string, answer: Promise<T>, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    return await Promise.race([answer, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface LoadResult {
  readonly issued: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly errors: number;
}

function summarize(latencies: number[], issued: number, seconds: number, errors: number): LoadResult {
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? NaN;
  return { issued, seconds, perSecond: issued / seconds, p50: at(0.5), p99: at(0.99), max: latencies[latencies.length - 1] ?? NaN, errors };
}

/** `call` issues `batch` certificates per request and resolves when they are all back. */
export async function closedLoop(call: (worker: number) => Promise<number>, concurrency: number, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let issued = 0;
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          const n = await call(worker);
          issued += n;
          latencies.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  return summarize(latencies, issued, (performance.now() - started) / 1000, errors);
}

/**
 * Sends a request every 1/rate seconds whatever the answers do, for `seconds`.
 * Each request carries `perRequest` issuances, so `rate` counts requests.
 */
export async function openLoop(call: (i: number) => Promise<number>, rate: number, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  let issued = 0;
  let errors = 0;
  const started = performance.now();
  const total = Math.round(rate * seconds);
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      call(i).then(
        (n) => {
          issued += n;
          latencies.push(performance.now() - due);
        },
        () => {
          errors++;
        },
      ),
    );
  }
  await Promise.all(pending);
  return summarize(latencies, issued, (performance.now() - started) / 1000, errors);
}
