import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { Duplex, PassThrough } from "node:stream";
import { CHANNEL_CONFIG, MODE_RPC, TICKET_CHARS, tunnelSocketName } from "../protocol/channel.js";
import { McpwError, parseOrThrow } from "../protocol/errors.js";
import { SocketLink } from "../protocol/link.js";
import { Methods } from "../protocol/methods.js";
import type { Op, Origin } from "../protocol/ops.js";
import { Peer } from "../protocol/peer.js";
import type { NetworkPolicy, Policy } from "../protocol/policy.js";
import type { AuditInput } from "../server/audit-log.js";
import { describeOpTarget } from "../bridge/operations.js";
import { PeerCheck, type SandboxProcesses } from "./channel-peer.js";
import { RefusalAudit } from "./refusal-audit.js";
import { grant, type RunDirAccess } from "./run-dir.js";
import { checkSandboxOp } from "./sandbox-rules.js";
import type { InterceptorConfig } from "./interceptor-config.js";

export type CallOp = (origin: Origin, op: Op, opts: { network?: NetworkPolicy; stream?: Duplex }) => Promise<unknown>;

export interface SupervisorOptions {
  sandboxId: string;
  /** Host directory bound into the sandbox at /run/mcpw. */
  runDir: string;
  policy: Policy;
  /** What the in-sandbox interceptors are told (written to /run/mcpw/config.json). */
  interceptorConfig: InterceptorConfig;
  /** Runs an operation through the active bridge (the server's router). */
  callOp: CallOp;
  audit: (entry: AuditInput) => void;
  /** The sandbox's processes: only they may use the channel (see channel-peer.ts). */
  processes: SandboxProcesses;
  /** Who besides mcpw may open the run dir's files and sockets (sandbox-prepare.ts runDirAccess). */
  access: RunDirAccess;
}

/** An unused ticket expires after this long, closing the bridge connection it holds. */
const TICKET_TTL_MS = 10_000;

/**
 * The host end of a sandbox's channel: a unix socket in the sandbox's run dir (bound into it at
 * /run/mcpw/channel.sock). It checks every request against the sandbox's policy, forwards what
 * passes to the bridge through the server, and joins tunnel connections to their bridge streams.
 */
export class Supervisor {
  private readonly server: Server;
  private readonly tunnels = new Set<Server>();
  private readonly peers = new Set<Peer>();
  private readonly origin: Origin;
  private readonly peerCheck: PeerCheck;
  private readonly refusals: RefusalAudit;
  readonly socketPath: string;

  private constructor(private readonly opts: SupervisorOptions) {
    this.origin = { kind: "sandbox", id: opts.sandboxId };
    this.peerCheck = new PeerCheck(opts.processes);
    this.refusals = new RefusalAudit(opts.audit, { event: "channel.refused", verdict: "deny", sandbox: opts.sandboxId, origin: this.origin });
    this.socketPath = join(opts.runDir, "channel.sock");
    this.server = createServer((socket) => this.onConnection(socket));
  }

  static async start(opts: SupervisorOptions): Promise<Supervisor> {
    const sup = new Supervisor(opts);
    // Readable by the sandbox's uid only (see runDirAccess), not by every local user.
    const config = join(opts.runDir, CHANNEL_CONFIG.split("/").pop()!);
    writeFileSync(config, JSON.stringify(opts.interceptorConfig), { mode: 0o600 });
    grant(config, opts.access.fileMode, opts.access);
    await new Promise<void>((resolve, reject) => {
      sup.server.once("error", reject);
      sup.server.listen(sup.socketPath, () => resolve());
    });
    // The socket must be reachable by the uid the sandbox runs as, and by no one else: the run dir
    // (mcpw's, bound read-only into this one sandbox) and its parent are closed to other users.
    grant(sup.socketPath, opts.access.socketMode, opts.access);
    return sup;
  }

  close(): void {
    this.refusals.flush();
    for (const t of this.tunnels) t.emit("expire");
    this.tunnels.clear();
    for (const p of this.peers) p.close("sandbox ended");
    this.server.close();
  }

  private onConnection(socket: Socket): void {
    socket.on("error", () => socket.destroy());
    void this.admit(socket, "channel").then((ok) => {
      if (!ok) return;
      socket.once("readable", () => {
        const mode = socket.read(1) as Buffer | null;
        if (mode?.[0] === MODE_RPC) return this.serveRpc(socket);
        socket.destroy();
      });
    });
  }

  /**
   * Whether the process that connected is one of this sandbox's (channel-peer.ts); a connection
   * from anyone else is closed unread and audited.
   */
  private async admit(socket: Socket, what: "channel" | "tunnel"): Promise<boolean> {
    const verdict = await this.peerCheck.verify(socket);
    if (verdict.ok) return true;
    socket.destroy();
    this.refusals.refused({ socket: what, pid: verdict.pid, reason: verdict.reason });
    return false;
  }

  private serveRpc(socket: Socket): void {
    const peer = new Peer(new SocketLink(socket, `sandbox ${this.opts.sandboxId}`), {
      firstStreamId: 2,
      dispatch: (method, params) => this.dispatch(method, params),
    });
    this.peers.add(peer);
    void peer.closed().then(() => this.peers.delete(peer));
  }

  private async dispatch(method: string, params: unknown): Promise<unknown> {
    if (method === "sandbox.op") {
      const { op } = parseOrThrow(Methods["sandbox.op"].params, params, "bad_params", "params");
      try {
        checkSandboxOp(this.opts.policy, op);
      } catch (e) {
        this.opts.audit({ event: "op", verdict: "deny", op: op.op, origin: this.origin, target: describeOpTarget(op), error: (e as Error).message, by: "sandbox policy" });
        throw e;
      }
      return this.opts.callOp(this.origin, op, { network: this.opts.policy.network });
    }
    if (method === "tunnel.open") {
      const { host, port } = parseOrThrow(Methods["tunnel.open"].params, params, "bad_params", "params");
      return this.openTunnel(host, port);
    }
    throw new McpwError("unknown_method", `the sandbox channel has no method "${method}"`, { field: "method" });
  }

  /**
   * Asks the bridge (through the router) to connect, then offers the connection on a one-shot unix
   * socket named by a random ticket; the first connection to it gets the bytes.
   */
  private async openTunnel(host: string, port: number): Promise<unknown> {
    const toBridge = new PassThrough();
    const fromBridge = new PassThrough();
    // What the router sees as the sandbox's end: it writes into fromBridge and reads toBridge.
    const routerSide = Duplex.from({ readable: toBridge, writable: fromBridge });
    const sandboxSide = Duplex.from({ readable: fromBridge, writable: toBridge });
    for (const s of [routerSide, sandboxSide]) s.on("error", () => undefined);
    const result = (await this.opts.callOp(this.origin, { op: "net.connect", host, port, stream: 1 }, { network: this.opts.policy.network, stream: routerSide })) as {
      remoteAddress: string;
      remotePort: number;
    };
    const ticket = randomBytes(TICKET_CHARS / 2).toString("hex");
    const path = join(this.opts.runDir, tunnelSocketName(ticket));
    const listener = createServer();
    const finish = () => {
      clearTimeout(timer);
      this.tunnels.delete(listener);
      listener.close();
    };
    const timer = setTimeout(() => listener.emit("expire"), TICKET_TTL_MS);
    listener.once("expire", () => {
      finish();
      routerSide.destroy();
      sandboxSide.destroy();
    });
    // The first connection from one of the sandbox's own processes gets the stream; others are
    // refused (and audited) without using up the ticket.
    let taken = false;
    listener.on("connection", (socket: Socket) => {
      socket.on("error", () => undefined);
      if (taken) return void socket.destroy();
      void this.admit(socket, "tunnel").then((ok) => {
        if (!ok) return;
        if (taken) return void socket.destroy();
        taken = true;
        attach(socket);
      });
    });
    const attach = (socket: Socket) => {
      finish();
      socket.pipe(sandboxSide);
      sandboxSide.pipe(socket);
      const end = () => {
        socket.destroy();
        sandboxSide.destroy();
        routerSide.destroy();
      };
      socket.once("close", end);
      sandboxSide.once("close", end);
    };
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(path, () => resolve());
    });
    grant(path, this.opts.access.socketMode, this.opts.access);
    this.tunnels.add(listener);
    return { ticket, remoteAddress: result.remoteAddress, remotePort: result.remotePort };
  }
}
