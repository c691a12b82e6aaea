import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { McpwError } from "../../protocol/errors.js";
import { SocketLink } from "../../protocol/link.js";
import { Policy } from "../../protocol/policy.js";
import type { AuditInput } from "../../server/audit-log.js";
import { launchSandbox, type LaunchedSandbox, type McpwScript } from "../launcher.js";
import { Tail } from "../sandbox-limits.js";
import { FROM_PROCESS_MAX_BYTES, TO_PROCESS_MAX_BYTES, type ChannelRequest, type PoolMessage, type WorkerMessage } from "./pyodide-protocol.js";
import { LimitReason } from "./schemas.js";

/**
 * One Pyodide process in a sandbox of its own, as the pool sees it. The process runs
 * pyodide-process.js through mcpw's launcher, so it gets what every sandbox gets: bubblewrap
 * namespaces (its own loopback and nothing else for network; a new root with only the read-only
 * runtime and mcpw), the unprivileged host uid when mcpw is root, seccomp, landlock, rlimits. Its
 * policy allows no network, no host paths and no programs; a snippet's files and HTTP reach the
 * host only as calls the pool serves with the policy of the job then running.
 *
 * Everything the process says is untrusted: each frame is checked against a schema here, and a
 * malformed one (not JSON, an unknown message, a binary frame, a frame over the size limit) ends
 * the process.
 */

/** The script every Pyodide sandbox runs, under mcpw's dist/. */
export const PYODIDE_PROCESS: McpwScript = { script: "wrapper/snippets/pyodide-process.js", nodeOptions: ["--disallow-code-generation-from-strings"], args: [] };

/** Room for Node, V8 and Pyodide themselves above the snippets' memMb (enforced inside by the heap hook). */
const PROCESS_MEM_HEADROOM_MB = 1024;
/**
 * Tasks (threads included): a Pyodide process runs 12 (Node's main thread, V8 and libuv workers,
 * the Pyodide worker). Under bubblewrap the count is the sandbox's own; without it (best-effort),
 * RLIMIT_NPROC counts every task of the sandbox's uid on the host, hence the room.
 */
const PROCESS_MAX_PROCS = 128;

export interface PyodideSandboxPolicy {
  /** The snippet policy's isolation: "strict" refuses to start without bubblewrap. */
  isolation: Policy["isolation"];
  /** The configured snippets' memMb (calls can only lower it). */
  memMb: number;
  /** Where the supervisor's refusals are audited (an escaped snippet asking the channel for anything). */
  audit?: (entry: AuditInput) => void;
}

/** The sandbox policy of a Pyodide process: nothing of the host, limits generous enough for Pyodide. */
export function pyodideSandboxPolicy(p: PyodideSandboxPolicy): Policy {
  return Policy.parse({
    isolation: p.isolation,
    limits: { timeoutMs: 0, stdoutBytes: 0, memMb: Math.min(p.memMb + PROCESS_MEM_HEADROOM_MB, 1024 * 1024), maxProcs: PROCESS_MAX_PROCS, maxFileMb: 64, openFiles: 256 },
    // The worker's timing marks, when mcpw itself is asked for them.
    env: { pass: ["MCPW_DEBUG_PYODIDE"] },
  });
}

export interface LaunchedPyodideSandbox {
  id: string;
  launched: LaunchedSandbox;
  /** The sandbox's empty workspace (its /mount), made for it; removed by dispose. */
  workspace: string;
  dispose(): void;
}

/**
 * Starts `program` (one of mcpw's own scripts) in a Pyodide sandbox, with stdin, stdout and stderr
 * piped. The pool runs pyodide-process.js; tests run probes in the very same sandbox.
 */
export async function launchPyodideSandbox(program: McpwScript, p: PyodideSandboxPolicy): Promise<LaunchedPyodideSandbox> {
  const id = `py-${randomBytes(4).toString("hex")}`;
  const workspace = mkdtempSync(join(tmpdir(), "mcpw-pyodide-"));
  try {
    const launched = await launchSandbox({
      id,
      command: program,
      policy: pyodideSandboxPolicy(p),
      workspace,
      cwd: workspace,
      hostEnv: process.env,
      stdio: ["pipe", "pipe", "pipe"],
      channel: {
        callOp: () => Promise.reject(new McpwError("policy_denied", "a Pyodide sandbox has nothing to ask the bridge: a snippet's files and HTTP go through the pool")),
        audit: p.audit ?? (() => undefined),
      },
    });
    return {
      id,
      launched,
      workspace,
      dispose() {
        launched.dispose();
        rmSync(workspace, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(workspace, { recursive: true, force: true });
    throw e;
  }
}

// `value` is JSON text from the worker's to_json; one that does not parse (a snippet changed the
// worker's Python) is the pool's to handle: the output is kept and the process replaced.
const JobResult = z
  .object({ stdout: z.string(), stderr: z.string(), exitCode: z.number().int(), value: z.string().optional(), reason: LimitReason.optional(), fatal: z.boolean().optional() })
  .strict();

const ProcessMessage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready") }).strict(),
  z.object({ type: z.literal("failed"), message: z.string() }).strict(),
  z.object({ type: z.literal("call"), request: z.string() }).strict(),
  z.object({ type: z.literal("done"), result: JobResult }).strict(),
  z.object({ type: z.literal("idle"), ok: z.boolean(), message: z.string().optional() }).strict(),
]);

const ChannelRequestSchema = z.discriminatedUnion("method", [
  z.object({ method: z.literal("fs"), params: z.record(z.string(), z.unknown()) }).strict(),
  z
    .object({
      method: z.literal("http"),
      params: z.object({ url: z.string(), method: z.string().optional(), headers: z.record(z.string(), z.string()).optional(), body: z.string().optional() }).strict(),
    })
    .strict(),
]);

/**
 * A call's request, as the snippet wrote it (Python can call the channel directly): one the host
 * cannot serve is answered with an error, and the process goes on.
 */
export function parseChannelRequest(text: string): ChannelRequest | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { error: "the request is not JSON" };
  }
  const method = (raw as { method?: unknown } | null)?.method;
  if (method !== "fs" && method !== "http") return { error: `${JSON.stringify(method ?? null).slice(0, 60)} is not a host call (the channel takes fs and http)` };
  const r = ChannelRequestSchema.safeParse(raw);
  if (r.success) return r.data as ChannelRequest;
  const issue = r.error.issues[0]!;
  return { error: `bad request: ${issue.path.join(".") || "(root)"}: ${issue.message}` };
}

/** How SocketLink names a frame it could not read (see protocol/link.ts). */
const FRAME_ERROR = /^(frame length|unknown frame kind)/;
/** How SocketLink says its peer left too much unread (see protocol/link.ts). */
const NOT_READING = /^the peer is not reading/;

export interface PyodideSandboxOptions extends PyodideSandboxPolicy {
  /** What runs in the sandbox: pyodide-process.js (tests give a misbehaving stand-in). */
  program?: McpwScript;
  mounts: string[];
  /** The memory snapshot, sent at start (the sandbox cannot read mcpw's cache). */
  snapshot: Buffer;
}

export interface PyodideProcessExit {
  /** Why mcpw ended it (a malformed message), or null when it ended by itself. */
  violation: string | null;
  /** The end of its stderr (sandbox-init's and Node's last words). */
  stderr: string;
}

export class PyodideProcess {
  readonly exited: Promise<PyodideProcessExit>;
  private violation: string | null = null;
  private readonly stderrTail = new Tail(4096);

  private constructor(
    private readonly sandbox: LaunchedPyodideSandbox,
    private readonly link: SocketLink,
    onMessage: (m: WorkerMessage) => void,
    private readonly audit: PyodideSandboxPolicy["audit"],
  ) {
    const { child } = sandbox.launched;
    child.stderr!.on("data", (chunk: Buffer) => {
      this.stderrTail.push(chunk);
      if (process.env.MCPW_DEBUG_PYODIDE) process.stderr.write(chunk);
    });
    link.onText((text) => {
      // Nothing more is heard from a process once it broke the protocol.
      if (this.violation !== null) return;
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        return this.end("a frame that is not JSON");
      }
      const m = ProcessMessage.safeParse(raw);
      if (!m.success) return this.end(`a malformed message (${m.error.issues[0]!.path.join(".") || "type"}: ${m.error.issues[0]!.message})`);
      onMessage(m.data as WorkerMessage);
    });
    link.onBinary(() => this.end("a binary frame"));
    // The link closes itself on a frame it cannot read, and when the process leaves more unread than
    // it may (asking, never reading the answers); otherwise its stdout ended with the process.
    link.onClose((reason) => {
      if (FRAME_ERROR.test(reason)) return this.end(`a broken frame (${reason})`);
      if (NOT_READING.test(reason)) return this.end(`requests faster than it read the answers (${reason})`);
      this.kill();
    });
    this.exited = sandbox.launched.process.exited.then(() => {
      sandbox.dispose();
      return { violation: this.violation, stderr: this.stderrTail.toString() };
    });
  }

  /** Starts a process (it then boots Pyodide and says "ready", or "failed"). */
  static async start(options: PyodideSandboxOptions, onMessage: (m: WorkerMessage) => void): Promise<PyodideProcess> {
    if (options.snapshot.length > TO_PROCESS_MAX_BYTES) throw new Error(`the Pyodide snapshot (${options.snapshot.length} bytes) is larger than a process accepts`);
    const sandbox = await launchPyodideSandbox(options.program ?? PYODIDE_PROCESS, options);
    const { child } = sandbox.launched;
    const link = new SocketLink({ input: child.stdout!, output: child.stdin! }, `Python sandbox ${sandbox.id}`, { maxFrameBytes: FROM_PROCESS_MAX_BYTES });
    const proc = new PyodideProcess(sandbox, link, onMessage, options.audit);
    proc.send({ type: "init", mounts: options.mounts });
    link.sendBinary(options.snapshot);
    return proc;
  }

  /** Each isolation layer and its state, in words (as for any sandbox). */
  get isolation(): Record<string, string> {
    return this.sandbox.launched.isolation;
  }

  send(m: PoolMessage): void {
    this.link.sendText(JSON.stringify(m));
  }

  /** Ends the process for breaking the protocol: said on stderr, in its exit, and audited. */
  end(violation: string): void {
    if (this.violation !== null || !this.sandbox.launched.process.running) return;
    this.violation = violation;
    process.stderr.write(`mcpw: a Python sandbox sent ${violation}; it is ended and replaced\n`);
    this.refused(`sent ${violation}; ended and replaced`);
    this.kill();
  }

  /** Audits a refusal on the process's channel (a request the host will not serve, a breach). */
  refused(error: string): void {
    this.audit?.({ event: "snippet.channel", verdict: "deny", sandbox: this.sandbox.id, error });
  }

  /** SIGKILL of the whole sandbox (every process in it). */
  kill(): void {
    this.sandbox.launched.process.kill();
  }
}
