import type { LimitReason } from "./schemas.js";
import type { ChannelAnswer } from "./sync-channel.js";

/**
 * Messages between a Pyodide worker, the sandboxed process that hosts it (pyodide-process.ts) and
 * the pool in mcpw. The worker and its process share the interrupt and channel buffers; the
 * process and the pool speak in SocketLink frames over the process's stdin and stdout: text frames
 * are one JSON message each, and the one binary frame is the memory snapshot, right after "init".
 * Types only (and two numbers): the sandboxed process loads no schema library.
 */

export interface WorkerInit {
  /** Int32 [0] interrupt signal (Pyodide's interrupt buffer), [1] why (1 = timeout). */
  control: SharedArrayBuffer;
  /** The synchronous channel for file and network calls (sync-channel.ts). */
  channel: SharedArrayBuffer;
  /** Virtual directories served by the proxy file system (/mount and the policy's paths). */
  mounts: string[];
}

/** The worker's first message: the memory snapshot to start from (~0.4 s instead of ~4 s to boot). */
export interface WorkerSnapshot {
  snapshot: Uint8Array;
}

export interface PyJob {
  code: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  stdin: string;
  memBytes: number;
  stdoutBytes: number;
  pip: { requirements: string[]; wheelUrls: string[]; indexUrl?: string | undefined };
}

export interface PyJobResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  /** JSON text of the last expression's value. */
  value?: string;
  reason?: LimitReason;
  /** The worker should not be used again. */
  fatal?: boolean;
}

/** What a worker's synchronous channel carries: one file or network request. */
export type ChannelRequest = { method: "fs"; params: Record<string, unknown> } | { method: "http"; params: Record<string, unknown> };

/**
 * What the worker posts to its process, which passes it on to the pool (replacing one too large
 * for a frame, and adding "failed" when the worker errs). The pool checks each against a schema
 * (pyodide-sandbox.ts).
 */
export type WorkerMessage =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "call"; request: string }
  | { type: "done"; result: PyJobResult }
  /** Reset after a run: ready for the next one (or, if !ok, to be replaced). */
  | { type: "idle"; ok: boolean; message?: string };

/** What the pool sends the process. */
export type PoolMessage =
  /** First, followed by the snapshot as a binary frame. */
  | { type: "init"; mounts: string[] }
  | { type: "job"; job: PyJob }
  /** The answer to the call the worker is blocked in. */
  | { type: "answer"; reply: ChannelAnswer }
  /** The run's time is up: Python raises KeyboardInterrupt at its next check. */
  | { type: "interrupt" };

/** Largest frame the pool accepts from a process; a larger one ends that process. */
export const FROM_PROCESS_MAX_BYTES = 64 * 1024 * 1024;
/** Largest frame a process accepts from the pool (the snapshot is ~31 MB; answers up to 32 MiB). */
export const TO_PROCESS_MAX_BYTES = 256 * 1024 * 1024;
/** How much of a worker's "failed" text is passed on, logged or shown (a stack trace fits). */
export const FAILED_MESSAGE_BYTES = 4096;
