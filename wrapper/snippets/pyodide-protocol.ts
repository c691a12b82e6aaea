import type { LimitReason } from "./schemas.js";

/** Messages between a Pyodide worker and its pool. */

export interface WorkerInit {
  /** Memory snapshot file to start from (fast), or null to boot from scratch. */
  snapshot: string | null;
  /** pyodide.asm.wasm, compiled once by the pool (a WebAssembly.Module; cloned, not recompiled). */
  wasmModule: unknown;
  /** Int32 [0] interrupt signal (Pyodide's interrupt buffer), [1] why (1 = timeout). */
  control: SharedArrayBuffer;
  /** The synchronous channel for file and network calls (sync-channel.ts). */
  channel: SharedArrayBuffer;
  /** Virtual directories served by the proxy file system (/mount and the policy's paths). */
  mounts: string[];
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

export type WorkerMessage =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "call"; request: string }
  | { type: "done"; result: PyJobResult }
  /** Reset after a run: ready for the next one (or, if !ok, to be replaced). */
  | { type: "idle"; ok: boolean; message?: string };
