import { randomBytes } from "node:crypto";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { McpwError, parseOrThrow } from "../../protocol/errors.js";
import type { Origin } from "../../protocol/ops.js";
import type { Policy } from "../../protocol/policy.js";
import type { AuditInput } from "../../server/audit-log.js";
import { CapsuleStore } from "./capsule.js";
import { bundleWithDependencies } from "./js-bundle.js";
import { narrowPolicy, snippetPolicy } from "./narrow-policy.js";
import { PyodidePool } from "./pyodide-pool.js";
import type { ChannelRequest } from "./pyodide-protocol.js";
import { pyodideVersion } from "./pyodide-snapshot.js";
import { QuickJsWorkers } from "./quickjs-workers.js";
import { RunJsParams, RunPyParams, type SnippetResult } from "./schemas.js";
import { SnippetHost, type FetchRequest } from "./snippet-host.js";
import { type CallOp, fixedWorkspace, type FsOpInput, MOUNT, VirtualFs, type Workspace } from "./virtual-fs.js";

/**
 * `run_js` and `run_py` behind one object: parses the call (field-named errors), narrows the
 * configured policy by the call's, seals the code, runtime and effective policy into a signed
 * capsule and verifies it, builds the snippet's virtual file system and bridge-backed network,
 * and runs it on a warm QuickJS runtime or Pyodide worker.
 */

export const DEFAULT_NPM_REGISTRY = "https://registry.npmjs.org";

export interface SnippetServiceOptions {
  /** The configured policy; calls may only narrow it. */
  policy: Policy;
  /** Privileged operations (http.request, fs.* outside /mount) go here: the server's router. */
  callOp: CallOp;
  /** Host directory seen as /mount; null gives every call a fresh, empty one (removed afterwards). */
  workspace: string | null;
  /** Capsules (under the state dir: they are signed with its key). */
  cacheDir: string;
  /** Where the Pyodide memory snapshot is kept (default: cacheDir); shared between state dirs. */
  snapshotDir?: string;
  /** Where the capsule signing key lives (the state dir). */
  keyDir: string;
  jsPoolSize?: number;
  pyPoolSize?: number;
  /** Replace a Pyodide worker after this many snippets (1: a new interpreter for every call). */
  pyRecycleAfter?: number;
  /** How long an interrupted Python snippet may take to stop before its worker is terminated (default 1000 ms). */
  pyGraceMs?: number;
  /** npm registry for npm.dependencies (reached through the bridge); default https://registry.npmjs.org. */
  npmRegistry?: string;
  /** Default PEP 503 index for pip.requirements. */
  pipIndexUrl?: string;
  /** Start Pyodide workers at once (default) or on the first run_py. */
  eagerPython?: boolean;
  /**
   * One audit line per snippet run (event "snippet.run"); its network and file operations are
   * audited by the bridge, what the snippet file system refuses itself by it ("op", by "snippet
   * policy"), what the Pyodide pool refuses on a process's channel by the pool ("snippet.channel"),
   * and anything a Python sandbox asks of its own channel socket (only an escaped snippet would)
   * by that sandbox's supervisor.
   */
  audit?: (entry: AuditInput) => void;
}

export class SnippetService {
  private readonly base: Policy;
  private readonly capsules: CapsuleStore;
  private py: Promise<PyodidePool> | null = null;

  private constructor(
    private readonly options: SnippetServiceOptions,
    private readonly js: QuickJsWorkers,
  ) {
    this.base = snippetPolicy(options.policy);
    this.capsules = new CapsuleStore(options.cacheDir, options.keyDir);
    if (options.eagerPython !== false) void this.python().catch(() => undefined);
  }

  static async create(options: SnippetServiceOptions): Promise<SnippetService> {
    return new SnippetService(options, await QuickJsWorkers.create(options.jsPoolSize ?? 4));
  }

  /** The configured policy as snippets get it (a wall-clock limit and an output cap always apply). */
  get policy(): Policy {
    return this.base;
  }

  /** The Pyodide pool, started on first use. */
  python(): Promise<PyodidePool> {
    this.py ??= PyodidePool.create({
      size: this.options.pyPoolSize ?? 2,
      cacheDir: this.options.snapshotDir ?? this.options.cacheDir,
      mounts: [MOUNT, ...this.base.filesystem.readonly, ...this.base.filesystem.writable],
      isolation: this.base.isolation,
      memMb: this.base.limits.memMb,
      ...(this.options.audit ? { audit: this.options.audit } : {}),
      ...(this.options.pyRecycleAfter ? { recycleAfter: this.options.pyRecycleAfter } : {}),
      ...(this.options.pyGraceMs ? { graceMs: this.options.pyGraceMs } : {}),
    });
    return this.py;
  }

  runJs(input: unknown): Promise<SnippetResult> {
    return this.audited("run_js", () => this.executeJs(input));
  }

  runPy(input: unknown): Promise<SnippetResult> {
    return this.audited("run_py", () => this.executePy(input));
  }

  private async audited(tool: string, run: () => Promise<SnippetResult>): Promise<SnippetResult> {
    const started = performance.now();
    try {
      const r = await run();
      this.options.audit?.({
        event: "snippet.run",
        verdict: "info",
        tool,
        capsule: r.capsule,
        exitCode: r.exitCode,
        ...(r.reason ? { reason: r.reason } : {}),
        durationMs: Math.round(r.durationMs),
      });
      return r;
    } catch (err) {
      const e = err as { code?: string; message?: string; field?: string; rule?: string };
      this.options.audit?.({
        event: "snippet.run",
        verdict: e.code === "policy_denied" ? "deny" : "error",
        tool,
        code: e.code ?? "internal",
        error: e.message ?? String(err),
        ...(e.field ? { field: e.field } : {}),
        ...(e.rule ? { rule: e.rule } : {}),
        durationMs: Math.round(performance.now() - started),
      });
      throw err;
    }
  }

  private async executeJs(input: unknown): Promise<SnippetResult> {
    const params = parseOrThrow(RunJsParams, input ?? {}, "bad_params");
    const policy = narrowPolicy(this.base, params.policy);
    return this.withHost("js", params, policy, async (host) => {
      let code = params.code;
      let dependencies: Record<string, string> = {};
      if (Object.keys(params.npm.dependencies).length > 0) {
        const registry = this.options.npmRegistry ?? DEFAULT_NPM_REGISTRY;
        const fetch = (url: string) => host.fetch({ url, headers: { accept: "application/json" } });
        const bundle = await bundleWithDependencies(params.code, params.npm.dependencies, registry, fetch, this.options.cacheDir);
        code = bundle.code;
        dependencies = bundle.installed;
      }
      const capsule = this.capsules.seal({ runtime: "quickjs-emscripten@0.32", code, policy, dependencies });
      const content = this.capsules.open(capsule);
      return { ...(await this.js.run(content.code, host, content.policy.limits)), capsule };
    });
  }

  private async executePy(input: unknown): Promise<SnippetResult> {
    const params = parseOrThrow(RunPyParams, input ?? {}, "bad_params");
    const policy = narrowPolicy(this.base, params.policy);
    const dependencies = Object.fromEntries([...params.pip.requirements.map((r) => [r, "pip"]), ...params.pip.wheelUrls.map((u) => [u, "wheel"])]);
    const capsule = this.capsules.seal({ runtime: `pyodide@${pyodideVersion()}`, code: params.code, policy, dependencies });
    const pool = await this.python();
    const content = this.capsules.open(capsule);
    return this.withHost("py", params, content.policy, async (host, vfs) => {
      const started = performance.now();
      const { limits } = content.policy;
      const onCall = async (request: ChannelRequest): Promise<unknown> => {
        // The pool has checked the request's shape (pyodide-sandbox.ts parseChannelRequest).
        if (request.method === "fs") return vfs.call(request.params as FsOpInput, host.info.cwd);
        const p = request.params as Omit<FetchRequest, "body"> & { body?: string };
        const r = await host.fetch({ url: p.url, method: p.method ?? "GET", headers: p.headers ?? {}, ...(p.body ? { body: Buffer.from(p.body, "base64") } : {}) });
        return { ...r, body: r.body.toString("base64") };
      };
      const indexUrl = params.pip.indexUrl ?? this.options.pipIndexUrl;
      const r = await pool.run(
        {
          code: content.code,
          args: params.args,
          env: params.env,
          cwd: host.info.cwd,
          stdin: params.stdin,
          memBytes: limits.memMb * 1024 * 1024,
          stdoutBytes: limits.stdoutBytes,
          pip: { requirements: params.pip.requirements, wheelUrls: params.pip.wheelUrls, indexUrl },
        },
        onCall,
        limits.timeoutMs,
      );
      const result: SnippetResult = { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, durationMs: Math.round((performance.now() - started) * 100) / 100, capsule };
      if (typeof r.value === "string") {
        // The pool checks this too; a value that cannot be read never costs the rest of the answer.
        try {
          result.value = JSON.parse(r.value) as unknown;
        } catch {
          result.stderr += "[mcpw: the value could not be read as JSON; it is left out]\n";
        }
      }
      if (r.reason) {
        result.reason = r.reason;
        if (r.reason === "memory" && !/limits\.memMb/.test(r.stderr)) result.stderr += `[mcpw: out of memory (limits.memMb=${limits.memMb})]\n`;
      }
      return result;
    });
  }

  private async withHost(
    kind: "js" | "py",
    params: { args: string[]; env: Record<string, string>; cwd: string; stdin: string },
    policy: Policy,
    run: (host: SnippetHost, vfs: VirtualFs) => Promise<SnippetResult>,
  ): Promise<SnippetResult> {
    const origin: Origin = { kind: "sandbox", id: `${kind}-${randomBytes(4).toString("hex")}` };
    let fresh: string | null = null;
    const workspace: Workspace =
      this.options.workspace !== null
        ? fixedWorkspace(this.options.workspace)
        : { existing: () => fresh, create: () => (fresh ??= realpathSync(mkdtempSync(join(tmpdir(), "mcpw-snippet-")))) };
    try {
      const vfs = new VirtualFs(workspace, policy.filesystem, this.options.callOp, origin, this.options.audit);
      const cwd = await checkCwd(params.cwd, vfs);
      const host = new SnippetHost(
        { args: params.args, env: params.env, cwd, stdin: params.stdin },
        vfs,
        this.options.callOp,
        origin,
        policy.network,
        performance.now() + policy.limits.timeoutMs,
      );
      return await run(host, vfs);
    } finally {
      if (fresh) rmSync(fresh, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {
    await this.js.close();
    if (this.py) await (await this.py.catch(() => null))?.close();
  }
}

/**
 * A call's cwd, normalised: /mount or a directory below it, or one inside the call's policy paths
 * (`..` is resolved first, so `/mount/../etc` is `/etc` and refused). Anything else is bad_params
 * naming `cwd`, before anything runs.
 */
async function checkCwd(cwd: string, vfs: VirtualFs): Promise<string> {
  const path = posix.normalize(cwd).replace(/(.)\/+$/, "$1");
  if (!vfs.serves(path)) throw new McpwError("bad_params", `cwd: ${path} is neither /mount (or below it) nor inside the policy's filesystem paths`, { field: "cwd" });
  if (path === MOUNT) return path; // always there (an empty directory until the first write)
  let type: string;
  try {
    type = ((await vfs.call({ op: "fs.stat", path, follow: true })) as { type: string }).type;
  } catch (err) {
    const e = err as { errno?: string; message?: string };
    throw new McpwError("bad_params", `cwd: ${path}: ${e.errno === "ENOENT" ? "no such directory" : (e.message ?? String(err))}`, { field: "cwd" });
  }
  if (type !== "dir") throw new McpwError("bad_params", `cwd: ${path} is not a directory`, { field: "cwd" });
  return path;
}
