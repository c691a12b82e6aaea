import { McpwError } from "../protocol/errors.js";

export interface RateLimitOptions {
  /** Failed attempts allowed per address within `windowMs` before it is locked out. */
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = { maxFailures: 5, windowMs: 60_000, lockoutMs: 60_000 };

/**
 * Failed authentication attempts per remote address. Past the limit, every attempt from that
 * address — right token or not — is refused until the lockout ends.
 */
export class AuthRateLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly lockedUntil = new Map<string, number>();
  private readonly opts: RateLimitOptions;
  private readonly now: () => number;

  constructor(opts: RateLimitOptions = DEFAULT_RATE_LIMIT, now: () => number = Date.now) {
    this.opts = opts;
    this.now = now;
  }

  /** Throws `rate_limited` while the address is locked out. */
  check(address: string): void {
    const until = this.lockedUntil.get(address);
    if (until === undefined) return;
    const left = until - this.now();
    if (left <= 0) {
      this.lockedUntil.delete(address);
      this.failures.delete(address);
      return;
    }
    throw new McpwError("rate_limited", `too many failed authentication attempts from ${address}; retry in ${Math.ceil(left / 1000)} s`, {
      retryAfterMs: left,
    });
  }

  /** Records a failure; returns true when this failure started a lockout. */
  fail(address: string): boolean {
    const now = this.now();
    const recent = (this.failures.get(address) ?? []).filter((t) => now - t < this.opts.windowMs);
    recent.push(now);
    this.failures.set(address, recent);
    if (recent.length >= this.opts.maxFailures) {
      this.lockedUntil.set(address, now + this.opts.lockoutMs);
      return true;
    }
    this.prune(now);
    return false;
  }

  succeed(address: string): void {
    this.failures.delete(address);
  }

  /** Keeps the tables from growing without bound under a spray of addresses. */
  private prune(now: number): void {
    if (this.failures.size < 10_000) return;
    for (const [addr, times] of this.failures) {
      if (times.every((t) => now - t >= this.opts.windowMs)) this.failures.delete(addr);
    }
  }
}
