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

  /** Takes `cost` tokens, or throws a RateLimitedError saying when they will be there. */
  take(key: string, cost = 1): void {
    const short = this.shortfall(key, cost);
    if (short > 0) throw new RateLimitedError(Math.max(1, Math.ceil(short / this.rate)));
  }

  /**
   * Takes `cost` more tokens for a request that took `paid` as it arrived;
   * when they are not there, the request is refused as a whole and its
   * `paid` tokens go back, so that a client retrying after Retry-After finds
   * all it needs.
   */
  takeRest(key: string, cost: number, paid: number): void {
    const short = this.shortfall(key, cost);
    if (short === 0) return;
    const bucket = this.buckets.get(key)!;
    bucket.tokens = Math.min(this.burst, bucket.tokens + paid);
    throw new RateLimitedError(Math.max(1, Math.ceil(short / this.rate)));
  }

  /** Takes `cost` tokens if the bucket holds them; false (and nothing taken) if not. */
  tryTake(key: string, cost = 1): boolean {
    return this.shortfall(key, cost) === 0;
  }

  /** Tokens missing for `cost` (nothing is taken then), or 0 once they are taken. */
  private shortfall(key: string, cost: number): number {
    const now = this.clock.nowMs();
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, updatedMs: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updatedMs) / 1000) * this.rate);
    bucket.updatedMs = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < cost) return cost - bucket.tokens;
    bucket.tokens -= cost;
    if (this.buckets.size > MAX_KEYS) this.forgetFull(now);
    return 0;
  }

  private forgetFull(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.updatedMs) / 1000) * this.rate >= this.burst) this.buckets.delete(key);
    }
  }
}
