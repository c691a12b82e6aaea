import { constants } from "node:buffer";
import { McpwError } from "../../protocol/errors.js";
import type { OpResult, Origin } from "../../protocol/ops.js";
import type { NetworkPolicy } from "../../protocol/policy.js";
import type { CallOp, FsOpInput, FsOpName, VirtualFs } from "./virtual-fs.js";

/**
 * What a running snippet may ask of the host, whichever runtime it is in: its own facts (args, env,
 * cwd, stdin), the virtual file system, and HTTP through the bridge under its effective network
 * policy (sent as `restrict.network`, so the bridge enforces it as well as its own, on every hop,
 * after name resolution).
 */

export interface SnippetInfo {
  args: string[];
  env: Record<string, string>;
  cwd: string;
  stdin: string;
}

export interface FetchRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
}

export interface FetchResponse {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  url: string;
  redirects: number;
  body: Buffer;
}

const MAX_CHUNK = 4 * 1024 * 1024;

export class SnippetHost {
  constructor(
    readonly info: SnippetInfo,
    private readonly vfs: VirtualFs,
    private readonly callOp: CallOp,
    private readonly origin: Origin,
    private readonly network: NetworkPolicy,
    /** performance.now() after which the run is over; HTTP gets what is left. */
    private readonly deadline: number,
  ) {}

  fs(op: FsOpInput): Promise<OpResult<FsOpName>> {
    return this.vfs.call(op, this.info.cwd);
  }

  /**
   * A whole file, read in chunks; one larger than `limit` (what the run may load, see LoadLimit) is
   * refused with too_large from its size, before the rest is read (and if it grows while read).
   */
  async readFile(path: string, limit?: LoadLimit): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for (let offset = 0; ; ) {
      const r = (await this.fs({ op: "fs.read", path, offset, length: MAX_CHUNK })) as OpResult<"fs.read">;
      const chunk = Buffer.from(r.data, "base64");
      if (limit) checkLoad(`fs.readFile: ${path}`, Math.max(r.size, offset + chunk.length), limit);
      chunks.push(chunk);
      offset += chunk.length;
      if (r.eof || chunk.length === 0) return Buffer.concat(chunks);
    }
  }

  /** Writes a whole file (overwrite or append), in chunks. */
  async writeFile(path: string, data: Uint8Array, mode: "overwrite" | "append"): Promise<void> {
    let first = true;
    for (let offset = 0; first || offset < data.length; offset += MAX_CHUNK) {
      const chunk = Buffer.from(data.subarray(offset, offset + MAX_CHUNK));
      await this.fs({ op: "fs.write", path, data: chunk.toString("base64"), mode: first ? mode : "append" });
      first = false;
    }
  }

  async fetch(req: FetchRequest): Promise<FetchResponse> {
    const left = Math.floor(this.deadline - performance.now());
    if (left <= 0) throw new McpwError("timeout", "the snippet's time is up (limits.timeoutMs)");
    const result = (await this.callOp(
      this.origin,
      {
        op: "http.request",
        url: req.url,
        method: (req.method ?? "GET").toUpperCase(),
        headers: req.headers ?? {},
        ...(req.body && req.body.length > 0 ? { body: Buffer.from(req.body).toString("base64") } : {}),
        timeoutMs: Math.min(left, 600_000),
      },
      { network: this.network },
    )) as OpResult<"http.request">;
    return { ...result, body: Buffer.from(result.body, "base64") };
  }
}

/**
 * What one host value may bring into a run: at most the run's memory (limits.memMb) in bytes, and
 * for text at most a string's maximum length (V8 cannot make a longer one: ERR_STRING_TOO_LONG).
 */
export interface LoadLimit {
  bytes: number;
  memMb: number;
  /** The value becomes a string. */
  text?: boolean;
}

/** Throws too_large when `size` bytes are more than `limit` allows, naming the limit. */
export function checkLoad(what: string, size: number, limit: LoadLimit): void {
  if (size > limit.bytes) throw new McpwError("too_large", `${what} is ${size} bytes, more than a run may load (limits.memMb=${limit.memMb})`);
  if (limit.text && size > STRING_MAX_BYTES) throw new McpwError("too_large", `${what} is ${size} bytes, more than a run may load as text (a string holds at most ${STRING_MAX_BYTES} bytes; read it as bytes)`);
}

/** Bytes of UTF-8 that always fit in one string (each byte is at most one UTF-16 unit). */
export const STRING_MAX_BYTES = constants.MAX_STRING_LENGTH;

/** What a run uses of its host: a SnippetHost, or a QuickJS worker's stand-in that asks the main thread. */
export type RunHost = Pick<SnippetHost, "info" | "fetch" | "readFile" | "writeFile" | "fs">;

/** A host call's failure as it crossed to a worker: describeHostError's line and code. */
export class HostCallError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** One line for a snippet's error: what failed and, for policy refusals, which rule. */
export function describeHostError(err: unknown): { message: string; code: string } {
  if (err instanceof HostCallError) return { message: err.message, code: err.code };
  if (err instanceof McpwError) {
    const code = err.errno ?? err.code;
    return { message: err.rule && !err.message.includes(err.rule) ? `${err.message} (${err.rule})` : err.message, code };
  }
  return { message: err instanceof Error ? err.message : String(err), code: "internal" };
}
