import { z } from "zod";
import { BridgeOpRequest, Op, Origin, SandboxOp } from "./ops.js";
import { BridgeCapabilities, EnvName, Policy } from "./policy.js";

/**
 * Every request method on every link, with its params and result schemas and the roles that may
 * call it. Types are inferred from the schemas; nothing is declared twice.
 */

export const Role = z.enum(["client", "bridge"]);
export type Role = z.infer<typeof Role>;

/** Token strings: `mcpw_` then 43 base64url characters (256 random bits). */
export const TOKEN_PREFIX = "mcpw_";
export const TokenString = z.string().max(200);
export const TokenId = z.string().regex(/^tok_[a-f0-9]{16}$/, "expected a token id such as tok_0123456789abcdef");
export const SandboxId = z.string().regex(/^sb-[a-z0-9]{8}$/, "expected a sandbox id such as sb-1a2b3c4d");
export const BridgeName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, "bridge names are 1-64 chars of letters, digits, _ . @ or -");
export const DisplayName = z.string().min(1).max(64).regex(/^[\x20-\x7e]+$/, "names are printable ASCII");

const Empty = z.object({}).strict().default({});
const Ok = z.object({ ok: z.literal(true) }).strict();

export const TokenInfo = z
  .object({
    id: TokenId,
    kind: z.enum(["admin", "bridge"]),
    env: EnvName.nullable(),
    name: z.string(),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    lastUsedAt: z.string().nullable(),
  })
  .strict();
export type TokenInfo = z.infer<typeof TokenInfo>;

export const BridgeInfo = z
  .object({
    id: z.string(),
    env: EnvName,
    name: z.string(),
    active: z.boolean(),
    capabilities: BridgeCapabilities,
    connectedSince: z.string(),
    remoteAddress: z.string(),
    requestsServed: z.number(),
    lastError: z.string().nullable(),
  })
  .strict();
export type BridgeInfo = z.infer<typeof BridgeInfo>;

export const SandboxState = z.enum(["created", "starting", "running", "stopping", "exited"]);
export const ExitInfo = z
  .object({
    code: z.number().nullable(),
    signal: z.string().nullable(),
    /** Why it ended, in words: "exited with code 0", "stopped by request", "memory limit (memMb=256)", ... */
    reason: z.string(),
    at: z.string(),
  })
  .strict();
export type ExitInfo = z.infer<typeof ExitInfo>;

export const SandboxInfo = z
  .object({
    id: SandboxId,
    name: z.string(),
    command: z.array(z.string()),
    env: EnvName,
    state: SandboxState,
    pid: z.number().nullable(),
    workspace: z.string(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    restarts: z.number(),
    exit: ExitInfo.nullable(),
    /** Isolation layers in force, or the reason each is missing. */
    isolation: z.record(z.string(), z.string()),
  })
  .strict();
export type SandboxInfo = z.infer<typeof SandboxInfo>;

export const LogLine = z.object({ seq: z.number(), at: z.string(), stream: z.enum(["stderr", "system"]), text: z.string() }).strict();
export type LogLine = z.infer<typeof LogLine>;

export const AuditEntry = z
  .object({
    ts: z.string(),
    /** e.g. auth.ok, auth.fail, token.create, bridge.register, bridge.active, op, sandbox.start */
    event: z.string(),
    verdict: z.enum(["allow", "deny", "error", "info"]),
  })
  .catchall(z.unknown());
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditFilter = z
  .object({
    sandbox: z.string().optional(),
    bridge: z.string().optional(),
    verdict: z.enum(["allow", "deny", "error", "info"]).optional(),
    event: z.string().optional(),
  })
  .strict();
export type AuditFilter = z.infer<typeof AuditFilter>;

const SandboxRef = z.object({ id: SandboxId }).strict();

/** Resource use of a running sandbox's processes, read from /proc on the server. */
export const SandboxStats = z
  .object({
    id: SandboxId,
    /** Processes in the sandbox (its pid namespace, exec'd shells included). */
    processes: z.number().int(),
    /** Sum of the processes' resident set sizes (shared pages are counted once per process). */
    rssBytes: z.number(),
    /** CPU time (user + system) of the live processes. */
    cpuSeconds: z.number(),
    /** Share of one CPU used since the previous sample (100 = one core busy); null on the first sample. */
    cpuPercent: z.number().nullable(),
    uptimeSec: z.number().nullable(),
    sampledAt: z.string(),
  })
  .strict();
export type SandboxStats = z.infer<typeof SandboxStats>;

/** Terminal size of an exec session. */
const TermCols = z.number().int().min(1).max(1000);
const TermRows = z.number().int().min(1).max(1000);
export const ExecId = z.string().regex(/^ex_[a-f0-9]{12}$/, "expected an exec id such as ex_0123456789ab");

/** A JSON-RPC 2.0 message as an MCP client sends it. */
export const JsonRpcMessage = z
  .object({ jsonrpc: z.literal("2.0"), id: z.union([z.string(), z.number()]).optional(), method: z.string().optional() })
  .loose();

interface MethodSpec {
  params: z.ZodType;
  result: z.ZodType;
  /** Roles allowed to call it; "public" means before authentication. */
  roles: readonly ("public" | Role | "server" | "sandbox")[];
}

function method<P extends z.ZodType, R extends z.ZodType>(roles: MethodSpec["roles"], params: P, result: R) {
  return { roles, params, result };
}

export const Methods = {
  // ---- any connection, before it is authenticated
  auth: method(
    ["public"],
    z.object({ role: Role, token: TokenString }).strict(),
    z.object({ role: Role, tokenId: TokenId, server: z.object({ version: z.string(), env: EnvName }).strict() }).strict(),
  ),

  // ---- bridge → server
  "bridge.register": method(
    ["bridge"],
    z.object({ env: EnvName, name: BridgeName, capabilities: BridgeCapabilities }).strict(),
    z.object({ bridgeId: z.string(), active: z.boolean(), selectedEnv: EnvName }).strict(),
  ),

  // ---- server → bridge (result checked against OpResults[op] by the caller)
  "bridge.op": method(["server"], BridgeOpRequest, z.unknown()),

  // ---- client (admin) → server
  "server.status": method(
    ["client"],
    Empty,
    z
      .object({
        version: z.string(),
        env: EnvName,
        startedAt: z.string(),
        activeBridge: z.string().nullable(),
        bridges: z.number(),
        sandboxes: z.number(),
      })
      .strict(),
  ),
  "token.create": method(
    ["client"],
    z
      .object({
        env: EnvName,
        name: DisplayName,
        /** Lifetime in seconds; omitted means no expiry. */
        expiresInSec: z.number().int().positive().max(10 * 365 * 24 * 3600).optional(),
      })
      .strict(),
    TokenInfo.extend({ token: z.string() }),
  ),
  "token.list": method(["client"], Empty, z.object({ tokens: z.array(TokenInfo) }).strict()),
  "token.revoke": method(["client"], z.object({ id: TokenId }).strict(), z.object({ token: TokenInfo, disconnected: z.number() }).strict()),
  "bridge.list": method(["client"], Empty, z.object({ selectedEnv: EnvName, bridges: z.array(BridgeInfo) }).strict()),
  "op.call": method(["client"], z.object({ op: Op }).strict(), z.unknown()),
  "sandbox.create": method(
    ["client"],
    z
      .object({
        name: DisplayName.optional(),
        command: z.array(z.string().max(128 * 1024)).min(1).max(4096),
        policy: Policy.prefault({}),
        /** Host directory bound at /mount; default ./mount/<sandbox-id>/ under the server's cwd. */
        workspace: z.string().min(1).max(4096).optional(),
        start: z.boolean().default(true),
      })
      .strict(),
    SandboxInfo,
  ),
  "sandbox.start": method(["client"], SandboxRef, SandboxInfo),
  "sandbox.stop": method(["client"], SandboxRef, SandboxInfo),
  "sandbox.restart": method(["client"], SandboxRef, SandboxInfo),
  "sandbox.remove": method(["client"], SandboxRef, Ok),
  "sandbox.status": method(["client"], SandboxRef, SandboxInfo),
  "sandbox.list": method(["client"], Empty, z.object({ sandboxes: z.array(SandboxInfo) }).strict()),
  "sandbox.logs": method(
    ["client"],
    z.object({ id: SandboxId, tail: z.number().int().min(1).max(10000).default(200) }).strict(),
    z.object({ lines: z.array(LogLine) }).strict(),
  ),
  "sandbox.mcp": method(
    ["client"],
    z.object({ id: SandboxId, message: JsonRpcMessage, timeoutMs: z.number().int().positive().max(600_000).default(60_000) }).strict(),
    z.object({ response: z.unknown() }).strict(),
  ),
  "sandbox.stats": method(
    ["client"],
    z.object({ id: SandboxId.optional() }).strict().default({}),
    z.object({ stats: z.array(SandboxStats) }).strict(),
  ),
  /**
   * Runs a command (default /bin/sh) in a running sandbox's namespaces, on a pty. The client opens
   * byte stream `stream` on this connection first (an id from its own range); the terminal's bytes
   * flow over it both ways, and `sandbox.exec.exit` is sent to this connection before the stream ends.
   */
  "sandbox.exec": method(
    ["client"],
    z
      .object({
        id: SandboxId,
        command: z.array(z.string().max(128 * 1024)).max(4096).default([]),
        cols: TermCols.default(80),
        rows: TermRows.default(24),
        term: z.string().regex(/^[A-Za-z0-9._+-]{1,64}$/, "TERM is letters, digits and . _ + -").default("xterm-256color"),
        stream: z.number().int().min(1).max(0xffffffff),
      })
      .strict(),
    z.object({ execId: ExecId, pid: z.number().int() }).strict(),
  ),
  "sandbox.exec.resize": method(["client"], z.object({ execId: ExecId, cols: TermCols, rows: TermRows }).strict(), Ok),
  "audit.tail": method(
    ["client"],
    z.object({ limit: z.number().int().min(1).max(10000).default(100), filter: AuditFilter.default({}) }).strict(),
    z.object({ entries: z.array(AuditEntry) }).strict(),
  ),
  subscribe: method(
    ["client"],
    z.object({ topics: z.array(z.enum(["audit", "sandboxes", "bridges", "logs"])).min(1) }).strict(),
    Ok,
  ),

  // ---- sandbox → supervisor, over the unix socket bound into the sandbox (see channel.ts)
  "sandbox.op": method(["sandbox"], z.object({ op: SandboxOp }).strict(), z.unknown()),
  /** Opens a TCP connection through the bridge; the bytes then flow over a new channel connection that presents the ticket. */
  "tunnel.open": method(
    ["sandbox"],
    z.object({ host: z.string().min(1).max(255), port: z.number().int().min(1).max(65535) }).strict(),
    z.object({ ticket: z.string().regex(/^[a-f0-9]{32}$/), remoteAddress: z.string(), remotePort: z.number() }).strict(),
  ),
} as const satisfies Record<string, MethodSpec>;

export type MethodName = keyof typeof Methods;
export type Params<M extends MethodName> = z.infer<(typeof Methods)[M]["params"]>;
export type ParamsInput<M extends MethodName> = z.input<(typeof Methods)[M]["params"]>;
export type Result<M extends MethodName> = z.infer<(typeof Methods)[M]["result"]>;

/** Events the server pushes (to subscribed clients, or to bridges). */
export const Events = {
  "bridge.state": z.object({ active: z.boolean(), env: EnvName }).strict(),
  "audit.entry": AuditEntry,
  "sandbox.state": SandboxInfo,
  "sandbox.log": LogLine.extend({ sandbox: SandboxId }),
  "bridges.changed": z.object({ selectedEnv: EnvName, bridges: z.array(BridgeInfo) }).strict(),
  /** To the connection that started the exec only; its stream ends right after. */
  "sandbox.exec.exit": z.object({ execId: ExecId, code: z.number().nullable(), signal: z.string().nullable() }).strict(),
} as const;
export type EventName = keyof typeof Events;
export type EventData<E extends EventName> = z.infer<(typeof Events)[E]>;

export { Origin };
