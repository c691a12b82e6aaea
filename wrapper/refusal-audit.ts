import type { AuditInput } from "../server/audit-log.js";

/**
 * Audits refused channel connections without letting them flood the log: the first `perWindow`
 * refusals of each window are written one by one, the rest are counted and written as one summary
 * line when the window ends (or the supervisor closes). Any local process that reached a run
 * dir's `channel.sock` could make mcpw write a line per connection: 67,000 lines in 3 s.
 */
export class RefusalAudit {
  private windowStart = Number.NEGATIVE_INFINITY;
  private logged = 0;
  private suppressed = 0;
  private lastPid: number | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly write: (entry: AuditInput) => void,
    /** Fields every line carries (event, verdict, sandbox, origin). */
    private readonly base: AuditInput,
    private readonly perWindow = 20,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** One refused connection: its own fields (socket, pid, reason). */
  refused(fields: Record<string, unknown>): void {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      this.flush();
      this.windowStart = t;
      this.logged = 0;
    }
    if (this.logged < this.perWindow) {
      this.logged++;
      this.write({ ...this.base, ...fields });
      return;
    }
    this.suppressed++;
    this.lastPid = typeof fields.pid === "number" ? fields.pid : this.lastPid;
    this.timer ??= setTimeout(() => this.flush(), Math.max(0, this.windowStart + this.windowMs - t)).unref();
  }

  /** Writes the summary of what was counted, if anything was. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.suppressed === 0) return;
    const n = this.suppressed;
    this.suppressed = 0;
    this.write({
      ...this.base,
      suppressed: n,
      pid: this.lastPid,
      reason: `${n} more connection(s) refused within ${Math.round(this.windowMs / 1000)} s, beyond the first ${this.perWindow}; not audited one by one`,
    });
  }
}
