import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { existsSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { findExecutableOrNull } from "../native/find-executable.js";
import { MCPW_DIST, MCPW_NODE_MODULES, REAPER_SCRIPT, SANDBOX_LIB_DIR } from "../native/install-paths.js";
import { McpwError } from "../protocol/mcpw-error.js";
import { bubblewrapStatus } from "./bubblewrap.js";
import { bwrapArgs, SANDBOX_PATHS, type SandboxLayout } from "./bwrap-args.js";
import { binTree, exposure, resolveCommand, type ResolveOptions, type ResolvedCommand } from "./command-resolution.js";
import { dropTo, prepareWorkspace, reachableBy, sandboxIdentity, stagingFor, type SandboxIdentity } from "./sandbox-identity.js";
import { grant, makeRunDir, removeRunDir, runDirAccess, type RunDirAccess } from "./run-dir.js";
import { SandboxProcess } from "./sandbox-process.js";

/**
 * The first half of starting a sandbox, which needs no policy: check the command and workspace,
 * lay out the binds, and spawn bubblewrap with sandbox-init inside, which then waits for its spec
 * on fd 4. The second half (launcher.ts) turns the policy into that spec. Splitting them lets
 * `mcpw run` spawn the sandbox before its main code has even loaded (this module loads no schema
 * library), so the sandbox's start-up and mcpw's overlap.
 */
export interface PrepareRequest {
  id: string;
  /** A command, resolved on the host (command-resolution.ts), or one of mcpw's own scripts. */
  command: string[] | McpwScript;
  /** Host directory bound at /mount; must exist and be a directory. */
  workspace: string;
  /** Where relative commands and scripts are resolved on the host. */
  cwd: string;
  /** For finding commands (PATH, HOME); nothing of it reaches the sandbox here. */
  hostEnv: NodeJS.ProcessEnv;
  stdio: StdioOptions;
  /** Paths never exposed automatically (home, state dir). */
  protect?: string[];
  /** Where mcpw keeps workspaces besides `<cwd>/mount`: hidden inside any tree exposed automatically. */
  workspaceRoots?: string[];
  /** The policy's isolation: strict refuses to start without bubblewrap. */
  isolation: "strict" | "best-effort";
}

/**
 * One of mcpw's own scripts, run by mcpw's Node from where the sandbox sees mcpw's dist/ (under
 * /opt/mcpw): nothing is bound for it besides the Node runtime and mcpw itself (a script path given
 * as a command would expose its whole package tree, here the mcpw checkout, at its host path).
 */
export interface McpwScript {
  /** Path under dist/, e.g. "wrapper/snippets/pyodide-process.js". */
  script: string;
  nodeOptions: string[];
  args: string[];
}

/** Paths as the sandbox sees them (they differ without bubblewrap). */
export interface InsidePaths {
  libDir: string;
  channelDir: string;
  home: string;
  dist: string;
  workspace: string;
}

export interface PreparedSandbox {
  id: string;
  workspace: string;
  resolved: ResolvedCommand;
  isolated: boolean;
  identity: SandboxIdentity | null;
  runDir: string;
  /** Who besides mcpw may open the run dir's files and sockets. */
  runDirAccess: RunDirAccess;
  layout: Omit<SandboxLayout, "env">;
  /** Generated files bound read-only: destination → host file. */
  files: Record<string, string>;
  /** Node binary (the same path inside). */
  node: string;
  /** Trees the program needs to read and execute. */
  runtime: string[];
  inside: InsidePaths;
  child: ChildProcess;
  process: SandboxProcess;
  /** Where sandbox-init reads its spec. */
  specPipe: Writable;
  isolation: Record<string, string>;
  /** Kills the waiting sandbox (it has run nothing yet) and removes its directories. */
  abort(): void;
  /** Removes the run and staging directories (after the sandbox has exited). */
  dispose(): void;
}


/** bubblewrap reports the sandbox's pid (and later its exit) as JSON on this fd. */
const STATUS_FD = 3;
/** The bundled sandbox-init under mcpw's dist/ (as the sandbox sees it). */
export const sandboxInitScript = (dist: string): string => `${dist}/sandbox/sandbox-init.cjs`;

/** sandbox-init reads its spec from this inherited fd (a pipe we write and close). */
const SPEC_FD = 4;
const SPEC_FD_ENV = "MCPW_INIT_SPEC_FD";

/** The caller's stdio, then bubblewrap's status fd and the spec pipe. */
function withExtraFds(stdio: StdioOptions, status: boolean): Exclude<StdioOptions, string> {
  const base = typeof stdio === "string" ? [stdio, stdio, stdio] : [...stdio];
  while (base.length < SPEC_FD + 1) base.push("ignore");
  base[STATUS_FD] = status ? "pipe" : "ignore";
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

/**
 * Checks the request and spawns the sandbox, which waits for its spec. Everything that can be wrong
 * with the request (command, workspace, missing isolation under a strict policy) is found before
 * anything is started.
 */
export function prepareSandbox(req: PrepareRequest): PreparedSandbox {
  checkWorkspace(req.workspace);
  const resolveOpts: ResolveOptions = { cwd: req.cwd, env: req.hostEnv, protect: req.protect ?? [], workspaceRoots: req.workspaceRoots ?? [] };
  const bwrap = bubblewrapStatus();
  const isolated = bwrap.available;
  const node = realpathSync(process.execPath);
  const distInside = isolated ? `${SANDBOX_PATHS.lib}/dist` : MCPW_DIST;
  const resolved: ResolvedCommand = Array.isArray(req.command)
    ? resolveCommand(req.command, resolveOpts)
    : { argv: [node, ...req.command.nodeOptions, `${distInside}/${req.command.script}`, ...req.command.args], runtime: "node", readonlyPaths: [], hiddenPaths: [] };
  if (!bwrap.available && req.isolation === "strict") {
    throw new McpwError("policy_denied", `cannot isolate: ${bwrap.problem} (policy isolation is "strict"; "best-effort" would run with interceptors only)`, {
      rule: "isolation",
    });
  }
  if (!existsSync(join(SANDBOX_LIB_DIR, "node-preload.cjs"))) {
    throw new McpwError("internal", `${SANDBOX_LIB_DIR} is missing; run npm run build in the mcpw checkout`);
  }
  // As root, the sandbox runs as an unprivileged uid (see sandbox-identity.ts).
  const identity = sandboxIdentity(req.workspace);
  if (identity) {
    prepareWorkspace(req.workspace, identity);
    // Without bubblewrap there is no mount namespace to stage an unreachable workspace in.
    if (!isolated && !reachableBy(req.workspace, identity)) {
      throw new McpwError("bad_params", `workspace ${req.workspace} is inside a directory uid ${identity.uid} cannot enter, and without bubblewrap mcpw cannot bind it elsewhere: use a workspace outside it`, { field: "workspace" });
    }
  }
  // The run dir stays mcpw's (root's, when root runs it) and is bound read-only: the sandbox
  // reaches the sockets and files in it by name, and cannot change it or their modes (landlock
  // does not cover chmod; a sandbox that owned it made it 0777 for every local user). Only the
  // sandbox can reach it at all: its uid, or as root its own run group (run-dir.ts).
  const access = runDirAccess(identity);
  const runDir = makeRunDir(access);
  let stageDir: string | null = null;
  const removeDirs = () => {
    removeRunDir(runDir);
    if (stageDir) rmSync(stageDir, { recursive: true, force: true });
  };
  try {
    const uid = identity?.uid ?? process.getuid?.() ?? 0;
    const gid = identity?.gid ?? process.getgid?.() ?? 0;
    writeFileSync(join(runDir, "passwd"), `sandbox:x:${uid}:${gid}:mcpw sandbox:${SANDBOX_PATHS.mount}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`, { mode: 0o600 });
    writeFileSync(join(runDir, "group"), `sandbox:x:${gid}:\nnogroup:x:65534:\n`, { mode: 0o600 });
    for (const f of ["passwd", "group"]) grant(join(runDir, f), access.fileMode, access);
    const files = { "/etc/passwd": join(runDir, "passwd"), "/etc/group": join(runDir, "group") };
    const nodeTree = exposure(binTree(node, resolveOpts.env), node, resolveOpts);
    const runtime = [...resolved.readonlyPaths, nodeTree.path];
    const layout: Omit<SandboxLayout, "env"> = {
      workspace: req.workspace,
      readonlyPaths: runtime,
      hiddenPaths: [...new Set([...resolved.hiddenPaths, ...nodeTree.hide])],
      runDir,
      lib: { dist: MCPW_DIST, nodeModules: MCPW_NODE_MODULES },
      files,
      hostname: `mcpw-${req.id}`,
    };
    const inside: InsidePaths = isolated
      ? { libDir: `${distInside}/sandbox`, channelDir: SANDBOX_PATHS.run, home: SANDBOX_PATHS.mount, dist: distInside, workspace: SANDBOX_PATHS.mount }
      : { libDir: SANDBOX_LIB_DIR, channelDir: runDir, home: req.workspace, dist: distInside, workspace: req.workspace };
    const initArgv = [node, sandboxInitScript(inside.dist), "--"];

    const isolation: Record<string, string> = {};
    let child: ChildProcess;
    let proc: SandboxProcess;
    if (isolated) {
      // Bind sources the sandbox uid cannot reach are staged; the uid drop comes before
      // --pdeathsig, which a change of credentials would clear.
      const sources = [...runtime, MCPW_DIST, MCPW_NODE_MODULES].map((path) => ({ path, writable: false }));
      sources.push({ path: req.workspace, writable: true }, { path: runDir, writable: false });
      const staging = identity ? stagingFor(sources, identity) : { prefix: [], replace: new Map<string, string>(), dir: null };
      stageDir = staging.dir;
      const args = bwrapArgs({ ...layout, staged: staging.replace, env: { [SPEC_FD_ENV]: String(SPEC_FD) } }, initArgv);
      const [exe, ...rest] = [...staging.prefix, ...dieWithUs(), bwrap.path!, "--json-status-fd", String(STATUS_FD), ...args];
      // Its own process group: a terminal's ^C (SIGINT to mcpw's group) would otherwise kill the
      // outer bwrap, and with it the sandbox, before mcpw could pass the signal on to the program.
      child = spawn(exe!, rest, { env: {}, stdio: withExtraFds(req.stdio, true), detached: true });
      proc = new SandboxProcess(child, child.stdio[STATUS_FD] as Readable);
      isolation.bubblewrap = `on (${bwrap.path})`;
      isolation.namespaces = "user, mount, pid, ipc, uts, cgroup, net (loopback only)";
      isolation.uid = identity ? `host uid ${identity.uid} (mcpw runs as root; the sandbox does not)` : `host uid ${process.getuid?.()} (mcpw's own)`;
      isolation.filesystem = `new root: /usr and runtime read-only, workspace at ${SANDBOX_PATHS.mount}`;
    } else {
      // best-effort, and said loudly by the caller: no namespaces; the kernel layers and the interceptors remain.
      // With no pid namespace to end, the sandbox runs under the reaper (native/reaper.ts), a
      // subreaper that keeps what the program leaves orphaned (setsid, double fork) in its tree
      // and kills it when the program ends. The reaper stays mcpw's uid; the sandbox drops it.
      const drop = identity ? dropTo(identity) : [];
      const [exe, ...rest] = [...dieWithUs(), node, REAPER_SCRIPT, "--", ...drop, ...dieWithUs(), ...initArgv];
      child = spawn(exe!, rest, { env: { [SPEC_FD_ENV]: String(SPEC_FD) }, cwd: req.workspace, stdio: withExtraFds(req.stdio, false), detached: true });
      proc = new SandboxProcess(child, null);
      isolation.bubblewrap = `MISSING: ${bwrap.problem}`;
      isolation.namespaces = "none (best-effort: the process runs with the host's view of files and network)";
      isolation.processes = "under a subreaper outside the sandbox, which kills what the program leaves behind when it ends";
    }
    const specPipe = (child.stdio[SPEC_FD] as Writable).on("error", () => undefined);
    return {
      id: req.id,
      workspace: req.workspace,
      resolved,
      isolated,
      identity,
      runDir,
      runDirAccess: access,
      layout,
      files,
      node,
      runtime,
      inside,
      child,
      process: proc,
      specPipe,
      isolation,
      abort() {
        proc.kill();
        removeDirs();
      },
      dispose: removeDirs,
    };
  } catch (e) {
    removeDirs();
    throw e;
  }
}
