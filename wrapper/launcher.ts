import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { McpwError } from "../protocol/errors.js";
import type { Policy } from "../protocol/policy.js";
import type { AuditInput } from "../server/audit-log.js";
import { MCPW_DIST, MCPW_NODE_MODULES, SANDBOX_LIB_DIR } from "../native/install-paths.js";
import { SPEC_FD_ENV } from "../native/sandbox-init-spec.js";
import { bubblewrapStatus } from "./bubblewrap.js";
import { bwrapArgs, SANDBOX_PATHS, sandboxView, type SandboxLayout } from "./bwrap-args.js";
import { installTree, resolveCommand, type ResolvedCommand } from "./command-resolution.js";
import { buildInitSpec, isolatedReadOnly, PROXY_PORT } from "./init-spec.js";
import { findExecutableOrNull } from "../native/find-executable.js";
import type { InterceptorConfig } from "./interceptor-config.js";
import { prepareWorkspace, reachableBy, sandboxIdentity, stagingFor } from "./sandbox-identity.js";
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

export { SANDBOX_LIB_DIR };
/** sandbox-init reads its spec from this inherited fd (a pipe we write and close). */
const SPEC_FD = 4;

/** bubblewrap reports the sandbox's pid (and later its exit) as JSON on this fd. */
const STATUS_FD = 3;

/** The caller's stdio, then bubblewrap's status fd and the spec pipe. */
function withExtraFds(stdio: StdioOptions): Exclude<StdioOptions, string> {
  const base = typeof stdio === "string" ? [stdio, stdio, stdio] : [...stdio];
  while (base.length < SPEC_FD + 1) base.push("ignore");
  base[STATUS_FD] = "pipe";
  base[SPEC_FD] = "pipe";
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
  // As root, the sandbox runs as an unprivileged uid (see sandbox-identity.ts).
  const identity = sandboxIdentity(req.workspace);
  if (identity) {
    prepareWorkspace(req.workspace, identity);
    // Without bubblewrap there is no mount namespace to stage an unreachable workspace in.
    if (!isolated && !reachableBy(req.workspace, identity)) {
      throw new McpwError("bad_params", `workspace ${req.workspace} is inside a directory uid ${identity.uid} cannot enter, and without bubblewrap mcpw cannot bind it elsewhere: use a workspace outside it`, { field: "workspace" });
    }
  }
  const runDir = mkdtempSync(join(tmpdir(), "mcpw-run-"));
  let supervisor: Supervisor | null = null;
  let stageDir: string | null = null;
  const dispose = () => {
    supervisor?.close();
    rmSync(runDir, { recursive: true, force: true });
    if (stageDir) rmSync(stageDir, { recursive: true, force: true });
  };
  try {
    if (identity) chownSync(runDir, identity.uid, identity.gid);
    const uid = identity?.uid ?? process.getuid?.() ?? 0;
    const gid = identity?.gid ?? process.getgid?.() ?? 0;
    writeFileSync(join(runDir, "passwd"), `sandbox:x:${uid}:${gid}:mcpw sandbox:${SANDBOX_PATHS.mount}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`);
    writeFileSync(join(runDir, "group"), `sandbox:x:${gid}:\nnogroup:x:65534:\n`);
    const files = { "/etc/passwd": join(runDir, "passwd"), "/etc/group": join(runDir, "group") };
    const node = realpathSync(process.execPath);
    const runtime = [...resolved.readonlyPaths, installTree(node)];
    const layout: Omit<SandboxLayout, "env"> = {
      workspace: req.workspace,
      readonlyPaths: runtime,
      runDir,
      lib: { dist: MCPW_DIST, nodeModules: MCPW_NODE_MODULES },
      files,
      hostname: `mcpw-${req.id}`,
    };
    const inside = isolated
      ? { libDir: `${SANDBOX_PATHS.lib}/dist/sandbox`, channelDir: SANDBOX_PATHS.run, home: SANDBOX_PATHS.mount, dist: `${SANDBOX_PATHS.lib}/dist`, workspace: SANDBOX_PATHS.mount }
      : { libDir: SANDBOX_LIB_DIR, channelDir: runDir, home: req.workspace, dist: MCPW_DIST, workspace: req.workspace };
    const env = sandboxEnv(req.id, req.policy, req.hostEnv, inside);
    const config: InterceptorConfig = {
      sandbox: req.id,
      isolated,
      workspace: req.workspace,
      channelDir: inside.channelDir,
      view: isolated ? sandboxView({ ...layout, env }) : [req.workspace, "/usr", "/tmp", "/proc", "/dev", MCPW_DIST, MCPW_NODE_MODULES, runDir, ...runtime],
      readonly: req.policy.filesystem.readonly,
      writable: req.policy.filesystem.writable,
      exec: { allow: req.policy.exec.allow, viaBridge: req.policy.exec.viaBridge },
      hostLoopback: req.policy.network.allowedDomains.filter((d) => LOOPBACK_PATTERN.test(d)),
      nodeImport: env.NODE_OPTIONS!,
      proxyPort: req.policy.network.allowedDomains.length > 0 ? PROXY_PORT : null,
    };
    supervisor = await Supervisor.start({ sandboxId: req.id, runDir, policy: req.policy, interceptorConfig: config, ...req.channel });
    const spec = buildInitSpec({
      policy: req.policy,
      argv: resolved.argv,
      env,
      node,
      paths: {
        workspace: inside.workspace,
        runDir: inside.channelDir,
        dist: inside.dist,
        readExec: isolated ? [...runtime, SANDBOX_PATHS.lib] : [...runtime, MCPW_DIST, MCPW_NODE_MODULES],
        readOnly: isolated ? isolatedReadOnly(files) : ["/etc"],
        listRoot: isolated,
      },
    });
    const initArgv = [node, `${inside.dist}/sandbox/sandbox-init.mjs`, "--"];

    const isolation: Record<string, string> = {};
    let child: ChildProcess;
    let proc: SandboxProcess;
    if (isolated) {
      // Bind sources the sandbox uid cannot reach are staged; the uid drop comes before
      // --pdeathsig, which a change of credentials would clear.
      const sources = [...runtime, MCPW_DIST, MCPW_NODE_MODULES].map((path) => ({ path, writable: false }));
      sources.push({ path: req.workspace, writable: true }, { path: runDir, writable: true });
      const staging = identity ? stagingFor(sources, identity) : { prefix: [], replace: new Map<string, string>(), dir: null };
      stageDir = staging.dir;
      const args = bwrapArgs({ ...layout, staged: staging.replace, env: { [SPEC_FD_ENV]: String(SPEC_FD) } }, initArgv);
      const [exe, ...rest] = [...staging.prefix, ...dieWithUs(), bwrap.path!, "--json-status-fd", String(STATUS_FD), ...args];
      child = spawn(exe!, rest, { env: {}, stdio: withExtraFds(req.stdio) });
      proc = new SandboxProcess(child, child.stdio[STATUS_FD] as Readable);
      isolation.bubblewrap = `on (${bwrap.path})`;
      isolation.namespaces = "user, mount, pid, ipc, uts, cgroup, net (loopback only)";
      isolation.uid = identity ? `host uid ${identity.uid} (mcpw runs as root; the sandbox does not)` : `host uid ${process.getuid?.()} (mcpw's own)`;
      isolation.filesystem = `new root: /usr and runtime read-only, workspace at ${SANDBOX_PATHS.mount}`;
    } else {
      // best-effort, and said loudly by the caller: no namespaces; the kernel layers and the interceptors remain.
      const drop = identity ? ["setpriv", "--reuid", String(identity.uid), "--regid", String(identity.gid), "--clear-groups"] : [];
      const [exe, ...rest] = [...drop, ...dieWithUs(), ...initArgv];
      child = spawn(exe!, rest, { env: { [SPEC_FD_ENV]: String(SPEC_FD) }, cwd: req.workspace, stdio: withExtraFds(req.stdio).map((s, i) => (i === STATUS_FD ? "ignore" : s)), detached: true });
      proc = new SandboxProcess(child, null);
      isolation.bubblewrap = `MISSING: ${bwrap.problem}`;
      isolation.namespaces = "none (best-effort: the process runs with the host's view of files and network)";
    }
    (child.stdio[SPEC_FD] as Writable).on("error", () => undefined).end(JSON.stringify(spec));
    // sandbox-init refuses to start a strict sandbox without these; best-effort ones get a note on stderr.
    const applied = req.policy.isolation === "strict" ? "applied by sandbox-init" : "applied by sandbox-init where the kernel has it (best-effort)";
    isolation.seccomp = `${applied}: EPERM for dangerous syscalls`;
    isolation.landlock = `${applied}: writes only under the workspace, /tmp and /dev`;
    isolation.limits = `memMb=${req.policy.limits.memMb} maxProcs=${req.policy.limits.maxProcs} maxFileMb=${req.policy.limits.maxFileMb} openFiles=${req.policy.limits.openFiles}`;
    isolation.interceptors = `node preload and python sitecustomize; channel ${SANDBOX_PATHS.run}/channel.sock`;
    return { child, process: proc, resolved, isolation, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}
