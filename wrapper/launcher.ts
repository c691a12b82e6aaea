import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import type { Readable } from "node:stream";
import { join } from "node:path";
import { McpwError } from "../protocol/errors.js";
import type { Policy } from "../protocol/policy.js";
import { bubblewrapStatus } from "./bubblewrap.js";
import { bwrapArgs, SANDBOX_PATHS } from "./bwrap-args.js";
import { resolveCommand, type ResolvedCommand } from "./command-resolution.js";
import { findExecutableOrNull } from "./find-executable.js";
import { SandboxProcess } from "./sandbox-process.js";

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
}

export interface LaunchedSandbox {
  child: ChildProcess;
  process: SandboxProcess;
  resolved: ResolvedCommand;
  /** Each isolation layer and its state, in words. */
  isolation: Record<string, string>;
  /** Host directory bound at /run/mcpw. */
  runDir: string;
  /** Removes the per-sandbox run directory. */
  dispose(): void;
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

/** bubblewrap reports the sandbox's pid (and later its exit) as JSON on this fd. */
const STATUS_FD = 3;

function withStatusFd(stdio: StdioOptions): StdioOptions {
  const base = typeof stdio === "string" ? [stdio, stdio, stdio] : [...stdio];
  while (base.length < STATUS_FD) base.push("ignore");
  base[STATUS_FD] = "pipe";
  return base;
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

/** The environment inside the sandbox: a fixed base, the names policy.env.pass lists, policy.env.set. */
export function sandboxEnv(id: string, policy: Policy, hostEnv: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    HOME: SANDBOX_PATHS.mount,
    TMPDIR: "/tmp",
    LANG: "C.UTF-8",
    MCPW_SANDBOX: id,
  };
  for (const name of policy.env.pass) {
    const v = hostEnv[name];
    if (v !== undefined) env[name] = v;
  }
  return { ...env, ...policy.env.set };
}

/**
 * Starts a command in a new sandbox. Everything that can be wrong with the request (command,
 * workspace, missing isolation under a strict policy) is found before anything is started.
 */
export function launchSandbox(req: LaunchRequest): LaunchedSandbox {
  checkWorkspace(req.workspace);
  const resolved = resolveCommand(req.command, { cwd: req.cwd, env: req.hostEnv, ...(req.protect ? { protect: req.protect } : {}) });
  const bwrap = bubblewrapStatus();
  if (!bwrap.available && req.policy.isolation === "strict") {
    throw new McpwError("policy_denied", `cannot isolate: ${bwrap.problem} (policy isolation is "strict"; "best-effort" would run with interceptors only)`, {
      rule: "isolation",
    });
  }
  const env = sandboxEnv(req.id, req.policy, req.hostEnv);
  const runDir = mkdtempSync(join(tmpdir(), "mcpw-run-"));
  const dispose = () => rmSync(runDir, { recursive: true, force: true });
  const isolation: Record<string, string> = {};
  let child: ChildProcess;
  let proc: SandboxProcess;
  try {
    if (bwrap.available) {
      const uid = process.getuid?.() ?? 0;
      const gid = process.getgid?.() ?? 0;
      writeFileSync(join(runDir, "passwd"), `sandbox:x:${uid}:${gid}:mcpw sandbox:${SANDBOX_PATHS.mount}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`);
      writeFileSync(join(runDir, "group"), `sandbox:x:${gid}:\nnogroup:x:65534:\n`);
      const args = bwrapArgs(
        {
          workspace: req.workspace,
          readonlyPaths: resolved.readonlyPaths,
          runDir,
          files: { "/etc/passwd": join(runDir, "passwd"), "/etc/group": join(runDir, "group") },
          hostname: `mcpw-${req.id}`,
          env,
        },
        resolved.argv,
      );
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
  } catch (e) {
    dispose();
    throw e;
  }
  return { child, process: proc, resolved, isolation, runDir, dispose };
}
