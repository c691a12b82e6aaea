import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { MCPW_DIST, MCPW_NODE_MODULES, SANDBOX_LIB_DIR } from "../native/install-paths.js";
import type { SandboxInitSpecInput } from "../native/sandbox-init-spec.js";
import type { Policy } from "../protocol/policy.js";
import type { AuditInput } from "../server/audit-log.js";
import { SANDBOX_PATH, SANDBOX_PATHS, sandboxView } from "./bwrap-args.js";
import type { ResolvedCommand } from "./command-resolution.js";
import { allowedCommands } from "./executables.js";
import { buildInitSpec, isolatedReadOnly, PROXY_PORT } from "./init-spec.js";
import type { InterceptorConfig } from "./interceptor-config.js";
import { prepareSandbox, sandboxInitScript, type PreparedSandbox, type PrepareRequest } from "./sandbox-prepare.js";
import type { SandboxProcess } from "./sandbox-process.js";
import { Supervisor, type CallOp } from "./supervisor.js";

export { checkWorkspace, prepareSandbox, type McpwScript, type PreparedSandbox } from "./sandbox-prepare.js";

/** What starting a sandbox takes: the command and where it runs (PrepareRequest), its policy, and where its privileged requests go. */
export interface LaunchRequest extends Omit<PrepareRequest, "isolation"> {
  policy: Policy;
  /** Where the sandbox's privileged requests go (the server's router) and where refusals are audited. */
  channel: { callOp: CallOp; audit: (entry: AuditInput) => void };
}

export interface LaunchedSandbox {
  child: ChildProcess;
  process: SandboxProcess;
  resolved: ResolvedCommand;
  /** Each isolation layer and its state, in words. */
  isolation: Record<string, string>;
  /**
   * How sandbox-init was started inside, so that a command entering the sandbox later (sandbox
   * exec) gets the same kernel layers and environment: the node binary and sandbox-init script as
   * the sandbox sees them, and the spec without its target and helpers (its env: the program's).
   */
  sandboxInit: { node: string; initScript: string; spec: Omit<SandboxInitSpecInput, "argv" | "env" | "helpers"> & { env: Record<string, string> } };
  /** Ends the supervisor channel and removes the per-sandbox run directory. */
  dispose(): void;
}

export { SANDBOX_LIB_DIR };


const LOOPBACK_PATTERN = /^(localhost|127(\.\d{1,3}){3}|\[::1\]|::1)(:\d+)?$/i;

/**
 * The environment inside the sandbox: a fixed base, the interceptors' hooks, the names
 * policy.env.pass lists, then policy.env.set.
 */
export function sandboxEnv(id: string, policy: Policy, hostEnv: NodeJS.ProcessEnv, hooks: { libDir: string; channelDir: string; home: string }): Record<string, string> {
  const env: Record<string, string> = {
    PATH: SANDBOX_PATH.join(":"),
    HOME: hooks.home,
    PWD: hooks.home,
    TMPDIR: "/tmp",
    LANG: "C.UTF-8",
    MCPW_SANDBOX: id,
    MCPW_CHANNEL_DIR: hooks.channelDir,
    NODE_OPTIONS: `--require ${join(hooks.libDir, "node-preload.cjs")}`,
    PYTHONPATH: join(hooks.libDir, "python"),
    PYTHONDONTWRITEBYTECODE: "1",
  };
  for (const name of policy.env.pass) {
    const v = hostEnv[name];
    if (v !== undefined) env[name] = v;
  }
  return { ...env, ...policy.env.set };
}

/** What the second half needs: the policy, and where privileged requests go. */
export interface ConfigureRequest {
  policy: Policy;
  /** The host environment, read only for the names policy.env.pass lists. */
  hostEnv: NodeJS.ProcessEnv;
  channel: LaunchRequest["channel"];
  /** The command as given, before resolution: the name it was started by counts for exec.allow. */
  command?: PrepareRequest["command"];
  /** Internal, for bench/kernel-layers.bench.ts only (see InitSpecInput.kernelLayers). */
  kernelLayers?: boolean;
}

/**
 * The second half of starting a sandbox: the policy becomes the interceptors' config, the
 * supervisor starts listening on the channel, and sandbox-init receives its spec (the program's
 * environment, landlock trees, limits, helpers) and becomes the program.
 */
export async function configureSandbox(p: PreparedSandbox, req: ConfigureRequest): Promise<LaunchedSandbox> {
  const { policy } = req;
  const env = sandboxEnv(p.id, policy, req.hostEnv, p.inside);
  const config: InterceptorConfig = {
    sandbox: p.id,
    isolated: p.isolated,
    workspace: p.workspace,
    channelDir: p.inside.channelDir,
    view: p.isolated ? sandboxView(p.layout) : [p.workspace, "/usr", "/tmp", "/proc", "/dev", MCPW_DIST, MCPW_NODE_MODULES, p.runDir, ...p.runtime],
    readonly: policy.filesystem.readonly,
    writable: policy.filesystem.writable,
    exec: { allow: allowedCommands({ allow: policy.exec.allow, target: p.resolved.argv[0]!, invokedAs: Array.isArray(req.command) ? req.command[0] : undefined }), viaBridge: policy.exec.viaBridge },
    hostLoopback: policy.network.allowedDomains.filter((d) => LOOPBACK_PATTERN.test(d)),
    nodeImport: env.NODE_OPTIONS!,
    proxyPort: policy.network.allowedDomains.length > 0 ? PROXY_PORT : null,
  };
  const supervisor = await Supervisor.start({
    sandboxId: p.id,
    runDir: p.runDir,
    policy,
    interceptorConfig: config,
    processes: { namespaceInit: p.process.namespaceInit, rootPid: p.child.pid, isolated: p.isolated },
    access: p.runDirAccess,
    ...req.channel,
  });
  const spec = buildInitSpec({
    policy,
    argv: p.resolved.argv,
    env,
    node: p.node,
    ...(req.kernelLayers === false ? { kernelLayers: false } : {}),
    paths: {
      workspace: p.inside.workspace,
      runDir: p.inside.channelDir,
      dist: p.inside.dist,
      readExec: p.isolated ? [...p.runtime, SANDBOX_PATHS.lib] : [...p.runtime, MCPW_DIST, MCPW_NODE_MODULES],
      readOnly: p.isolated ? isolatedReadOnly(p.files) : ["/etc"],
      listRoot: p.isolated,
    },
  });
  p.specPipe.end(JSON.stringify(spec));
  const { argv: _argv, helpers: _helpers, env: programEnv, ...layers } = spec;
  // sandbox-init refuses to start a strict sandbox without these; best-effort ones get a note on stderr.
  const applied = policy.isolation === "strict" ? "applied by sandbox-init" : "applied by sandbox-init where the kernel has it (best-effort)";
  const isolation = {
    ...p.isolation,
    seccomp: `${applied}: EPERM for dangerous syscalls`,
    landlock: `${applied}: writes only under the workspace, /tmp and /dev`,
    limits: `memMb=${policy.limits.memMb} maxProcs=${policy.limits.maxProcs} maxFileMb=${policy.limits.maxFileMb} openFiles=${policy.limits.openFiles}`,
    interceptors: `node preload and python sitecustomize; channel ${SANDBOX_PATHS.run}/channel.sock`,
  };
  return {
    child: p.child,
    process: p.process,
    resolved: p.resolved,
    isolation,
    sandboxInit: { node: p.node, initScript: sandboxInitScript(p.inside.dist), spec: { ...layers, env: programEnv ?? env } },
    dispose() {
      supervisor.close();
      p.dispose();
    },
  };
}

/** Both halves, for callers that have the policy at hand (the server's sandbox registry). */
export async function launchSandbox(req: LaunchRequest): Promise<LaunchedSandbox> {
  const prepared = prepareSandbox({ ...req, isolation: req.policy.isolation });
  try {
    return await configureSandbox(prepared, req);
  } catch (e) {
    prepared.abort();
    throw e;
  }
}
