import type { Duplex } from "node:stream";
import { McpwError, parseOrThrow } from "../protocol/errors.js";
import type { Result } from "../protocol/methods.js";
import { BridgeOpRequest } from "../protocol/ops.js";
import type { Peer } from "../protocol/peer.js";
import type { BridgeCapabilities } from "../protocol/policy.js";
import { connectToServer, type ServerConnection } from "../client/server-connection.js";

/** What carries out operations: BridgeOperations, under the bridge's own policy. */
export interface OperationPerformer {
  perform(request: BridgeOpRequest, ctx: { openStream(id: number): Duplex }): Promise<unknown>;
}

/** Answers the server's `bridge.op` requests on a connected peer. */
export function serveOperations(peer: Peer, performer: OperationPerformer): void {
  peer.setDispatch(async (method, params) => {
    if (method !== "bridge.op") throw new McpwError("unknown_method", `a bridge answers only bridge.op, not "${method}"`, { field: "method" });
    const request = parseOrThrow(BridgeOpRequest, params, "bad_params", "params");
    return performer.perform(request, { openStream: (id) => peer.streams.open(id) });
  });
}

export interface BridgeDaemonOptions {
  url: string;
  token: string;
  env: string;
  name: string;
  capabilities: BridgeCapabilities;
  performer: OperationPerformer;
  log: (line: string) => void;
  /** Reconnect backoff: starts at initialMs, doubles up to maxMs, with jitter. */
  backoff?: { initialMs: number; maxMs: number };
  /** Ping the server this often; a server silent for two of these is reconnected to (default 15 s). */
  heartbeatMs?: number;
}

export type BridgeState = "connecting" | "active" | "standby" | "stopped";

/**
 * The bridge daemon's connection loop: connect out to the server, authenticate, register, serve
 * operations; when the server goes away (or stops answering heartbeats), reconnect with backoff. A
 * token the server refuses is fatal (it will not become valid by retrying); a lockout is waited out.
 */
export class BridgeDaemon {
  state: BridgeState = "connecting";
  private conn: ServerConnection | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  private readonly opts: BridgeDaemonOptions;
  private readonly listeners = new Set<(s: BridgeState) => void>();

  constructor(opts: BridgeDaemonOptions) {
    this.opts = opts;
  }

  onState(cb: (s: BridgeState) => void): void {
    this.listeners.add(cb);
  }

  /** Runs until stop() or a fatal error (rejects with it). */
  async run(): Promise<void> {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
    let delay = initialMs;
    while (!this.stopped) {
      this.setState("connecting");
      try {
        const conn = await connectToServer(this.opts.url, this.opts.token, "bridge", {
          ...(this.opts.heartbeatMs !== undefined ? { heartbeatMs: this.opts.heartbeatMs } : {}),
          onEvent: (event, data) => {
            if (event === "bridge.state") this.setState((data as { active: boolean }).active ? "active" : "standby");
          },
        });
        this.conn = conn;
        serveOperations(conn.peer, this.opts.performer);
        const reg = await conn.call("bridge.register", { env: this.opts.env, name: this.opts.name, capabilities: this.opts.capabilities });
        this.announce(reg);
        delay = initialMs;
        const reason = await conn.peer.closed();
        this.conn = null;
        if (this.stopped) break;
        if (reason === "token revoked") throw new McpwError("unauthorized", "the server revoked this bridge's token");
        this.opts.log(`connection to ${this.opts.url} lost (${reason}); reconnecting`);
      } catch (e) {
        this.conn?.close();
        this.conn = null;
        const err = e instanceof McpwError ? e : new McpwError("internal", (e as Error).message);
        if (err.code === "unauthorized" || err.code === "forbidden" || err.code === "bad_params") {
          this.setState("stopped");
          throw err;
        }
        if (err.code === "rate_limited" && err.retryAfterMs) delay = Math.max(delay, err.retryAfterMs);
        this.opts.log(`${err.message}; retrying in ${Math.round(delay / 100) / 10} s`);
      }
      if (this.stopped) break;
      await this.sleep(delay * (0.8 + Math.random() * 0.4));
      delay = Math.min(delay * 2, maxMs);
    }
    this.setState("stopped");
  }

  stop(): void {
    this.stopped = true;
    this.conn?.close();
    this.wake?.();
  }

  private announce(reg: Result<"bridge.register">): void {
    this.setState(reg.active ? "active" : "standby");
    const serving = reg.selectedEnv === this.opts.env;
    this.opts.log(
      `registered as ${this.opts.name} for environment "${this.opts.env}": ${reg.active ? "active" : "standby"}` +
        (serving ? "" : ` (the server serves environment "${reg.selectedEnv}", so this bridge will not be asked for anything)`),
    );
  }

  private setState(s: BridgeState): void {
    if (this.state === s) return;
    this.state = s;
    for (const l of this.listeners) l(s);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}
