import { readFile } from "node:fs/promises";
import { McpwError } from "../../protocol/errors.js";
import type { Policy } from "../../protocol/policy.js";
import type { AuditInput } from "../../server/audit-log.js";
import type { McpwScript } from "../launcher.js";
import { capUntrusted, capUntrustedValue, cutText } from "./output-cap.js";
import { FAILED_MESSAGE_BYTES, type ChannelRequest, type PyJob, type PyJobResult, type WorkerMessage } from "./pyodide-protocol.js";
import { parseChannelRequest, PyodideProcess, type PyodideProcessExit, type PyodideSandboxOptions } from "./pyodide-sandbox.js";
import { ensurePyodideSnapshot } from "./pyodide-snapshot.js";
import type { ChannelAnswer } from "./sync-channel.js";

/**
 * Pre-initialised Pyodide processes, each in a sandbox of its own (pyodide-sandbox.ts). A call
 * takes a ready one, so it never pays start-up; the pool starts a replacement in the background
 * whenever one leaves it.
 *
 * The processes are untrusted: a call a process makes is served with the host (files, HTTP) of the
 * job then running on it and of no other, an answer that comes after its job has ended is dropped,
 * and a message out of turn ends the process.
 *
 * Time: at timeoutMs the pool has the process set its interrupt buffer (Python raises
 * KeyboardInterrupt at its next check) and answers any call it is blocked in; if the snippet has
 * not finished `graceMs` later (it caught the interrupt, or is stuck in C), the whole sandbox is
 * killed and replaced. A process that hit a limit, could not reset, died, or served `recycleAfter`
 * snippets is replaced too; `recycleAfter: 1` gives every snippet a brand-new interpreter.
 */

export interface PyodidePoolOptions {
  size: number;
  /** Where the memory snapshot is kept. */
  cacheDir: string;
  /** Virtual directories the proxy file system serves. */
  mounts: string[];
  /** The snippet policy's isolation: "strict" refuses to start without bubblewrap. */
  isolation: Policy["isolation"];
  /** The configured snippets' memMb; each process's own limits are sized from it. */
  memMb: number;
  /** Where refusals of a process's own channel are audited. */
  audit?: (entry: AuditInput) => void;
  /** What each sandbox runs (default pyodide-process.js; tests give a misbehaving stand-in). */
  program?: McpwScript;
  recycleAfter?: number;
  graceMs?: number;
}

export type CallHandler = (request: ChannelRequest) => Promise<unknown>;

interface PyProc {
  /** Null while its sandbox is being set up. */
  proc: PyodideProcess | null;
  state: "starting" | "idle" | "running" | "resetting" | "gone";
  runs: number;
  /** The running job's handlers: the process's messages, and its death. */
  job: { message(m: WorkerMessage): void; exit(e: PyodideProcessExit): void } | null;
  /** Why it failed to start, as it said. */
  startError: string | null;
}

interface Waiter {
  resolve(w: PyProc): void;
  reject(e: Error): void;
}

const TIME_UP: ChannelAnswer = { ok: false, error: { message: "the snippet's time is up (limits.timeoutMs)", code: "ETIMEDOUT" } };

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
  private readonly idle: PyProc[] = [];
  /** Every live process: starting, idle, running or resetting. */
  private readonly procs = new Set<PyProc>();
  private readonly waiting: Waiter[] = [];
  private closed = false;
  /** Set when no process can ever start (isolation "strict" without bubblewrap): every run fails with it. */
  private broken: Error | null = null;
  private warned = false;
  /** Processes replaced so far (after limits, failures or recycleAfter). */
  replaced = 0;
  /** The isolation of the processes, in words (see LaunchedSandbox.isolation). */
  isolation: Record<string, string> = {};

  private constructor(
    private readonly options: Required<Omit<PyodidePoolOptions, "audit" | "program">>,
    private readonly sandbox: PyodideSandboxOptions,
  ) {}

  static async create(options: PyodidePoolOptions): Promise<PyodidePool> {
    const snapshot = await readFile(await ensurePyodideSnapshot(options.cacheDir));
    const pool = new PyodidePool(
      { recycleAfter: 200, graceMs: 1000, ...options },
      { isolation: options.isolation, memMb: options.memMb, mounts: options.mounts, snapshot, ...(options.audit ? { audit: options.audit } : {}), ...(options.program ? { program: options.program } : {}) },
    );
    // One at a time: the first process gets the CPU to itself and is ready soonest; each one that
    // becomes ready starts the next until the pool is full. A sandbox that cannot be set up at all
    // (isolation "strict" without bubblewrap) fails the pool here.
    await pool.spawn();
    if (pool.broken) throw pool.broken;
    return pool;
  }

  /** Resolves once at least one process is ready. */
  async warm(): Promise<void> {
    const w = await this.take();
    this.release(w);
  }

  get available(): number {
    return this.idle.length;
  }

  async run(job: PyJob, onCall: CallHandler, timeoutMs: number): Promise<PyJobResult> {
    const w = await this.take();
    const proc = w.proc!;
    w.state = "running";
    let callPending = false;
    let timedOut = false;
    return new Promise<PyJobResult>((resolve) => {
      let grace: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (result: PyJobResult, retire: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(grace);
        w.job = null;
        w.runs++;
        if (w.state !== "running") {
          // it died: already out of the pool
        } else if (retire || result.fatal || result.reason === "timeout" || result.reason === "memory" || w.runs >= this.options.recycleAfter) this.retire(w);
        else {
          w.state = "resetting"; // released when the process reports "idle"
          // A reset takes milliseconds; one that does not end (a snippet's finalizer that loops,
          // run by the reset) would hold the process forever.
          const runs = w.runs;
          setTimeout(() => w.state === "resetting" && w.runs === runs && this.retire(w), RESET_MS).unref();
        }
        resolve(result);
      };
      const timer = setTimeout(() => {
        timedOut = true;
        proc.send({ type: "interrupt" });
        if (callPending) {
          callPending = false;
          proc.send({ type: "answer", reply: TIME_UP });
        }
        grace = setTimeout(() => {
          finish(
            { stdout: "", stderr: `[mcpw: stopped after ${timeoutMs} ms (limits.timeoutMs); the interpreter did not stop, so its worker was terminated and replaced]\n`, exitCode: 124, reason: "timeout" },
            true,
          );
        }, this.options.graceMs);
      }, timeoutMs);
      w.job = {
        message: (m) => {
          if (m.type === "call") {
            if (callPending) return proc.end("a second call while one was pending");
            // After the deadline every call fails at once, so an interrupted snippet (formatting its
            // traceback, say) cannot block on the channel.
            if (timedOut) return proc.send({ type: "answer", reply: TIME_UP });
            const request = parseChannelRequest(m.request);
            if ("error" in request) {
              proc.refused(request.error);
              return proc.send({ type: "answer", reply: { ok: false, error: { message: request.error, code: "EINVAL" } } });
            }
            callPending = true;
            void onCall(request)
              .then(
                (result): ChannelAnswer => ({ ok: true, result }),
                (err: unknown): ChannelAnswer => {
                  const e = err as { message?: string; errno?: string; code?: string };
                  return { ok: false, error: { message: e.message ?? String(err), code: e.errno ?? e.code ?? "EIO" } };
                },
              )
              .then((reply) => {
                // An answer for a job that has ended, or a call the deadline answered, is dropped.
                if (!callPending || settled) return;
                callPending = false;
                proc.send({ type: "answer", reply });
              });
          } else if (m.type === "done") {
            const result = { ...m.result, stdout: capUntrusted(m.result.stdout, job.stdoutBytes, "stdout"), stderr: capUntrusted(m.result.stderr, job.stdoutBytes, "stderr") };
            if (typeof result.value === "string") result.value = capUntrustedValue(result.value, job.stdoutBytes);
            if (timedOut && result.reason !== "timeout") {
              result.reason = "timeout";
              result.exitCode = 124;
            }
            if (result.reason === "timeout") result.stderr += `[mcpw: stopped after ${timeoutMs} ms (limits.timeoutMs)]\n`;
            // The worker's own to_json makes strict JSON: a value that does not parse means its
            // Python is no longer as set up (a snippet changed it), so the process is not used again.
            const unreadable = typeof result.value === "string" && !parsesAsJson(result.value);
            if (unreadable) {
              delete result.value;
              result.stderr += "[mcpw: the value could not be read; the Python worker is replaced]\n";
            }
            finish(result, unreadable);
          } else if (m.type === "failed") {
            finish({ stdout: "", stderr: `[mcpw: the Python worker failed: ${m.message}]\n`, exitCode: 1, fatal: true }, true);
          }
        },
        exit: (e) => {
          const stderr = e.violation
            ? `[mcpw: the Python sandbox sent ${e.violation}; it was ended and replaced]\n`
            : "[mcpw: the Python worker exited during the run; it is replaced]\n";
          finish({ stdout: "", stderr, exitCode: e.violation ? 1 : 137, ...(e.violation ? {} : { reason: "memory" as const }), fatal: true }, true);
        },
      };
      proc.send({ type: "job", job });
    });
  }

  /** Starts one process; resolves once its sandbox is set up (not booted), never rejects. */
  private async spawn(): Promise<void> {
    if (this.closed || this.broken) return;
    const w: PyProc = { proc: null, state: "starting", runs: 0, job: null, startError: null };
    this.procs.add(w);
    let proc: PyodideProcess;
    try {
      proc = await PyodideProcess.start(this.sandbox, (m) => this.onMessage(w, m));
    } catch (e) {
      this.procs.delete(w);
      w.state = "gone";
      // A sandbox refused by the policy (strict isolation without bubblewrap) never starts.
      if (e instanceof McpwError && e.code === "policy_denied") this.fail(e);
      else this.startFailed((e as Error).message);
      return;
    }
    w.proc = proc;
    this.isolation = proc.isolation;
    if (!this.warned && proc.isolation.bubblewrap?.startsWith("MISSING")) {
      this.warned = true;
      process.stderr.write(`mcpw: WARNING: Python snippets run WITHOUT bubblewrap (policy isolation "best-effort"): ${proc.isolation.bubblewrap.replace(/^MISSING: /, "")}; the kernel layers sandbox-init can apply and the interceptors remain\n`);
    }
    void proc.exited.then((e) => this.onExit(w, e));
    if (this.closed) proc.kill();
  }

  private onMessage(w: PyProc, m: WorkerMessage): void {
    // A process out of the pool (retired, dying) may still have messages on their way: none counts.
    if (w.state === "gone") return;
    const proc = w.proc!;
    switch (m.type) {
      case "ready":
        if (w.state !== "starting") return proc.end('"ready" out of turn');
        this.release(w);
        if (this.procs.size < this.options.size && ![...this.procs].some((p) => p.state === "starting")) void this.spawn();
        return;
      case "idle":
        if (w.state !== "resetting") return proc.end('"idle" out of turn');
        if (m.ok) this.release(w);
        else this.retire(w);
        return;
      case "failed": {
        // Untrusted words, shown in a run's stderr and mcpw's log: a few KiB of them.
        const failed = { type: "failed", message: cutText(m.message, FAILED_MESSAGE_BYTES) } as const;
        if (w.state === "running") return w.job!.message(failed);
        if (w.state === "starting") w.startError = failed.message;
        return proc.kill();
      }
      case "call":
        if (w.state === "running") return w.job!.message(m);
        // The worker makes calls only during a job (pyodide-worker.ts hostCall: outside one, code
        // the reset runs gets EACCES without asking): one now comes from a subverted process.
        return proc.end("a call with no snippet running on it");
      case "done":
        if (w.state !== "running") return proc.end('"done" out of turn');
        return w.job!.message(m);
    }
  }

  private onExit(w: PyProc, e: PyodideProcessExit): void {
    const was = w.state;
    w.state = "gone";
    const live = this.procs.delete(w);
    const i = this.idle.indexOf(w);
    if (i >= 0) this.idle.splice(i, 1);
    if (was === "running") w.job?.exit(e);
    if (this.closed || !live) return;
    if (was === "starting") return this.startFailed(w.startError ?? `it exited while starting: ${e.stderr.trim().split("\n").slice(-3).join(" | ") || "no message"}`);
    void this.spawn();
  }

  /** Logged; runs waiting with no other process to come get the error; another start is tried in 1 s. */
  private startFailed(message: string): void {
    if (this.closed) return;
    process.stderr.write(`mcpw: a Python sandbox failed to start: ${message}\n`);
    if (this.procs.size === 0) for (const waiter of this.waiting.splice(0)) waiter.reject(new McpwError("internal", `the Python sandbox failed to start: ${message}`));
    setTimeout(() => void this.spawn(), 1000).unref();
  }

  private fail(e: Error): void {
    this.broken = e;
    for (const waiter of this.waiting.splice(0)) waiter.reject(e);
  }

  private take(): Promise<PyProc> {
    if (this.broken) return Promise.reject(this.broken);
    const w = this.idle.shift();
    if (w) return Promise.resolve(w);
    if (this.procs.size < this.options.size) void this.spawn();
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private release(w: PyProc): void {
    if (this.closed || w.state === "gone") return void w.proc?.kill();
    w.state = "idle";
    const next = this.waiting.shift();
    if (next) next.resolve(w);
    else this.idle.push(w);
  }

  private retire(w: PyProc): void {
    if (process.env.MCPW_DEBUG_PYODIDE) process.stderr.write(`pyodide pool: replacing a process after ${w.runs} runs\n`);
    this.replaced++;
    w.state = "gone";
    w.job = null;
    this.procs.delete(w);
    w.proc?.kill();
    void this.spawn();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.idle.length = 0;
    for (const waiter of this.waiting.splice(0)) waiter.reject(new McpwError("internal", "the Python pool is closed"));
    const exits = [...this.procs].map((w) => {
      w.proc?.kill();
      return w.proc?.exited;
    });
    await Promise.all(exits);
  }
}
