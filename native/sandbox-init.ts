/**
 * sandbox-init: the in-sandbox entry. The launcher runs
 *
 *     bwrap … -- node dist/native/sandbox-init.js [-- <target argv…>]
 *
 * with the spec in MCPW_INIT_SPEC or MCPW_INIT_SPEC_FD (see sandbox-init-spec.ts). It applies the
 * layers in this order, then replaces itself with the target through execve (no process stays):
 *
 *   spec → target (chdir, find the executable) → no_new_privs → landlock → seccomp (TSYNC: every
 *   Node thread) → helpers (e.g. the proxy, under all of the above) → rlimits → report → execve
 *
 * no_new_privs comes before landlock because `landlock_restrict_self` requires it (without
 * CAP_SYS_ADMIN); it is also what lets an unprivileged process install the seccomp filter.
 * rlimits come last because they bind sandbox-init's own Node too (see applyLayers).
 *
 * Each step is one named block; a failure prints `mcpw sandbox-init: <step>: <why>` on stderr and
 * exits 125 (a step of sandbox-init failed), 126 (the target exists but cannot be executed) or 127
 * (the target was not found). Layers that are skipped under `isolation: "best-effort"` are printed
 * as `mcpw sandbox-init: note: …`.
 */
import { spawn, spawnSync } from "node:child_process";
import { accessSync, closeSync, constants, readFileSync, readSync, realpathSync, statSync, writeSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { errnoName, libc, sys } from "./libc.js";
import { hostArch, requireSyscall } from "./syscall-table.js";
import { applyLandlock, type LandlockReport } from "./landlock.js";
import { applyRlimits, type RlimitSetting } from "./rlimits.js";
import { installSeccompFilter, setNoNewPrivs } from "./seccomp.js";
import { seccompProgram } from "./seccomp-filter.js";
import { parseInitSpec, SPEC_ENV, SPEC_FD_ENV, type SandboxInitSpec } from "./sandbox-init-spec.js";

export const EXIT_INIT_FAILED = 125;
export const EXIT_CANNOT_EXECUTE = 126;
export const EXIT_NOT_FOUND = 127;
const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const CLOSE_RANGE_CLOEXEC = 1 << 2;

class StepFailure extends Error {
  constructor(
    readonly step: string,
    message: string,
    readonly exitCode = EXIT_INIT_FAILED,
  ) {
    super(message);
  }
}

/** What sandbox-init enforced, as written to `reportFd`. */
export interface InitReport {
  target: string;
  rlimits: { name: string; soft: string; hard: string }[];
  landlock: LandlockReport | null;
  seccomp: boolean;
  notes: string[];
}

/** Runs `step`; any exception becomes a StepFailure naming it. */
function step<T>(name: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof StepFailure) throw e;
    throw new StepFailure(name, (e as Error).message);
  }
}

/** Reads the spec from the fd or the variable named in sandbox-init-spec.ts. */
export function readSpec(env: NodeJS.ProcessEnv): SandboxInitSpec {
  let json: string;
  const fdText = env[SPEC_FD_ENV];
  if (fdText !== undefined) {
    const fd = Number(fdText);
    if (!Number.isInteger(fd) || fd < 0) throw new Error(`${SPEC_FD_ENV}=${fdText} is not a file descriptor number`);
    json = readFileSync(fd, "utf8");
    closeSync(fd);
  } else if (env[SPEC_ENV] !== undefined) {
    json = env[SPEC_ENV];
  } else {
    throw new Error(`no spec: set ${SPEC_ENV} (JSON) or ${SPEC_FD_ENV} (an fd to read it from)`);
  }
  const parsed = parseInitSpec(json);
  if ("error" in parsed) throw new Error(`invalid spec: ${parsed.error}`);
  return parsed.spec;
}

/** `file` as execvp would find it: a path as given (relative to cwd), else the first executable in PATH. */
export function resolveExecutable(file: string, pathVar: string | undefined, cwd: string): string | null {
  const usable = (p: string): boolean => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (file.includes("/")) {
    const p = isAbsolute(file) ? file : resolve(cwd, file);
    return usable(p) ? p : null;
  }
  for (const dir of (pathVar ?? DEFAULT_PATH).split(delimiter)) {
    const p = join(dir === "" ? cwd : resolve(cwd, dir), file);
    if (usable(p)) return p;
  }
  return null;
}

/** Applies every layer of `spec`; returns the resolved target and what was enforced. */
export function applyLayers(spec: SandboxInitSpec, cliArgv: readonly string[], log: (line: string) => void) {
  const notes: string[] = [];
  const note = (s: string): void => {
    notes.push(s);
    log(`note: ${s}`);
  };
  const bestEffort = spec.isolation === "best-effort";

  const { argv, path } = step("target", () => {
    if (cliArgv.length > 0 && spec.argv) throw new Error("target argv given both after -- and in the spec; give it once");
    const argv = cliArgv.length > 0 ? [...cliArgv] : spec.argv;
    if (!argv) throw new Error("no target: give its argv after -- or as spec.argv");
    if (spec.cwd) process.chdir(spec.cwd);
    const path = resolveExecutable(argv[0]!, spec.env.PATH, process.cwd());
    if (!path) throw new StepFailure("target", `${argv[0]}: not found or not executable (PATH=${spec.env.PATH ?? DEFAULT_PATH})`, EXIT_NOT_FOUND);
    return { argv, path };
  });

  step("no_new_privs", () => setNoNewPrivs());

  const landlock = step("landlock", (): LandlockReport | null => {
    if (!spec.landlock) {
      note("landlock not requested by the spec");
      return null;
    }
    const strict = spec.landlock.mode === "strict" || !bestEffort;
    try {
      const report = applyLandlock(spec.landlock, { strict });
      for (const n of report.notes) note(`landlock: ${n}`);
      log(`landlock: ABI ${report.abi}, ${report.rules.length} rules, enforced=${report.enforced}`);
      return report;
    } catch (e) {
      if (strict) throw e;
      note(`landlock not enforced: ${(e as Error).message}`);
      return null;
    }
  });

  const seccomp = step("seccomp", () => {
    if (!spec.seccomp) {
      note("seccomp disabled by the spec");
      return false;
    }
    try {
      installSeccompFilter(seccompProgram());
      log("seccomp: filter installed on all threads (TSYNC)");
      return true;
    } catch (e) {
      if (!bestEffort) throw e;
      note(`seccomp not enforced: ${(e as Error).message}`);
      return false;
    }
  });

  const helpers = step("helpers", () => spec.helpers.map((h) => startHelper(h)));
  if (helpers.length) log(`helpers: started ${helpers.map((h) => `${h.argv.join(" ")} (pid ${h.pid})`).join(", ")}`);

  // Last, so that as little of sandbox-init's own Node as possible runs under them: its GC can
  // spike past a tight memMb (seen under load at 128 MiB), which would crash it before the target.
  const rlimits = step("rlimits", () => applyRlimits(spec.rlimits));
  log(`rlimits: ${rlimits.map((r) => `${r.name}=${r.soft}/${r.hard}`).join(" ")}`);

  const report: InitReport = { target: path, rlimits: rlimits.map(printable), landlock, seccomp, notes };
  return { argv, path, report };
}

/**
 * Starts a helper detached, and waits (synchronously: sandbox-init is about to execve) until it
 * prints "ready", so the target never races it.
 */
function startHelper(h: SandboxInitSpec["helpers"][number]): { argv: string[]; pid: number } {
  const child = spawn(h.argv[0]!, h.argv.slice(1), { env: h.env, stdio: ["ignore", "pipe", "inherit"], detached: true });
  const fd = (child.stdout as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (child.pid === undefined || fd === undefined) {
    // spawn reports why only asynchronously; run it once more synchronously to say why.
    const why = spawnSync(h.argv[0]!, ["--version"], { env: h.env, stdio: "ignore" }).error?.message ?? "unknown error";
    throw new Error(`could not start ${h.argv.join(" ")}: ${why} (with landlock, it must be inside a readExec tree)`);
  }
  const deadline = Date.now() + h.readyTimeoutMs;
  const buf = Buffer.alloc(64);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let seen = "";
  while (!seen.includes("ready")) {
    if (Date.now() > deadline) throw new Error(`${h.argv.join(" ")} did not say ready within ${h.readyTimeoutMs} ms`);
    try {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) throw new Error(`${h.argv.join(" ")} exited before it was ready`);
      seen += buf.subarray(0, n).toString();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
      Atomics.wait(pause, 0, 0, 5);
    }
  }
  child.unref();
  return { argv: h.argv, pid: child.pid };
}

function printable(r: RlimitSetting) {
  return { name: r.name, soft: String(r.soft), hard: String(r.hard) };
}

/**
 * Makes this process look like a fresh one to the target, then execve. Node ignores SIGPIPE and
 * SIGXFSZ and marks fds 0-2 close-on-exec; ignored signals and the signal mask survive execve, so
 * both are reset here, and close-on-exec is cleared on 0-2 and `keepFds`. Returns only on failure.
 */
function execTarget(path: string, argv: readonly string[], env: Record<string, string>, keepFds: readonly number[]): never {
  const c = libc();
  c.unblockAllSignals();
  for (let sig = 1; sig < 32; sig++) if (sig !== 9 && sig !== 19) c.resetSignal(sig);
  // Nothing else inherited (bubblewrap's status fd, the spec pipe) may reach the target: mark every
  // fd from 3 up close-on-exec in one call (close_range, Linux >= 5.11; else one by one), then
  // clear it on 0-2 and keepFds.
  if (sys(requireSyscall(hostArch()!, "close_range"), 3, 0xffffffff, CLOSE_RANGE_CLOEXEC).ret !== 0) {
    for (let fd = 3; fd < 4096; fd++) c.fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  for (const fd of [0, 1, 2, ...keepFds]) c.fcntl(fd, F_SETFD, 0);
  const envp = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  c.execve(path, argv, envp);
  const code = errnoName(c.errno());
  const hint = code === "EACCES" ? " (with landlock, the file must be inside a readExec tree)" : "";
  throw new StepFailure("execve", `${path}: ${code}${hint}`, code === "ENOENT" ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE);
}

/** The whole of sandbox-init. Returns only an exit code on failure (on success the process is the target). */
export function sandboxInit(cliArgs: readonly string[], env: NodeJS.ProcessEnv): number {
  const stderr = (line: string): void => void writeSync(2, `mcpw sandbox-init: ${line}\n`);
  try {
    const argvAfterDashes = cliArgs[0] === "--" ? cliArgs.slice(1) : cliArgs;
    const spec = step("spec", () => readSpec(env));
    const log = (line: string): void => (spec.verbose || line.startsWith("note: ") ? stderr(line) : undefined);
    const { argv, path, report } = applyLayers(spec, argvAfterDashes, log);
    step("report", () => {
      if (spec.reportFd === undefined) return;
      writeSync(spec.reportFd, `${JSON.stringify(report)}\n`);
      closeSync(spec.reportFd);
    });
    return step("execve", () => execTarget(path, argv, spec.env, spec.keepFds));
  } catch (e) {
    const failure = e instanceof StepFailure ? e : new StepFailure("sandbox-init", (e as Error).message);
    stderr(`${failure.step}: ${failure.message}`);
    return failure.exitCode;
  }
}

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) process.exit(sandboxInit(process.argv.slice(2), process.env));
