import { constants } from "node:os";
import type { Policy } from "../protocol/policy.js";
import type { ProcessExit, SandboxProcess } from "./sandbox-process.js";

/**
 * Limits and the reason a sandbox ended.
 *
 * The kernel enforces memMb, maxProcs, maxFileMb, openFiles and cpuSeconds (rlimits, set by
 * sandbox-init); two limits have no rlimit and are enforced here, by whoever holds the sandbox
 * (`mcpw run`, the server's registry): the wall clock (`timeoutMs`) and the bytes written to stdout
 * (`stdoutBytes`). Past either, `LimitWatch` kills the whole sandbox and remembers why.
 *
 * `exitReason` then says which limit ended a sandbox. A signal names it for certain (SIGXCPU:
 * RLIMIT_CPU; SIGXFSZ: RLIMIT_FSIZE). The other rlimits do not kill: the failing call returns an
 * error (ENOMEM or a V8 heap failure, EFBIG when SIGXFSZ is ignored, as Node and Python do, EMFILE,
 * EAGAIN from fork), and a program that does not handle it dies with that error on stderr. So the
 * reason is read from the end of its stderr, and quotes what it found there.
 */
export type Limits = Policy["limits"];

/** "timeout (timeoutMs=1000)": a limit in words, with the policy field and its value. */
const named = (words: string, field: keyof Limits, limits: Limits) => `${words} (${field}=${limits[field]})`;

/** A limit mcpw enforced itself, and the reason in words ("timeout (timeoutMs=1000)"). */
export interface StopCause {
  limit: "timeoutMs" | "stdoutBytes";
  reason: string;
}

export class LimitWatch {
  /** Set when this watch ended the sandbox. */
  stopCause: StopCause | null = null;
  private stdoutSeen = 0;
  private readonly timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly proc: SandboxProcess,
    private readonly limits: Limits,
  ) {
    if (limits.timeoutMs > 0) {
      const timer = setTimeout(() => this.stop("timeoutMs", "timeout"), limits.timeoutMs);
      this.timer = timer;
      void proc.exited.then(() => clearTimeout(timer));
    }
  }

  /** Whether stdout must be counted (otherwise it can be passed straight through). */
  get countsStdout(): boolean {
    return this.limits.stdoutBytes > 0;
  }

  /**
   * Counts a chunk the sandbox wrote to stdout and returns the part that may still be passed on:
   * all of it below the limit, then only what fits, and the sandbox is killed.
   */
  stdout(chunk: Buffer): Buffer {
    const limit = this.limits.stdoutBytes;
    if (limit <= 0) return chunk;
    const room = Math.max(0, limit - this.stdoutSeen);
    this.stdoutSeen += chunk.length;
    if (this.stdoutSeen <= limit) return chunk;
    this.stop("stdoutBytes", "stdout limit");
    return chunk.subarray(0, room);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  private stop(limit: StopCause["limit"], words: string): void {
    if (this.stopCause !== null || !this.proc.running) return;
    this.stopCause = { limit, reason: named(words, limit, this.limits) };
    this.proc.kill();
  }
}

/** Keeps the last `max` bytes of a stream: the evidence `exitReason` reads. */
export class Tail {
  private buf = Buffer.alloc(0);
  constructor(private readonly max = 4096) {}
  push(chunk: Buffer | string): void {
    const b = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    this.buf = Buffer.concat([this.buf, b]);
    if (this.buf.length > this.max) this.buf = this.buf.subarray(this.buf.length - this.max);
  }
  toString(): string {
    return this.buf.toString("utf8");
  }
}

/** What a program prints when an rlimit refused it something (Node, V8, Python, libc). */
const STDERR_SIGNS: { field: keyof Limits; words: string; sign: RegExp; context?: RegExp }[] = [
  {
    field: "memMb",
    words: "memory limit",
    sign: /JavaScript heap out of memory|Reached heap limit|Fatal process out of memory|Array buffer allocation failed|\bMemoryError\b|std::bad_alloc|Cannot allocate memory|\bENOMEM\b/,
  },
  { field: "maxFileMb", words: "file size limit", sign: /File too large|\bEFBIG\b/ },
  { field: "openFiles", words: "open files limit", sign: /Too many open files|\bEMFILE\b/ },
  // EAGAIN is only this limit when what failed was starting a process or a thread.
  { field: "maxProcs", words: "process limit", sign: /Resource temporarily unavailable|\bEAGAIN\b/, context: /\bfork\b|\bspawn\b|\bclone\b|pthread_create|uv_thread_create|can't start new thread/ },
];

/** A signal name for a bubblewrap-style exit code (128 + signal number), if it is one. */
function signalOfCode(code: number | null): string | null {
  if (code === null || code <= 128 || code > 128 + 64) return null;
  const entry = Object.entries(constants.signals).find(([, n]) => n === code - 128);
  return entry ? entry[0] : null;
}

export interface ExitReason {
  /** In words: "exited with code 0", "timeout (timeoutMs=1000)", "memory limit (memMb=256): …". */
  reason: string;
  /** Set when a limit ended the sandbox (the policy field's name). */
  limit: keyof Limits | null;
}

/**
 * Why a sandbox ended. `stopCause` (from LimitWatch) wins; then a stop the caller asked for; then
 * what the exit itself says (under bubblewrap a signal arrives as exit code 128 + its number).
 */
export function exitReason(exit: ProcessExit, limits: Limits, opts: { stopCause?: StopCause | null; stopRequested?: boolean; stderrTail?: string } = {}): ExitReason {
  if (opts.stopCause) return opts.stopCause;
  if (opts.stopRequested) return { reason: "stopped by request", limit: null };
  const signal = exit.signal ?? signalOfCode(exit.code);
  const how = exit.signal ? `killed by ${exit.signal}` : signal ? `exited with code ${exit.code} (${signal})` : `exited with code ${exit.code}`;
  if (signal === "SIGXCPU" && limits.cpuSeconds > 0) return { reason: `${named("cpu limit", "cpuSeconds", limits)}: ${how}`, limit: "cpuSeconds" };
  if (signal === "SIGXFSZ") return { reason: `${named("file size limit", "maxFileMb", limits)}: ${how}`, limit: "maxFileMb" };
  if (exit.code === 0 || !opts.stderrTail) return { reason: how, limit: null };
  // The last sign in the tail is the error the program died of.
  const tail = opts.stderrTail;
  let best: { at: number; text: string; field: keyof Limits; words: string } | null = null;
  for (const s of STDERR_SIGNS) {
    if (s.context && !s.context.test(tail)) continue;
    const last = [...tail.matchAll(new RegExp(s.sign.source, "g"))].at(-1);
    if (last && (best === null || last.index > best.at)) best = { at: last.index, text: last[0], field: s.field, words: s.words };
  }
  if (!best) return { reason: how, limit: null };
  return { reason: `${named(best.words, best.field, limits)}: ${how}, after "${best.text}" on its stderr`, limit: best.field };
}
