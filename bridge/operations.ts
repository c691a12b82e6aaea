import type { Duplex } from "node:stream";
import { McpwError, parseOrThrow, toErrorBody } from "../protocol/errors.js";
import type { AuditEntry } from "../protocol/methods.js";
import { BridgeOpRequest, type Op, type OpName, type OpResult, OpResults, Origin } from "../protocol/ops.js";
import { type BridgeCapabilities, BridgePolicy, type BridgePolicyInput } from "../protocol/policy.js";
import { capabilitiesOf } from "./capabilities.js";
import { NetworkRules, type Resolver } from "./destination-check.js";
import { ExecOperations } from "./exec-ops.js";
import { FileOperations } from "./fs-ops.js";
import { formatHostPort } from "./host-pattern.js";
import { describeUrl, HttpOperations, type HttpOptions } from "./http-request.js";
import { NetworkOperations } from "./net-ops.js";
import { PathGuard } from "./path-guard.js";

/**
 * The bridge's dispatcher: validates a request, carries out its operation under the bridge's own
 * policy (and, for network operations, the requester's `restrict.network` as well), validates the
 * result, and writes exactly one audit entry per request, whatever happens:
 *
 *   { ts, event: "op", verdict: allow | deny | error, op, origin, target, fileMode?, code?, rule?,
 *     reason?, errno?, durationMs }
 *
 * `target` is the path, host:port, URL (without query or credentials) or command; `fileMode` is the
 * mode fs.write / fs.mkdir asked for, in octal ("0644"), refused ones included. File contents,
 * bodies, arguments, environment values and headers are never recorded.
 */

export interface OperationContext {
  /** Creates the local end of the byte stream `id` (net.connect). */
  openStream(id: number): Duplex;
}

export type AuditSink = (entry: AuditEntry) => void;

export interface BridgeOperationsOptions {
  /** Name resolution (default: the system resolver, `dns.lookup` with all: true). */
  resolver?: Resolver;
  /** Time allowed for a net.connect to be accepted; default 10 s. */
  connectTimeoutMs?: number;
  /** Certificate authorities for https instead of Node's bundled ones. */
  httpsCa?: HttpOptions["ca"];
}

/** What an operation touches, for audit lines: path, host:port, URL without query, or command — never contents. */
export function describeOpTarget(op: Op): string {
  switch (op.op) {
    case "fs.rename":
      return `${op.from} -> ${op.to}`;
    case "net.connect":
      return formatHostPort(op.host, op.port);
    case "net.resolve":
      return op.host;
    case "http.request":
      return `${op.method} ${describeUrl(op.url)}`;
    case "exec":
      return op.command;
    default:
      return op.path;
  }
}

export class BridgeOperations {
  readonly policy: BridgePolicy;
  readonly capabilities: BridgeCapabilities;
  private readonly audit: AuditSink;
  private readonly networkRules: NetworkRules;
  private readonly files: FileOperations;
  private readonly programs: ExecOperations;
  private readonly net: NetworkOperations;
  private readonly http: HttpOperations;

  /** Throws bad_params naming the field when the policy is malformed or a root does not exist. */
  constructor(policy: BridgePolicy | BridgePolicyInput, audit: AuditSink, options: BridgeOperationsOptions = {}) {
    this.policy = parseOrThrow(BridgePolicy, policy, "bad_params");
    this.capabilities = capabilitiesOf(this.policy);
    this.audit = audit;
    this.networkRules = new NetworkRules(this.policy.network, "network");
    const guard = new PathGuard(this.policy.filesystem);
    this.files = new FileOperations(guard);
    this.programs = new ExecOperations(this.policy.exec, guard);
    this.net = new NetworkOperations({ resolver: options.resolver, connectTimeoutMs: options.connectTimeoutMs ?? 10_000 });
    this.http = new HttpOperations({ resolver: options.resolver, ca: options.httpsCa });
  }

  /** Validates, performs and audits one request. Rejects with a McpwError (also audited). */
  async perform(request: BridgeOpRequest | unknown, ctx: OperationContext): Promise<OpResult<OpName>> {
    const started = performance.now();
    let parsed: BridgeOpRequest | undefined;
    let result: OpResult<OpName>;
    try {
      parsed = parseOrThrow(BridgeOpRequest, request, "bad_params");
      const raw = await this.run(parsed, ctx);
      const checked = OpResults[parsed.op.op].safeParse(raw);
      if (!checked.success) throw new McpwError("internal", `the result of ${parsed.op.op} does not match its schema: ${checked.error.issues[0]?.message}`);
      result = checked.data as OpResult<OpName>;
    } catch (err) {
      const error = err instanceof McpwError ? err : McpwError.fromBody(toErrorBody(err));
      this.record(request, parsed, started, error);
      throw error;
    }
    this.record(request, parsed, started);
    return result;
  }

  private rulesFor(request: BridgeOpRequest): NetworkRules[] {
    const restrict = request.restrict.network;
    return restrict ? [this.networkRules, new NetworkRules(restrict, "restrict.network")] : [this.networkRules];
  }

  private run(request: BridgeOpRequest, ctx: OperationContext): Promise<OpResult<OpName>> {
    const op = request.op;
    switch (op.op) {
      case "fs.stat":
        return this.files.stat(op);
      case "fs.read":
        return this.files.read(op);
      case "fs.write":
        return this.files.write(op);
      case "fs.list":
        return this.files.list(op);
      case "fs.mkdir":
        return this.files.mkdir(op);
      case "fs.rm":
        return this.files.rm(op);
      case "fs.rename":
        return this.files.rename(op);
      case "fs.readlink":
        return this.files.readlink(op);
      case "fs.realpath":
        return this.files.realpath(op);
      case "net.connect":
        return this.net.connect(op, this.rulesFor(request), (id) => ctx.openStream(id));
      case "net.resolve":
        return this.net.resolve(op, this.rulesFor(request));
      case "http.request":
        return this.http.request(op, this.rulesFor(request));
      case "exec":
        return this.programs.exec(op);
    }
  }

  private record(raw: unknown, parsed: BridgeOpRequest | undefined, started: number, error?: McpwError): void {
    const entry: AuditEntry = {
      ts: new Date().toISOString(),
      event: "op",
      verdict: error === undefined ? "allow" : error.code === "policy_denied" ? "deny" : "error",
    };
    // A request that failed validation is recorded with what can be trusted of it.
    const rawRequest = (raw ?? {}) as { op?: { op?: unknown; fileMode?: unknown }; origin?: unknown };
    const opName = parsed?.op.op ?? (typeof rawRequest.op?.op === "string" ? rawRequest.op.op.slice(0, 64) : undefined);
    const origin = parsed?.origin ?? Origin.safeParse(rawRequest.origin).data;
    if (opName !== undefined) entry.op = opName;
    if (origin !== undefined) entry.origin = origin;
    if (parsed) entry.target = describeOpTarget(parsed.op);
    // The mode a file or directory is created with, also when a refused request asked for more.
    const fileMode = parsed ? (parsed.op as { fileMode?: number }).fileMode : rawRequest.op?.fileMode;
    if ((opName === "fs.write" || opName === "fs.mkdir") && typeof fileMode === "number" && Number.isInteger(fileMode) && fileMode >= 0 && fileMode <= 0o177777) {
      entry.fileMode = `0${fileMode.toString(8).padStart(3, "0")}`;
    }
    if (error) {
      entry.code = error.code;
      entry.reason = error.message;
      if (error.rule !== undefined) entry.rule = error.rule;
      if (error.errno !== undefined) entry.errno = error.errno;
    }
    entry.durationMs = Math.round((performance.now() - started) * 10) / 10;
    this.audit(entry);
  }
}
