import { resolve } from "node:path";
import { McpwError } from "../protocol/errors.js";
import type { Link } from "../protocol/link.js";
import { matchesAuditFilter } from "../protocol/audit-filter.js";
import type { MethodName, Params, Role } from "../protocol/methods.js";
import type { Origin } from "../protocol/ops.js";
import { AuditLog } from "./audit-log.js";
import { AuthRateLimiter } from "./auth-rate-limit.js";
import { BridgeRegistry, type RegisteredBridge } from "./bridge-registry.js";
import { parseConfig, ServerConfig, type ServerConfigInput } from "./config.js";
import { Connection, type ConnectionHost, type Topic } from "./connection.js";
import { OpRouter } from "./op-router.js";
import { SandboxRegistry } from "./sandbox-registry.js";
import { ExecSessions } from "./sandbox-exec.js";
import { SandboxStatsSampler } from "./sandbox-stats.js";
import { ensureStateDir } from "./state-dir.js";
import { TokenStore } from "./tokens.js";

export const VERSION = "0.1.0";

export interface McpwServerOptions {
  config?: ServerConfigInput;
  /** State dir for tokens and audit; null keeps tokens in memory and writes no audit file. */
  stateDir: string | null;
  /** Where relative sandbox commands resolve; default process.cwd(). */
  cwd?: string;
  hostEnv?: NodeJS.ProcessEnv;
  /** Logger for operator-facing lines (stderr). */
  log?: (line: string) => void;
  /** Audit log file; default <stateDir>/audit.jsonl, or none without a state dir. */
  auditPath?: string | null;
}

type Handler<M extends MethodName> = (params: Params<M>, conn: Connection) => unknown;
type HandlerTable = { [M in MethodName]?: Handler<M> };

/**
 * The main server, independent of transport: connections arrive as links (WebSocket from
 * ws-listener, or in memory for the embedded `mcpw run`), authenticate with a token, and are served
 * by role. It owns the token store, the audit log, the bridge registry, the operation router and
 * the sandbox registry.
 */
export class McpwServer implements ConnectionHost {
  readonly config: ServerConfig;
  readonly tokens: TokenStore;
  readonly audit: AuditLog;
  readonly bridges = new BridgeRegistry();
  readonly router: OpRouter;
  readonly sandboxes: SandboxRegistry;
  readonly execs: ExecSessions;
  readonly stats: SandboxStatsSampler;
  readonly stateDir: string | null;
  readonly startedAt = new Date();
  private readonly limiter: AuthRateLimiter;
  private readonly connections = new Set<Connection>();
  private readonly handlers: HandlerTable;
  private readonly log: (line: string) => void;

  constructor(opts: McpwServerOptions) {
    this.config = parseConfig(ServerConfig, opts.config ?? {}, "server config");
    this.stateDir = opts.stateDir ? ensureStateDir(opts.stateDir) : null;
    this.log = opts.log ?? ((l) => process.stderr.write(`${l}\n`));
    this.tokens = new TokenStore({ dir: this.stateDir });
    this.audit = new AuditLog(opts.auditPath !== undefined ? opts.auditPath : this.stateDir ? resolve(this.stateDir, "audit.jsonl") : null);
    this.limiter = new AuthRateLimiter(this.config.rateLimit);
    this.router = new OpRouter(this.bridges, this.audit, this.config.env, this.config.requestTimeoutMs);
    const cwd = opts.cwd ?? process.cwd();
    this.sandboxes = new SandboxRegistry({
      env: this.config.env,
      workspaceRoot: resolve(cwd, this.config.workspaceRoot),
      cwd,
      hostEnv: opts.hostEnv ?? process.env,
      audit: this.audit,
      protect: this.stateDir ? [this.stateDir] : [],
      callOp: (origin, op, opts) => this.router.call(origin, op, opts),
    });
    this.execs = new ExecSessions(this.sandboxes, this.audit);
    this.stats = new SandboxStatsSampler(this.sandboxes);
    this.handlers = this.clientHandlers();
    this.bridges.on("activated", (b, takeover) => this.onBridgeActivated(b, takeover));
    this.bridges.on("change", () => this.publish("bridges", "bridges.changed", { selectedEnv: this.config.env, bridges: this.bridges.info() }));
    this.audit.subscribe((e) => this.publish("audit", "audit.entry", e));
    this.sandboxes.on("state", (info) => this.publish("sandboxes", "sandbox.state", info));
    this.sandboxes.on("log", (id, line) => this.publish("logs", "sandbox.log", { ...line, sandbox: id }));
  }

  get authTimeoutMs(): number {
    return this.config.authTimeoutMs;
  }
  get requestTimeoutMs(): number {
    return this.config.requestTimeoutMs;
  }

  /** Serves a new connection over any link. */
  attach(link: Link): Connection {
    const conn = new Connection(this, link);
    this.connections.add(conn);
    return conn;
  }

  authenticate(conn: Connection, role: Role, token: string): unknown {
    const remote = conn.remoteAddress;
    try {
      this.limiter.check(remote);
    } catch (e) {
      this.audit.write({ event: "auth.fail", verdict: "deny", role, remote, reason: (e as Error).message });
      throw e;
    }
    let info;
    try {
      info = this.tokens.verify(token, role);
    } catch (e) {
      const lockout = this.limiter.fail(remote);
      this.audit.write({ event: "auth.fail", verdict: "deny", role, remote, reason: (e as Error).message });
      if (lockout) this.audit.write({ event: "auth.lockout", verdict: "deny", remote, lockoutMs: this.config.rateLimit.lockoutMs });
      throw e;
    }
    this.limiter.succeed(remote);
    conn.role = role;
    conn.tokenId = info.id;
    this.audit.write({ event: "auth.ok", verdict: "allow", role, remote, tokenId: info.id, env: info.env });
    return { role, tokenId: info.id, server: { version: VERSION, env: this.config.env } };
  }

  /**
   * Checks an admin token presented over plain HTTP (e.g. `Authorization: Bearer` on /mcp), with
   * the same rate limit and audit lines as a WebSocket login. Throws `unauthorized`.
   */
  authenticateHttp(remote: string, token: string): void {
    try {
      this.limiter.check(remote);
      const info = this.tokens.verify(token, "client");
      this.limiter.succeed(remote);
      this.audit.write({ event: "auth.ok", verdict: "allow", role: "client", remote, tokenId: info.id, via: "http" });
    } catch (e) {
      if ((e as McpwError).code === "unauthorized" && this.limiter.fail(remote)) {
        this.audit.write({ event: "auth.lockout", verdict: "deny", remote, lockoutMs: this.config.rateLimit.lockoutMs });
      }
      this.audit.write({ event: "auth.fail", verdict: "deny", role: "client", remote, via: "http", reason: (e as Error).message });
      throw e;
    }
  }

  handle(conn: Connection, method: MethodName, params: unknown): Promise<unknown> {
    const handler = this.handlers[method] as Handler<MethodName> | undefined;
    if (!handler) return Promise.reject(new McpwError("unknown_method", `unknown method "${method}"`, { field: "method" }));
    return Promise.resolve(handler(params as never, conn));
  }

  detach(conn: Connection): void {
    this.connections.delete(conn);
    if (conn.bridge) {
      const b = conn.bridge;
      conn.bridge = null;
      this.audit.write({ event: "bridge.disconnect", verdict: "info", bridge: b.name, env: b.env, bridgeId: b.id });
      this.bridges.unregister(b.id);
    }
  }

  /** Runs a privileged operation through the active bridge, on behalf of `origin`. */
  callOp(origin: Origin, op: Params<"op.call">["op"], opts?: Parameters<OpRouter["call"]>[2]): Promise<unknown> {
    return this.router.call(origin, op, opts);
  }

  async close(): Promise<void> {
    await this.sandboxes.shutdown();
    for (const c of this.connections) c.peer.close("server shutting down");
    this.audit.close();
  }

  private publish(topic: Topic, event: string, data: unknown): void {
    for (const c of this.connections) if (c.role === "client" && c.topics.has(topic)) c.peer.notify(event, data);
  }

  private onBridgeActivated(b: RegisteredBridge, takeover: boolean): void {
    this.audit.write({ event: takeover ? "bridge.takeover" : "bridge.active", verdict: "info", bridge: b.name, env: b.env, bridgeId: b.id });
    b.peer.notify("bridge.state", { active: true, env: b.env });
    if (takeover) this.log(`bridge ${b.name} took over as the active bridge for environment "${b.env}"`);
  }

  private registerBridge(conn: Connection, p: Params<"bridge.register">): unknown {
    if (conn.bridge) throw new McpwError("conflict", `this connection already registered bridge ${conn.bridge.name}`);
    const token = this.tokens.get(conn.tokenId!);
    if (token?.env !== p.env) {
      throw new McpwError("forbidden", `this token is for environment "${token?.env}", not "${p.env}"`, { field: "params.env" });
    }
    const bridge = this.bridges.register({
      env: p.env,
      name: p.name,
      tokenId: conn.tokenId!,
      capabilities: p.capabilities,
      peer: conn.peer,
      remoteAddress: conn.remoteAddress,
    });
    conn.bridge = bridge;
    const active = this.bridges.isActive(bridge);
    this.audit.write({ event: "bridge.register", verdict: "allow", bridge: p.name, env: p.env, bridgeId: bridge.id, active, capabilities: p.capabilities });
    return { bridgeId: bridge.id, active, selectedEnv: this.config.env };
  }

  private clientHandlers(): HandlerTable {
    const sb = this.sandboxes;
    return {
      "bridge.register": (p, conn) => this.registerBridge(conn, p),
      "server.status": () => ({
        version: VERSION,
        env: this.config.env,
        startedAt: this.startedAt.toISOString(),
        activeBridge: this.bridges.active(this.config.env)?.name ?? null,
        bridges: this.bridges.all().length,
        sandboxes: sb.size,
      }),
      "token.create": (p, conn) => {
        const { token, info } = this.tokens.create("bridge", p.env, p.name, p.expiresInSec);
        this.audit.write({ event: "token.create", verdict: "info", tokenId: info.id, env: p.env, name: p.name, by: conn.tokenId });
        return { ...info, token };
      },
      "token.list": () => ({ tokens: this.tokens.list() }),
      "token.revoke": (p, conn) => {
        const admin = this.tokens.currentAdmin();
        if (admin?.id === p.id) {
          throw new McpwError(
            "conflict",
            `${p.id} is the server's admin token (${admin.path}), which the CLI and TUI use: revoking it would lock them out. ` +
              `To replace it, stop the server, delete that file and start the server again (it writes a new one), then revoke ${p.id}`,
            { field: "params.id" },
          );
        }
        const token = this.tokens.revoke(p.id);
        let disconnected = 0;
        for (const c of this.connections) {
          if (c.tokenId === p.id && c !== conn) {
            c.peer.close("token revoked");
            disconnected++;
          }
        }
        this.audit.write({ event: "token.revoke", verdict: "info", tokenId: p.id, by: conn.tokenId, disconnected });
        return { token, disconnected };
      },
      "bridge.list": () => ({ selectedEnv: this.config.env, bridges: this.bridges.info() }),
      "op.call": (p, conn) => this.callOp({ kind: "client", id: conn.tokenId! }, p.op),
      "sandbox.create": (p) => sb.create(p),
      "sandbox.start": (p) => sb.start(p.id),
      "sandbox.stop": (p) => sb.stop(p.id),
      "sandbox.restart": (p) => sb.restart(p.id),
      "sandbox.remove": async (p) => {
        await sb.remove(p.id);
        return { ok: true };
      },
      "sandbox.status": (p) => sb.status(p.id),
      "sandbox.list": () => ({ sandboxes: sb.list() }),
      "sandbox.logs": (p) => ({ lines: sb.logs(p.id, p.tail) }),
      "sandbox.mcp": async (p) => ({ response: await sb.mcp(p.id, p.message, p.timeoutMs) }),
      "sandbox.stats": async (p) => ({ stats: await this.stats.sample(p.id) }),
      "sandbox.exec": (p, conn) => this.execs.start(conn, p),
      "sandbox.exec.resize": (p, conn) => this.execs.resize(conn, p),
      "audit.tail": (p) => ({ entries: this.audit.tail(p.limit, (e) => matchesAuditFilter(p.filter, e)) }),
      subscribe: (p, conn) => {
        for (const t of p.topics) conn.topics.add(t);
        return { ok: true };
      },
    };
  }
}
