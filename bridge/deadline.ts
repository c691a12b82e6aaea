import { McpwError } from "../protocol/errors.js";

/**
 * One time limit shared by the steps of an operation (resolve, connect, each redirect, reading a
 * body). When it passes, `signal` aborts and every `race` still waiting rejects with a `timeout`
 * error that says what timed out.
 */
export class Deadline {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly expired: Promise<never>;

  constructor(ms: number, what: string) {
    this.signal = this.controller.signal;
    this.expired = new Promise<never>((_, reject) => {
      this.signal.addEventListener("abort", () => reject(new McpwError("timeout", `${what} timed out after ${ms} ms`)), { once: true });
    });
    this.expired.catch(() => undefined); // nobody may be racing when it fires
    this.timer = setTimeout(() => this.controller.abort(), ms);
  }

  /** `step`'s outcome, or the timeout error if the time runs out first. */
  race<T>(step: Promise<T>): Promise<T> {
    return Promise.race([step, this.expired]);
  }

  /** Stops the clock; nothing is aborted. */
  clear(): void {
    clearTimeout(this.timer);
  }
}
