/**
 * Token buckets per key (an agent, a remote address), driven by the injected
 * clock. An empty bucket answers 429 with the seconds until enough tokens
 * return.
 */
import { RateLimitedError } from '../errors.js';
import type { Clock } from '../time/clock.js';

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/** Past this many keys, full buckets are forgotten so a flood of new addresses cannot grow memory without bound. */
const MAX_KEYS = 10_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly clock: Clock,
    /** Tokens added per second. */
    private readonly rate: number,
    /** Bucket size: the largest burst allowed. */
    private readonly burst: number,
  ) {}

  take(key: string, cost = 1): void {
    const now = this.clock.nowMs();
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, updatedMs: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updatedMs) / 1000) * this.rate);
    bucket.updatedMs = now;
    if (bucket.tokens < cost) {
      this.buckets.set(key, bucket);
      throw new RateLimitedError(Math.max(1, Math.ceil((cost - bucket.tokens) / this.rate)));
    }
    bucket.tokens -= cost;
    this.buckets.set(key, bucket);
    if (this.buckets.size > MAX_KEYS) this.forgetFull(now);
  }

  private forgetFull(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.updatedMs) / 1000) * this.rate >= this.burst) this.buckets.delete(key);
    }
  }
}
