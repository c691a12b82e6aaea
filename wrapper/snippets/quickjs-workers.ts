import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { McpwError } from "../../protocol/errors.js";
import { MCPW_DIST } from "../../native/install-paths.js";
import type { RunLimits } from "./quickjs-runner.js";
import type { SnippetResult } from "./schemas.js";
import { describeHostError, type RunHost } from "./snippet-host.js";

/**
 * run_js off mcpw's event loop: worker threads, each running one snippet at a time in QuickJS
 * (quickjs-worker.ts). A snippet that spins (`while (true) {}`) holds its worker until QuickJS's
 * interrupt handler ends it at the deadline; mcpw's server, its other sandboxes and other snippets
 * go on meanwhile. A run's host calls (files, HTTP) come here by message and are served with the
 * run's own SnippetHost, so the policy is applied in mcpw, as before; an answer for a run that has
 * ended is dropped.
 *
 * Workers start as runs need them (one at once, then one spare ahead of the runs, up to `size`)
 * and stay. A
 * worker that has not answered `graceMs` after the run's deadline (QuickJS did not stop), or that
 * fails, is terminated and replaced.
 */

export type HostMethod = "fetch" | "readFile" | "writeFile" | "fs";

export interface QuickJsWorkerData {
  /** Ready runtimes the worker keeps (it runs one snippet at a time). */
  runtimes: number;
}

/** Main thread → worker. */
export type ToWorker =
  | { type: "run"; run: number; code: string; info: RunHost["info"]; limits: RunLimits }
  | { type: "answer"; run: number; id: number; ok: true; result: unknown }
  | { type: "answer"; run: number; id: number; ok: false; error: { message: string; code: string } };

/** Worker → main thread. */
export type FromWorker = { type: "ready" } | { type: "call"; run: number; id: number; method: HostMethod; args: unknown[] } | { type: "done"; run: number; result: SnippetResult };

const WORKER_SCRIPT = join(MCPW_DIST, "wrapper", "snippets", "quickjs-worker.js");

/**
 * mcpw's Node flags less its module hooks (--import, --require, --loader: a test runner's, an
 * APM's): a worker runs mcpw's own code only, and a hook loaded into each one cost seconds (tap's
 * TypeScript loader: 2.5 s to start four workers instead of 0.36 s).
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (/^(--import|--require|-r|--loader|--experimental-loader)$/.test(a)) i++;
    else if (!/^(--import|--require|--loader|--experimental-loader)=/.test(a)) out.push(a);
  }
  return out;
}

interface Slot {
  worker: Worker;
  /** The run on it, or null when idle. */
  run: { id: number; host: RunHost; finish(result: SnippetResult): void } | null;
}

export class QuickJsWorkers {
  private readonly idle: Slot[] = [];
  private readonly slots = new Set<Slot>();
  private readonly waiting: { resolve(slot: Slot): void; reject(e: Error): void }[] = [];
  private nextRun = 0;
  private closed = false;
  /** Workers replaced so far (a run that did not stop, a worker that failed). */
  replaced = 0;

  private constructor(
    readonly size: number,
    private readonly graceMs: number,
  ) {}

  /** One worker is started at once; more as runs overlap (one spare ahead), up to `size`. */
  static async create(size: number, graceMs = 2000): Promise<QuickJsWorkers> {
    const pool = new QuickJsWorkers(Math.max(1, size), graceMs);
    await pool.spawn();
    return pool;
  }

  get available(): number {
    return this.idle.length;
  }

  async run(code: string, host: RunHost, limits: RunLimits): Promise<SnippetResult> {
    const slot = await this.take();
    const id = ++this.nextRun;
    const started = performance.now();
    slot.worker.ref();
    return new Promise<SnippetResult>((resolve) => {
      const watchdog = setTimeout(() => {
        this.replace(slot);
        finish({ stdout: "", stderr: `[mcpw: stopped after ${limits.timeoutMs} ms (limits.timeoutMs); QuickJS did not stop, so its worker was terminated and replaced]\n`, exitCode: 124, reason: "timeout", durationMs: Math.round((performance.now() - started) * 100) / 100 });
      }, limits.timeoutMs + this.graceMs);
      const finish = (result: SnippetResult) => {
        if (slot.run?.id !== id) return;
        clearTimeout(watchdog);
        slot.run = null;
        this.release(slot);
        resolve(result);
      };
      slot.run = { id, host, finish };
      slot.worker.postMessage({ type: "run", run: id, code, info: host.info, limits } satisfies ToWorker);
    });
  }

  private spawn(): Promise<void> {
    const worker = new Worker(WORKER_SCRIPT, { workerData: { runtimes: 1 } satisfies QuickJsWorkerData, execArgv: workerExecArgv() });
    const slot: Slot = { worker, run: null };
    this.slots.add(slot);
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.on("message", (m: FromWorker) => {
        if (m.type === "ready") {
          ready = true;
          this.release(slot);
          return resolve();
        }
        if (m.type === "call") return this.serve(slot, m);
        if (m.type === "done") slot.run?.id === m.run && slot.run.finish(m.result);
      });
      worker.on("error", (err) => {
        if (!ready) {
          this.slots.delete(slot);
          return reject(new McpwError("internal", `a QuickJS worker failed to start: ${err.message}`));
        }
        const run = slot.run;
        this.replace(slot);
        run?.finish({ stdout: "", stderr: `[mcpw: the QuickJS worker failed: ${err.message}; it is replaced]\n`, exitCode: 1, durationMs: 0 });
      });
      worker.on("exit", () => {
        if (!this.slots.has(slot)) return;
        const run = slot.run;
        this.replace(slot);
        run?.finish({ stdout: "", stderr: "[mcpw: the QuickJS worker exited during the run; it is replaced]\n", exitCode: 1, durationMs: 0 });
      });
    });
  }

  /** A host call of the run on `slot`, served with that run's host; the answer goes back only to that run. */
  private serve(slot: Slot, m: Extract<FromWorker, { type: "call" }>): void {
    const run = slot.run;
    if (!run || run.id !== m.run) return;
    const { host } = run;
    const [a, b, c] = m.args as [never, never, never];
    const work: Promise<unknown> =
      m.method === "fetch" ? host.fetch(a) : m.method === "readFile" ? host.readFile(a, b) : m.method === "writeFile" ? host.writeFile(a, b, c) : host.fs(a);
    void work.then(
      (result) => slot.run?.id === m.run && slot.worker.postMessage({ type: "answer", run: m.run, id: m.id, ok: true, result } satisfies ToWorker),
      (err: unknown) => slot.run?.id === m.run && slot.worker.postMessage({ type: "answer", run: m.run, id: m.id, ok: false, error: describeHostError(err) } satisfies ToWorker),
    );
  }

  private take(): Promise<Slot> {
    if (this.closed) return Promise.reject(new McpwError("internal", "the QuickJS workers are closed"));
    const slot = this.idle.shift();
    // One spare is started when the last idle worker is taken, so that a run that comes while this
    // one runs (or spins) does not wait for a worker to start.
    if (this.idle.length === 0 && this.slots.size < this.size) this.respawn();
    if (slot) return Promise.resolve(slot);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private release(slot: Slot): void {
    if (this.closed || !this.slots.has(slot)) return;
    // An idle worker does not keep mcpw running.
    slot.worker.unref();
    const next = this.waiting.shift();
    if (next) next.resolve(slot);
    else this.idle.push(slot);
  }

  /** Terminates the worker on `slot` and starts another in its place. */
  private replace(slot: Slot): void {
    if (!this.slots.delete(slot)) return;
    const i = this.idle.indexOf(slot);
    if (i >= 0) this.idle.splice(i, 1);
    this.replaced++;
    void slot.worker.terminate();
    this.respawn();
  }

  /** Starts a worker in the background; if none can start, the runs waiting get the error. */
  private respawn(): void {
    if (this.closed) return;
    this.spawn().catch((e: Error) => {
      process.stderr.write(`mcpw: ${e.message}\n`);
      if (this.slots.size === 0) for (const w of this.waiting.splice(0)) w.reject(e);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.idle.length = 0;
    for (const w of this.waiting.splice(0)) w.reject(new McpwError("internal", "the QuickJS workers are closed"));
    const slots = [...this.slots];
    this.slots.clear();
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
