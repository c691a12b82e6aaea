import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { McpwError } from "../protocol/errors.js";

export const MCP_PROTOCOL_VERSION = "2025-06-18";

type JsonRpcId = string | number;
interface JsonRpcMessage {
  jsonrpc: "2.0";
  id?: JsonRpcId;
  method?: string;
  [k: string]: unknown;
}

interface Pending {
  originalId: JsonRpcId;
  resolve: (msg: JsonRpcMessage) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The server's MCP client for one sandboxed stdio server: newline-delimited JSON-RPC on the child's
 * stdin/stdout. Requests from several admin clients share the one session, so ids are rewritten on
 * the way in and restored on the way out. The session is initialized lazily, on the first request,
 * so a sandbox that is not an MCP server never receives MCP traffic.
 */
export class McpStdioSession {
  private readonly pending = new Map<string, Pending>();
  private seq = 0;
  private initResult: Promise<JsonRpcMessage> | null = null;
  private closedReason: string | null = null;

  constructor(
    private readonly stdin: Writable,
    stdout: Readable,
    private readonly log: (line: string) => void,
    private readonly clientInfo = { name: "mcpw", version: "0.1.0" },
  ) {
    const rl = createInterface({ input: stdout, crlfDelay: Infinity });
    rl.on("line", (line) => this.onLine(line));
    stdin.on("error", (e) => this.close(`stdin: ${e.message}`));
  }

  /** Sends a request (or a notification, without id) and resolves with the server's response. */
  async send(message: JsonRpcMessage, timeoutMs: number): Promise<JsonRpcMessage | null> {
    // The session is initialized once, by mcpw; a client's own initialize gets the cached answer.
    const init = await this.initialize(timeoutMs);
    if (message.method === "initialize") return message.id === undefined ? null : { ...init, id: message.id };
    if (message.method === "notifications/initialized") return null;
    if (message.id === undefined) {
      this.write(message);
      return null;
    }
    return this.request(message, timeoutMs);
  }

  initialize(timeoutMs: number): Promise<JsonRpcMessage> {
    if (!this.initResult) {
      this.initResult = this.request(
        { jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: MCP_PROTOCOL_VERSION, capabilities: {}, clientInfo: this.clientInfo } },
        timeoutMs,
      ).then((res) => {
        if (res.error) throw new McpwError("io_error", `MCP initialize failed: ${JSON.stringify(res.error)}`);
        this.write({ jsonrpc: "2.0", method: "notifications/initialized" });
        return res;
      });
      this.initResult.catch(() => (this.initResult = null));
    }
    return this.initResult;
  }

  close(reason: string): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new McpwError("io_error", `MCP server went away: ${reason}`));
      this.pending.delete(id);
    }
  }

  private request(message: JsonRpcMessage, timeoutMs: number): Promise<JsonRpcMessage> {
    if (this.closedReason) return Promise.reject(new McpwError("io_error", `MCP server went away: ${this.closedReason}`));
    const wireId = `mcpw-${++this.seq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(wireId);
        reject(new McpwError("timeout", `MCP ${message.method ?? "request"} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(wireId, { originalId: message.id!, resolve, reject, timer });
      this.write({ ...message, id: wireId });
    });
  }

  private write(message: JsonRpcMessage): void {
    if (!this.stdin.writable) return;
    this.stdin.write(`${JSON.stringify(message)}\n`);
  }

  private onLine(line: string): void {
    if (!line.trim()) return;
    let msg: JsonRpcMessage;
    try {
      msg = JSON.parse(line) as JsonRpcMessage;
    } catch {
      this.log(`stdout (not JSON-RPC): ${line.slice(0, 500)}`);
      return;
    }
    if (msg.method !== undefined) {
      if (msg.id !== undefined) {
        // A request from the server to its client (sampling, roots, elicitation): mcpw has none to give.
        this.write({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: `mcpw does not serve ${msg.method}` } });
      } else if (msg.method === "notifications/message") {
        this.log(`mcp log: ${JSON.stringify((msg as { params?: unknown }).params).slice(0, 500)}`);
      }
      return;
    }
    const p = msg.id !== undefined ? this.pending.get(String(msg.id)) : undefined;
    if (!p) return;
    this.pending.delete(String(msg.id));
    clearTimeout(p.timer);
    p.resolve({ ...msg, id: p.originalId });
  }
}
