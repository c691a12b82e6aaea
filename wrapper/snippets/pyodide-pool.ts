import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { MCPW_DIST } from "../../native/install-paths.js";
import type { ChannelRequest, PyJob, PyJobResult, WorkerInit, WorkerMessage } from "./pyodide-protocol.js";
import { ensurePyodideSnapshot } from "./pyodide-snapshot.js";
import { answer, newChannelBuffer } from "./sync-channel.js";

/**
 * Pre-initialised Pyodide workers. A call takes a ready worker, so it never pays start-up; the
 * pool starts a replacement in the background whenever a worker leaves it.
 *
 * Time: at timeoutMs the pool sets the worker's interrupt buffer (Python raises KeyboardInterrupt
 * at its next check) and answers any call it is blocked in; if the snippet has not finished
 * `graceMs` later (it caught the interrupt, or is stuck in C), the worker is terminated and
 * replaced. A worker that hit a limit, could not reset, or served `recycleAfter` snippets is
 * replaced too; `recycleAfter: 1` gives every snippet a brand-new interpreter.
 */

export interface PyodidePoolOptions {
  size: number;
  /** Where the memory snapshot is kept. */
  cacheDir: string;
  /** Virtual directories the proxy file system serves. */
  mounts: string[];
  recycleAfter?: number;
  graceMs?: number;
}

export type CallHandler = (request: ChannelRequest) => Promise<unknown>;

interface PyWorker {
  worker: Worker;
  control: SharedArrayBuffer;
  channel: SharedArrayBuffer;
  runs: number;
  ready: Promise<void>;
  onMessage: ((m: WorkerMessage) => void) | null;
  exited: boolean;
  /** Between "done" and "idle": resetting itself for the next snippet. */
  resetting: boolean;
}

// From mcpw's install, not from import.meta.url: this module may run from the CLI bundle.
const WORKER_URL = pathToFileURL(join(MCPW_DIST, "wrapper", "snippets", "pyodide-worker.js"));

/** pyodide.asm.wasm compiled once; every worker instantiates the same module. */
async function compilePyodideWasm(): Promise<unknown> {
  const file = join(dirname(createRequire(import.meta.url).resolve("pyodide")), "pyodide.asm.wasm");
  const wasm = (globalThis as { WebAssembly?: { compile(bytes: Uint8Array): Promise<unknown> } }).WebAssembly!;
  return wasm.compile(await readFile(file));
}

/** How long a worker may take to reset after a run before it is replaced. */
const RESET_MS = 5000;

function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

export class PyodidePool {
  private readonly idle: PyWorker[] = [];
  private readonly starting = new Set<PyWorker>();
  /** Every live worker: starting, idle, running or resetting. */
  private readonly workers = new Set<PyWorker>();
  private readonly waiting: ((w: PyWorker) => void)[] = [];
  private closed = false;
  /** Workers replaced so far (after limits, failures or recycleAfter). */
  replaced = 0;

  private constructor(
    private readonly options: Required<PyodidePoolOptions>,
    private readonly snapshot: string,
    private readonly wasmModule: unknown,
  ) {}

  static async create(options: PyodidePoolOptions): Promise<PyodidePool> {
    const [snapshot, wasmModule] = await Promise.all([ensurePyodideSnapshot(options.cacheDir), compilePyodideWasm()]);
    const pool = new PyodidePool({ recycleAfter: 200, graceMs: 1000, ...options }, snapshot, wasmModule);
    // One at a time: the first worker gets the CPU to itself and is ready soonest; each one that
    // becomes ready starts the next until the pool is full.
    pool.spawn();
    return pool;
  }

  /** Resolves once at least one worker is ready. */
  async warm(): Promise<void> {
    const w = await this.take();
    this.release(w);
  }

  get available(): number {
    return this.idle.length;
  }

  async run(job: PyJob, onCall: CallHandler, timeoutMs: number): Promise<PyJobResult> {
    const w = await this.take();
    const control = new Int32Array(w.control, 0, 2);
    let callPending = false;
    let timedOut = false;
    return new Promise<PyJobResult>((resolve) => {
      let grace: NodeJS.Timeout | undefined;
      let settled = false;
      const onExit = () => {
        if (!settled) finish({ stdout: "", stderr: "[mcpw: the Python worker exited during the run; it is replaced]\n", exitCode: 137, reason: "memory", fatal: true }, true);
      };
      const finish = (result: PyJobResult, retire: boolean) => {
        if (settled) return;
        settled = true;
        w.worker.off("exit", onExit);
        clearTimeout(timer);
        clearTimeout(grace);
        w.onMessage = null;
        w.runs++;
        if (retire || result.fatal || result.reason === "timeout" || result.reason === "memory" || w.runs >= this.options.recycleAfter) this.retire(w);
        else {
          w.resetting = true; // released when the worker reports "idle"
          // A reset takes milliseconds; one that does not end (a snippet's finalizer that loops,
          // run by the reset) would hold the worker forever.
          const runs = w.runs;
          setTimeout(() => w.resetting && w.runs === runs && this.retire(w), RESET_MS).unref();
        }
        resolve(result);
      };
      const timer = setTimeout(() => {
        timedOut = true;
        Atomics.store(control, 1, 1);
        Atomics.store(control, 0, 2);
        if (callPending) answer(w.channel, { ok: false, error: { message: "the snippet's time is up (limits.timeoutMs)", code: "ETIMEDOUT" } });
        grace = setTimeout(() => {
          finish(
            { stdout: "", stderr: `[mcpw: stopped after ${timeoutMs} ms (limits.timeoutMs); the interpreter did not stop, so its worker was terminated and replaced]\n`, exitCode: 124, reason: "timeout" },
            true,
          );
        }, this.options.graceMs);
      }, timeoutMs);
      w.onMessage = (m) => {
        if (m.type === "call") {
          // After the deadline every call fails at once, so an interrupted snippet (formatting its
          // traceback, say) cannot block on the channel.
          if (timedOut) return answer(w.channel, { ok: false, error: { message: "the snippet's time is up (limits.timeoutMs)", code: "ETIMEDOUT" } });
          callPending = true;
          void onCall(JSON.parse(m.request) as ChannelRequest).then(
            (result) => ({ ok: true, result }),
            (err: unknown) => {
              const e = err as { message?: string; errno?: string; code?: string };
              return { ok: false, error: { message: e.message ?? String(err), code: e.errno ?? e.code ?? "EIO" } };
            },
          ).then((reply) => {
            if (!callPending || timedOut) return;
            callPending = false;
            answer(w.channel, reply);
          });
        } else if (m.type === "done") {
          if (timedOut && m.result.reason !== "timeout") {
            m.result.reason = "timeout";
            m.result.exitCode = 124;
          }
          if (m.result.reason === "timeout") m.result.stderr += `[mcpw: stopped after ${timeoutMs} ms (limits.timeoutMs)]\n`;
          // The worker's own to_json makes strict JSON: a value that does not parse means its
          // Python is no longer as set up (a snippet changed it), so the worker is not used again.
          const unreadable = typeof m.result.value === "string" && !parsesAsJson(m.result.value);
          if (unreadable) {
            delete m.result.value;
            m.result.stderr += "[mcpw: the value could not be read; the Python worker is replaced]\n";
          }
          finish(m.result, unreadable);
        } else if (m.type === "failed") {
          finish({ stdout: "", stderr: `[mcpw: the Python worker failed: ${m.message}]\n`, exitCode: 1, fatal: true }, true);
        }
      };
      w.worker.once("exit", onExit);
      w.worker.postMessage(job);
    });
  }

  private spawn(): void {
    if (this.closed) return;
    const init: WorkerInit = { snapshot: this.snapshot, wasmModule: this.wasmModule, control: new SharedArrayBuffer(8), channel: newChannelBuffer(), mounts: this.options.mounts };
    const worker = new Worker(WORKER_URL, { workerData: init, resourceLimits: { maxOldGenerationSizeMb: 512, stackSizeMb: 16 }, stdout: false, stderr: false });
    const w: PyWorker = { worker, control: init.control, channel: init.channel, runs: 0, onMessage: null, exited: false, resetting: false, ready: Promise.resolve() };
    this.starting.add(w);
    this.workers.add(w);
    w.ready = new Promise<void>((resolve, reject) => {
      worker.on("message", (m: WorkerMessage) => {
        if (m.type === "ready") {
          this.starting.delete(w);
          resolve();
          this.release(w);
          if (this.workers.size < this.options.size && this.starting.size === 0) this.spawn();
        } else if (m.type === "idle" && w.resetting) {
          w.resetting = false;
          if (m.ok) this.release(w);
          else this.retire(w);
        } else if (m.type === "failed" && this.starting.has(w)) {
          this.starting.delete(w);
          reject(new Error(m.message));
        } else w.onMessage?.(m);
      });
      worker.on("error", (e) => {
        if (this.starting.delete(w)) reject(e);
      });
      worker.on("exit", () => {
        w.exited = true;
        this.workers.delete(w);
        if (this.starting.delete(w)) reject(new Error("the Python worker exited while starting"));
      });
    });
    w.ready.catch((e: unknown) => {
      if (this.closed) return;
      process.stderr.write(`mcpw: a Python worker failed to start: ${(e as Error).message}\n`);
      if (!this.closed) setTimeout(() => this.spawn(), 1000).unref();
    });
  }

  private take(): Promise<PyWorker> {
    const w = this.idle.shift();
    if (w) return Promise.resolve(w);
    if (this.workers.size < this.options.size) this.spawn();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(w: PyWorker): void {
    if (this.closed || w.exited) return void w.worker.terminate();
    const next = this.waiting.shift();
    if (next) next(w);
    else this.idle.push(w);
  }

  private retire(w: PyWorker): void {
    if (process.env.MCPW_DEBUG_PYODIDE) process.stderr.write(`pyodide pool: replacing a worker after ${w.runs} runs\n`);
    this.replaced++;
    w.resetting = false;
    w.onMessage = null;
    this.workers.delete(w);
    void w.worker.terminate();
    this.spawn();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.idle.length = 0;
    await Promise.all([...this.workers].map((w) => w.worker.terminate()));
  }
}
