import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { McpwError } from "../protocol/errors.js";
import type { Policy } from "../protocol/policy.js";
import type { AuditInput } from "../server/audit-log.js";
import { bubblewrapStatus } from "./bubblewrap.js";
import { bwrapArgs, SANDBOX_PATHS, sandboxView, type SandboxLayout } from "./bwrap-args.js";
import { resolveCommand, type ResolvedCommand } from "./command-resolution.js";
import { findExecutableOrNull } from "../native/find-executable.js";
import type { InterceptorConfig } from "./interceptor-config.js";
import { SandboxProcess } from "./sandbox-process.js";
import { Supervisor, type CallOp } from "./supervisor.js";

export interface LaunchRequest {
  id: string;
  command: string[];
  policy: Policy;
  /** Host directory bound at /mount; must exist and be a directory. */
  workspace: string;
  /** Where relative commands and scripts are resolved on the host. */
  cwd: string;
  /** The host environment, read only for the names policy.env.pass lists. */
  hostEnv: NodeJS.ProcessEnv;
  stdio: StdioOptions;
  /** Paths never exposed automatically (home, state dir). */
  protect?: string[];
  /** Where the sandbox's privileged requests go (the server's router) and where refusals are audited. */
  channel: { callOp: CallOp; audit: (entry: AuditInput) => void };
}

export interface LaunchedSandbox {
  child: ChildProcess;
  process: SandboxProcess;
  resolved: ResolvedCommand;
  /** Each isolation layer and its state, in words. */
  isolation: Record<string, string>;
  /** Ends the supervisor channel and removes the per-sandbox run directory. */
  dispose(): void;
}

/** What runs inside sandboxes (Node preload, Python sitecustomize), built into dist/sandbox. */
export const SANDBOX_LIB_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "sandbox");

/** bubblewrap reports the sandbox's pid (and later its exit) as JSON on this fd. */
const STATUS_FD = 3;

function withStatusFd(stdio: StdioOptions): StdioOptions {
  const base = typeof stdio === "string" ? [stdio, stdio, stdio] : [...stdio];
  while (base.length < STATUS_FD) base.push("ignore");
  base[STATUS_FD] = "pipe";
  return base;
}

/**
 * bubblewrap's --die-with-parent ties the sandbox to the bwrap process, not bwrap to us: if mcpw is
 * killed outright, bwrap and the sandbox would live on. setpriv (util-linux) sets PR_SET_PDEATHSIG
 * on itself and then execs bwrap in the same process, so the kernel kills bwrap when we die.
 */
function dieWithUs(): string[] {
  const setpriv = findExecutableOrNull("setpriv", ["/usr/bin", "/bin", "/usr/sbin"]);
  return setpriv ? [setpriv, "--pdeathsig", "KILL"] : [];
}

/** Checks a workspace path before anything is started. */
export function checkWorkspace(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new McpwError("not_found", `workspace ${path} does not exist`, { field: "workspace" });
  }
  if (!st.isDirectory()) throw new McpwError("bad_params", `workspace ${path} is not a directory`, { field: "workspace" });
}

const LOOPBACK_PATTERN = /^(localhost|127(\.\d{1,3}){3}|\[::1\]|::1)(:\d+)?$/i;

/**
 * The environment inside the sandbox: a fixed base, the interceptors' hooks, the names
 * policy.env.pass lists, then policy.env.set.
 */
export function sandboxEnv(id: string, policy: Policy, hostEnv: NodeJS.ProcessEnv, hooks: { libDir: string; channelDir: string; home: string }): Record<string, string> {
  const env: Record<string, string> = {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    HOME: hooks.home,
    TMPDIR: "/tmp",
    LANG: "C.UTF-8",
    MCPW_SANDBOX: id,
    MCPW_CHANNEL_DIR: hooks.channelDir,
    NODE_OPTIONS: `--require ${join(hooks.libDir, "node-preload.cjs")}`,
    PYTHONPATH: join(hooks.libDir, "python"),
  };
  for (const name of policy.env.pass) {
    const v = hostEnv[name];
    if (v !== undefined) env[name] = v;
  }
  return { ...env, ...policy.env.set };
}

/**
 * Starts a command in a new sandbox, with its supervisor channel listening first. Everything that
 * can be wrong with the request (command, workspace, missing isolation under a strict policy) is
 * found before anything is started.
 */
export async function launchSandbox(req: LaunchRequest): Promise<LaunchedSandbox> {
  checkWorkspace(req.workspace);
  const resolved = resolveCommand(req.command, { cwd: req.cwd, env: req.hostEnv, ...(req.protect ? { protect: req.protect } : {}) });
  const bwrap = bubblewrapStatus();
  if (!bwrap.available && req.policy.isolation === "strict") {
    throw new McpwError("policy_denied", `cannot isolate: ${bwrap.problem} (policy isolation is "strict"; "best-effort" would run with interceptors only)`, {
      rule: "isolation",
    });
  }
  if (!existsSync(join(SANDBOX_LIB_DIR, "node-preload.cjs"))) {
    throw new McpwError("internal", `${SANDBOX_LIB_DIR} is missing; run npm run build in the mcpw checkout`);
  }
  const isolated = bwrap.available;
  const runDir = mkdtempSync(join(tmpdir(), "mcpw-run-"));
  let supervisor: Supervisor | null = null;
  const dispose = () => {
    supervisor?.close();
    rmSync(runDir, { recursive: true, force: true });
  };
  try {
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    writeFileSync(join(runDir, "passwd"), `sandbox:x:${uid}:${gid}:mcpw sandbox:${SANDBOX_PATHS.mount}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`);
    writeFileSync(join(runDir, "group"), `sandbox:x:${gid}:\nnogroup:x:65534:\n`);
    const layout: Omit<SandboxLayout, "env"> = {
      workspace: req.workspace,
      readonlyPaths: resolved.readonlyPaths,
      runDir,
      libDir: SANDBOX_LIB_DIR,
      files: { "/etc/passwd": join(runDir, "passwd"), "/etc/group": join(runDir, "group") },
      hostname: `mcpw-${req.id}`,
    };
    const hooks = isolated
      ? { libDir: SANDBOX_PATHS.lib, channelDir: SANDBOX_PATHS.run, home: SANDBOX_PATHS.mount }
      : { libDir: SANDBOX_LIB_DIR, channelDir: runDir, home: req.workspace };
    const env = sandboxEnv(req.id, req.policy, req.hostEnv, hooks);
    const config: InterceptorConfig = {
      sandbox: req.id,
      isolated,
      workspace: req.workspace,
      channelDir: hooks.channelDir,
      view: isolated ? sandboxView({ ...layout, env }) : [req.workspace, "/usr", "/tmp", "/proc", "/dev", SANDBOX_LIB_DIR, runDir, ...resolved.readonlyPaths],
      readonly: req.policy.filesystem.readonly,
      writable: req.policy.filesystem.writable,
      exec: { allow: req.policy.exec.allow, viaBridge: req.policy.exec.viaBridge },
      hostLoopback: req.policy.network.allowedDomains.filter((d) => LOOPBACK_PATTERN.test(d)),
      nodeImport: env.NODE_OPTIONS!,
      proxyPort: null,
    };
    supervisor = await Supervisor.start({ sandboxId: req.id, runDir, policy: req.policy, interceptorConfig: config, ...req.channel });

    const isolation: Record<string, string> = {};
    let child: ChildProcess;
    let proc: SandboxProcess;
    if (isolated) {
      const args = bwrapArgs({ ...layout, env }, resolved.argv);
      const [exe, ...rest] = [...dieWithUs(), bwrap.path!, "--json-status-fd", String(STATUS_FD), ...args];
      child = spawn(exe!, rest, { env: {}, stdio: withStatusFd(req.stdio) });
      proc = new SandboxProcess(child, child.stdio[STATUS_FD] as Readable);
      isolation.bubblewrap = `on (${bwrap.version ?? "unknown version"})`;
      isolation.namespaces = "user, mount, pid, ipc, uts, cgroup, net (loopback only)";
      isolation.filesystem = `new root: /usr and runtime read-only, workspace at ${SANDBOX_PATHS.mount}`;
    } else {
      // best-effort, and said loudly by the caller: no namespaces, the interceptors are all there is.
      const [exe, ...rest] = [...dieWithUs(), ...resolved.argv];
      child = spawn(exe!, rest, { env, cwd: req.workspace, stdio: req.stdio, detached: true });
      proc = new SandboxProcess(child, null);
      isolation.bubblewrap = `MISSING: ${bwrap.problem}`;
      isolation.namespaces = "none (best-effort: the process runs with the host's view of files and network)";
    }
    isolation.interceptors = `node preload and python sitecustomize; channel ${SANDBOX_PATHS.run}/channel.sock`;
    return { child, process: proc, resolved, isolation, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}
