import type { Duplex } from "node:stream";
import { pipeline } from "node:stream";
import { McpwError, toErrorBody } from "../protocol/errors.js";
import { OpResults, type BridgeOpRequestInput, type Op, type Origin } from "../protocol/ops.js";
import type { NetworkPolicy } from "../protocol/policy.js";
import { describeOpTarget } from "../bridge/operations.js";
import type { AuditLog } from "./audit-log.js";
import type { BridgeRegistry } from "./bridge-registry.js";

export interface RouteOptions {
  /** The requester's own network policy, enforced by the bridge in addition to its own. */
  network?: NetworkPolicy;
  /** For net.connect: the requester's end of the byte stream. */
  stream?: Duplex;
}

/** Margin added to an operation's own timeout (http.request, exec) before the router gives up. */
const OP_TIMEOUT_MARGIN_MS = 5_000;

/**
 * Routes privileged operations to the active bridge of the server's selected environment and the
 * answer back. With no active bridge the call fails at once; a bridge that does not answer in time
 * fails the call with `timeout`; a bridge that drops fails it with `bridge_gone`.
 */
export class OpRouter {
  constructor(
    private readonly bridges: BridgeRegistry,
    private readonly audit: AuditLog,
    private readonly env: string,
    private readonly timeoutMs: number,
  ) {}

  async call(origin: Origin, op: Op, opts: RouteOptions = {}): Promise<unknown> {
    const started = Date.now();
    const bridge = this.bridges.active(this.env);
    const target = describeOpTarget(op);
    if (!bridge) {
      const err = new McpwError("no_bridge", `no active bridge for environment "${this.env}"`);
      this.audit.write({ event: "op", verdict: "error", op: op.op, origin, target, error: err.message, durationMs: 0 });
      throw err;
    }
    let sent: Op = op;
    let bridgeStream: Duplex | null = null;
    if (op.op === "net.connect") {
      if (!opts.stream) throw new McpwError("bad_params", "net.connect needs a stream to carry the connection");
      const id = bridge.peer.streams.allocateId();
      bridgeStream = bridge.peer.streams.open(id);
      sent = { ...op, stream: id };
    }
    const request: BridgeOpRequestInput = { origin, op: sent, restrict: opts.network ? { network: opts.network } : {} };
    const ownTimeout = "timeoutMs" in op && typeof op.timeoutMs === "number" ? op.timeoutMs + OP_TIMEOUT_MARGIN_MS : 0;
    try {
      const raw = await bridge.peer.request("bridge.op", request, Math.max(this.timeoutMs, ownTimeout));
      const parsed = OpResults[op.op].safeParse(raw);
      if (!parsed.success) throw new McpwError("internal", `bridge ${bridge.name} sent a malformed ${op.op} result`);
      bridge.requestsServed++;
      this.audit.write({ event: "op", verdict: "allow", op: op.op, origin, target, bridge: bridge.name, durationMs: Date.now() - started });
      if (bridgeStream && opts.stream) {
        const local = opts.stream;
        pipeline(local, bridgeStream, () => undefined);
        pipeline(bridgeStream, local, () => undefined);
        return { ...(parsed.data as object), stream: (op as { stream: number }).stream };
      }
      return parsed.data;
    } catch (err) {
      bridgeStream?.destroy();
      const body = toErrorBody(err);
      if (body.code !== "policy_denied") bridge.lastError = body.message;
      this.audit.write({
        event: "op",
        verdict: body.code === "policy_denied" ? "deny" : "error",
        op: op.op,
        origin,
        target,
        bridge: bridge.name,
        error: body.message,
        durationMs: Date.now() - started,
      });
      throw err instanceof McpwError ? err : McpwError.fromBody(body);
    }
  }
}
