import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import { McpwError } from "../protocol/errors.js";
import type { ExitInfo, LogLine, Params, SandboxInfo } from "../protocol/methods.js";
import type { Policy } from "../protocol/policy.js";
import { launchSandbox, type LaunchedSandbox } from "../wrapper/launcher.js";
import { exitReason, LimitWatch } from "../wrapper/sandbox-limits.js";
import type { CallOp } from "../wrapper/supervisor.js";
import type { AuditLog } from "./audit-log.js";
import { McpStdioSession } from "./mcp-stdio-session.js";
import { markWorkspaceRoot } from "../wrapper/workspace-mark.js";

const LOG_RING = 1000;
/** After stdin is closed, how long a sandbox gets to exit on its own before it is killed. */
const STOP_GRACE_MS = 2000;

interface Sandbox {
  id: string;
  name: string;
  command: string[];
  policy: Policy;
  workspace: string;
  state: SandboxInfo["state"];
  createdAt: Date;
  startedAt: Date | null;
  restarts: number;
  exit: ExitInfo | null;
  isolation: Record<string, string>;
  logs: LogLine[];
  logSeq: number;
  run: LaunchedSandbox | null;
  session: McpStdioSession | null;
  stopRequested: boolean;
  exited: Promise<void> | null;
}

/** The live parts of a running sandbox, for exec sessions and resource stats. */
export interface SandboxRuntime {
  info: SandboxInfo;
  policy: Policy;
  launched: LaunchedSandbox;
  /** The host environment the sandbox's own was built from (policy.env.pass reads it). */
  hostEnv: NodeJS.ProcessEnv;
}

export interface SandboxRegistryOptions {
  /** Environment whose bridge serves these sandboxes (shown in listings). */
  env: string;
  /** Default workspaces are created under this directory, one per sandbox id. */
  workspaceRoot: string;
  /** Where relative commands are resolved. */
  cwd: string;
  hostEnv: NodeJS.ProcessEnv;
  audit: AuditLog;
  /** Paths never exposed to a sandbox automatically (home, state dir). */
  protect: string[];
  /** Runs a sandbox's privileged operations (the server's router). */
  callOp: CallOp;
}

/**
 * Sandboxes known to the server and their lifecycle: create, start, stop, restart, remove, with a
 * ring buffer of stderr per sandbox and the reason each run ended. A sandbox that crashes is
 * reported; it never takes the server down.
 */
export class SandboxRegistry extends EventEmitter<{ state: [SandboxInfo]; log: [string, LogLine] }> {
  private readonly sandboxes = new Map<string, Sandbox>();

  constructor(private readonly opts: SandboxRegistryOptions) {
    super();
  }

  async create(params: Params<"sandbox.create">): Promise<SandboxInfo> {
    const id = `sb-${randomBytes(4).toString("hex")}`;
    let workspace: string;
    if (params.workspace) {
      workspace = resolve(this.opts.cwd, params.workspace);
    } else {
      workspace = resolve(this.opts.workspaceRoot, id);
      mkdirSync(this.opts.workspaceRoot, { recursive: true, mode: 0o755 });
      markWorkspaceRoot(this.opts.workspaceRoot);
      mkdirSync(workspace, { mode: 0o700 });
    }
    const sb: Sandbox = {
      id,
      name: params.name ?? params.command[0]!.split("/").pop()!,
      command: params.command,
      policy: params.policy,
      workspace,
      state: "created",
      createdAt: new Date(),
      startedAt: null,
      restarts: 0,
      exit: null,
      isolation: {},
      logs: [],
      logSeq: 0,
      run: null,
      session: null,
      stopRequested: false,
      exited: null,
    };
    this.sandboxes.set(id, sb);
    this.opts.audit.write({ event: "sandbox.create", verdict: "info", sandbox: id, command: sb.command.join(" ").slice(0, 300) });
    if (params.start) {
      try {
        await this.launch(sb);
      } catch (e) {
        // Nothing half-started is left behind: a sandbox that cannot start is not registered.
        this.sandboxes.delete(id);
        throw e;
      }
    }
    return this.info(sb);
  }

  async start(id: string): Promise<SandboxInfo> {
    const sb = this.get(id);
    if (sb.state === "running" || sb.state === "starting") throw new McpwError("conflict", `sandbox ${id} is already ${sb.state}`);
    if (sb.state === "stopping") throw new McpwError("conflict", `sandbox ${id} is stopping; start it again once it has exited`);
    await this.launch(sb);
    return this.info(sb);
  }

  async stop(id: string): Promise<SandboxInfo> {
    const sb = this.get(id);
    await this.terminate(sb);
    return this.info(sb);
  }

  async restart(id: string): Promise<SandboxInfo> {
    const sb = this.get(id);
    await this.terminate(sb);
    sb.restarts++;
    await this.launch(sb);
    return this.info(sb);
  }

  async remove(id: string): Promise<void> {
    const sb = this.get(id);
    await this.terminate(sb);
    this.sandboxes.delete(id);
    this.opts.audit.write({ event: "sandbox.remove", verdict: "info", sandbox: id });
  }

  status(id: string): SandboxInfo {
    return this.info(this.get(id));
  }

  list(): SandboxInfo[] {
    return [...this.sandboxes.values()].map((sb) => this.info(sb));
  }

  logs(id: string, tail: number): LogLine[] {
    return this.get(id).logs.slice(-tail);
  }

  async mcp(id: string, message: Params<"sandbox.mcp">["message"], timeoutMs: number): Promise<unknown> {
    const sb = this.get(id);
    if (sb.state !== "running" || !sb.session) throw new McpwError("conflict", `sandbox ${id} is not running (state: ${sb.state})`);
    return sb.session.send(message as Parameters<McpStdioSession["send"]>[0], timeoutMs);
  }

  /** A running sandbox's live parts; throws `conflict` when it is not running. */
  runtime(id: string): SandboxRuntime {
    const sb = this.get(id);
    if (sb.state !== "running" || !sb.run) throw new McpwError("conflict", `sandbox ${id} is not running (state: ${sb.state})`);
    return { info: this.info(sb), policy: sb.policy, launched: sb.run, hostEnv: this.opts.hostEnv };
  }

  /** Stops every sandbox (server shutdown). */
  async shutdown(): Promise<void> {
    await Promise.all([...this.sandboxes.values()].map((sb) => this.terminate(sb)));
  }

  get size(): number {
    return this.sandboxes.size;
  }

  private get(id: string): Sandbox {
    const sb = this.sandboxes.get(id);
    if (!sb) throw new McpwError("not_found", `no sandbox with id ${id}`, { field: "params.id" });
    return sb;
  }

  private async launch(sb: Sandbox): Promise<void> {
    const previous = sb.state;
    sb.state = "starting";
    let run: LaunchedSandbox;
    try {
      run = await launchSandbox({
      id: sb.id,
      command: sb.command,
      policy: sb.policy,
      workspace: sb.workspace,
      cwd: this.opts.cwd,
      hostEnv: this.opts.hostEnv,
        stdio: ["pipe", "pipe", "pipe"],
        protect: this.opts.protect,
        workspaceRoots: [this.opts.workspaceRoot],
        channel: { callOp: this.opts.callOp, audit: (e) => this.opts.audit.write(e) },
      });
    } catch (e) {
      sb.state = previous;
      throw e;
    }
    sb.run = run;
    sb.isolation = run.isolation;
    sb.stopRequested = false;
    sb.exit = null;
    sb.startedAt = new Date();
    const child = run.child;
    const watch = new LimitWatch(run.process, sb.policy.limits);
    if (watch.countsStdout) child.stdout!.on("data", (chunk: Buffer) => void watch.stdout(chunk));
    sb.session = new McpStdioSession(child.stdin!, child.stdout!, (line) => this.log(sb, "system", line));
    createInterface({ input: child.stderr!, crlfDelay: Infinity }).on("line", (line) => this.log(sb, "stderr", line));
    sb.exited = new Promise((resolveExit) => {
      let spawnError: Error | null = null;
      child.on("error", (err) => (spawnError = err));
      const running = () => {
        if (sb.state !== "starting") return;
        sb.state = "running";
        this.log(sb, "system", `started: ${run.resolved.argv.join(" ").slice(0, 300)}`);
        this.emit("state", this.info(sb));
      };
      // The launcher spawns before it returns, so 'spawn' may already have fired.
      if (child.pid !== undefined) running();
      else child.once("spawn", running);
      child.on("close", (code, signal) => {
        watch.dispose();
        // The error a limit caused is among the last lines of its stderr (see sandbox-limits.ts).
        const stderrTail = sb.logs.filter((l) => l.stream === "stderr").slice(-20).map((l) => l.text).join("\n");
        const reason = spawnError
          ? `failed to start: ${spawnError.message}`
          : exitReason({ code, signal }, sb.policy.limits, { stopCause: watch.stopCause, stopRequested: sb.stopRequested, stderrTail }).reason;
        sb.exit = { code, signal, reason, at: new Date().toISOString() };
        sb.state = "exited";
        sb.session?.close(reason);
        sb.session = null;
        sb.run = null;
        run.dispose();
        this.log(sb, "system", reason);
        this.opts.audit.write({ event: "sandbox.exit", verdict: "info", sandbox: sb.id, reason, code, signal });
        this.emit("state", this.info(sb));
        resolveExit();
      });
    });
    this.opts.audit.write({ event: "sandbox.start", verdict: "info", sandbox: sb.id, isolation: sb.isolation });
    this.emit("state", this.info(sb));
  }

  private async terminate(sb: Sandbox): Promise<void> {
    if (!sb.run || sb.state === "exited" || sb.state === "created") return;
    sb.stopRequested = true;
    sb.state = "stopping";
    this.emit("state", this.info(sb));
    await sb.run.process.stop(STOP_GRACE_MS);
    await sb.exited;
  }

  private log(sb: Sandbox, stream: LogLine["stream"], text: string): void {
    const line: LogLine = { seq: ++sb.logSeq, at: new Date().toISOString(), stream, text: text.slice(0, 8192) };
    sb.logs.push(line);
    if (sb.logs.length > LOG_RING) sb.logs.splice(0, sb.logs.length - LOG_RING);
    this.emit("log", sb.id, line);
  }

  private info(sb: Sandbox): SandboxInfo {
    return {
      id: sb.id,
      name: sb.name,
      command: sb.command,
      env: this.opts.env,
      state: sb.state,
      pid: sb.run?.child.pid ?? null,
      workspace: sb.workspace,
      createdAt: sb.createdAt.toISOString(),
      startedAt: sb.startedAt?.toISOString() ?? null,
      restarts: sb.restarts,
      exit: sb.exit,
      isolation: sb.isolation,
    };
  }
}
