import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, unlinkSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { McpwError } from "../protocol/mcpw-error.js";
import { defaultStateDir } from "../server/state-dir.js";
import { bubblewrapStatus } from "../wrapper/bubblewrap.js";
import { NOT_WALKED } from "../wrapper/command-resolution.js";
import { prepareSandbox, type PreparedSandbox } from "../wrapper/sandbox-prepare.js";
import { markWorkspaceRoot, WORKSPACES_MARK } from "../wrapper/workspace-mark.js";
import { parseCommandArgs, str, type CommandSpec, type ParsedArgs } from "./command.js";

/**
 * The part of `mcpw run` that starts the sandbox, with no schema library in it: bin/mcpw.js loads
 * this small bundle first and spawns the sandbox (which then waits for its spec) while the main
 * CLI loads; `mcpw run` picks the started sandbox up, or starts one itself if this did not.
 */

/** The options of `mcpw run` (its help, and the parse both halves share). */
export const RUN_OPTIONS: CommandSpec["options"] = {
  policy: { type: "string", help: "<file> JSON policy (default: {}, the tightest)" },
  mount: { type: "string", help: "<dir> host directory to bind at /mount (default ./mount/<sandbox-id>/)" },
  ro: { type: "string", multiple: true, help: "<path> expose a host path read-only, at the same path inside" },
  rw: { type: "string", multiple: true, help: "<path> expose a host path read-write, at the same path inside" },
  "allow-net": { type: "string", multiple: true, help: "<host> allow connections to host (example.com, *.example.com, host:port)" },
  "pass-env": { type: "string", multiple: true, help: "<name> pass this host environment variable in (none are by default)" },
  "set-env": { type: "string", multiple: true, help: "<name=value> set a variable inside the sandbox" },
  env: { type: "string", help: "<env> environment name of the embedded bridge (env MCPW_ENV; default dev)" },
  isolation: { type: "string", help: "<mode> strict (refuse without bubblewrap) or best-effort" },
  audit: { type: "string", help: "<file> audit log (default <state-dir>/run-audit.jsonl)" },
  quiet: { type: "boolean", short: "q", help: "no start-up line on stderr" },
};

/** A sandbox whose first half has started. */
export interface RunStart {
  id: string;
  workspace: string;
  /** The workspace was made for this run (so it is removed when the run leaves it empty). */
  madeWorkspace: boolean;
  /** The highest directory made to hold it (./mount), if this run made one. */
  madeParent: string | null;
  prepared: PreparedSandbox;
  /** The command line it was started for. */
  argv: string[];
  /** Its stdout is a pipe mcpw counts (policy.limits.stdoutBytes), not the caller's own stdout. */
  countsStdout: boolean;
}

/**
 * The sandbox's stdio. stdin and stdout are the caller's own (MCP stdio passes through untouched),
 * except that stdout is piped when policy.limits.stdoutBytes asks mcpw to count it. stderr is
 * always piped: mcpw relays it and keeps its tail, where the error a limit caused is found
 * ("Too many open files", "MemoryError") to say which limit ended the program.
 */
export function runStdio(countsStdout: boolean): ["inherit", "inherit" | "pipe", "pipe"] {
  return ["inherit", countsStdout ? "pipe" : "inherit", "pipe"];
}

/**
 * Whether the policy file asks for stdout to be counted, read without the schema (the fast start
 * loads none). Anything unexpected is null: the fast start steps aside and `mcpw run` decides.
 */
export function policyCountsStdout(file: string | undefined): boolean | null {
  if (file === undefined) return false;
  try {
    const limits = (JSON.parse(readFileSync(file, "utf8")) as { limits?: { stdoutBytes?: unknown } }).limits;
    const n = limits?.stdoutBytes ?? 0;
    return typeof n === "number" ? n > 0 : null;
  } catch {
    return null;
  }
}

/** ./mount/<id>/ beside the caller, or under the state dir when the cwd is not writable. */
export function defaultWorkspace(cwd: string, stateDir: string, id: string): { dir: string; madeParent: string | null } {
  // Not inside node_modules, .git, site-packages: exposure() does not walk those, so a mark there
  // would not be seen.
  const inUnwalked = cwd.split(sep).some((part) => NOT_WALKED.has(part));
  for (const dir of [...(inUnwalked ? [] : [join(cwd, "mount", id)]), join(stateDir, "workspaces", id)]) {
    let madeParent: string | null = null;
    try {
      // The parent is searchable (a sandbox may run as another uid); the workspace itself is 0700.
      madeParent = mkdirSync(dirname(dir), { recursive: true, mode: 0o755 }) ?? null;
      mkdirSync(dir, { mode: 0o700 });
      // The folder holding it is marked, so that no sandbox started from another folder sees it
      // (workspace-mark.ts). Marked after the workspace is made: see removeEmpty.
      try {
        markWorkspaceRoot(dirname(dir));
      } catch (e) {
        rmdirSync(dir);
        throw e;
      }
      return { dir, madeParent };
    } catch {
      if (madeParent) removeEmpty(dirname(dir), madeParent);
      // try the next place
    }
  }
  throw new McpwError("io_error", `cannot create a workspace under ${join(cwd, "mount")} or ${join(stateDir, "workspaces")}; pass --mount <dir>`);
}

/**
 * Removes `dir` and its parents up to `top` (included) while they are empty; true if `dir` went.
 * A parent holding nothing but the workspaces mark counts as empty. Should another run have made a
 * workspace in it meanwhile, the mark is put back (that run also marks after making its workspace,
 * so the folder ends up marked whichever goes first).
 */
function removeEmpty(dir: string, top: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    let unmarked = false;
    try {
      if (d !== dir && readdirSync(d).length === 1 && existsSync(join(d, WORKSPACES_MARK))) {
        unlinkSync(join(d, WORKSPACES_MARK));
        unmarked = true;
      }
      rmdirSync(d);
    } catch {
      if (unmarked) {
        try {
          markWorkspaceRoot(d);
        } catch {
          // gone meanwhile
        }
      }
      return d !== dir; // not empty (or gone already): it and everything above it stay
    }
    if (d === top || d === dirname(d)) return true;
  }
}

/**
 * After a run that failed to start, or ended: removes the workspace it made for itself if nothing
 * was left in it (and ./mount too, if this run made it and it is empty now). A workspace given with
 * --mount is never touched.
 */
export function removeMadeWorkspace(start: Pick<RunStart, "workspace" | "madeWorkspace" | "madeParent">): void {
  if (!start.madeWorkspace) return;
  removeEmpty(start.workspace, start.madeParent ?? start.workspace);
}

/** Starts the first half for `args`; throws what is wrong (the workspace it made is removed). */
export function startRunSandbox(args: ParsedArgs, argv: string[], countsStdout: boolean): RunStart {
  const cwd = process.cwd();
  const stateDir = defaultStateDir();
  const id = `sb-${randomBytes(4).toString("hex")}`;
  const mount = str(args.values.mount);
  const made = mount ? null : defaultWorkspace(cwd, stateDir, id);
  const workspace = made ? made.dir : resolve(cwd, mount!);
  const madeParent = made?.madeParent ?? null;
  try {
    const prepared = prepareSandbox({
      id,
      command: args.rest,
      workspace,
      cwd,
      hostEnv: process.env,
      stdio: runStdio(countsStdout),
      protect: [stateDir],
      workspaceRoots: [join(stateDir, "workspaces")],
      // Only the absence of bubblewrap depends on it; the fast start does not run without bubblewrap.
      isolation: str(args.values.isolation) === "best-effort" ? "best-effort" : "strict",
    });
    return { id, workspace, madeWorkspace: !mount, madeParent, prepared, argv, countsStdout };
  } catch (e) {
    removeMadeWorkspace({ workspace, madeWorkspace: !mount, madeParent });
    throw asBadInput(e);
  }
}

/**
 * A workspace or command from the command line that is not there is bad input (exit 2), as a
 * malformed one already is: the command line cannot be run as given.
 */
function asBadInput(e: unknown): unknown {
  if (e instanceof McpwError && e.code === "not_found" && (e.field === "workspace" || e.field === "command")) {
    return new McpwError("bad_params", e.message, { field: e.field });
  }
  return e;
}

/**
 * bin/mcpw.js's fast start: null whenever anything is unusual (no bubblewrap, a bad command line, a
 * missing command) — `mcpw run` then does everything itself and reports what is wrong.
 */
export function fastStart(argv: string[]): RunStart | null {
  try {
    if (!bubblewrapStatus().available) return null;
    const args = parseCommandArgs({ name: "run", summary: "", options: RUN_OPTIONS, rest: true, run: async () => 0 }, argv);
    if (args.rest.length === 0 || args.values.help) return null;
    const countsStdout = policyCountsStdout(str(args.values.policy));
    if (countsStdout === null) return null;
    return startRunSandbox(args, argv, countsStdout);
  } catch {
    return null;
  }
}
