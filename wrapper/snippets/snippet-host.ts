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

  /** A whole file, read in chunks. */
  async readFile(path: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for (let offset = 0; ; ) {
      const r = (await this.fs({ op: "fs.read", path, offset, length: MAX_CHUNK })) as OpResult<"fs.read">;
      const chunk = Buffer.from(r.data, "base64");
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

/** One line for a snippet's error: what failed and, for policy refusals, which rule. */
export function describeHostError(err: unknown): { message: string; code: string } {
  if (err instanceof McpwError) {
    const code = err.errno ?? err.code;
    return { message: err.rule && !err.message.includes(err.rule) ? `${err.message} (${err.rule})` : err.message, code };
  }
  return { message: err instanceof Error ? err.message : String(err), code: "internal" };
}
