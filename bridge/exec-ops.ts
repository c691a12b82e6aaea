import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import { posix } from "node:path";
import type { Readable } from "node:stream";
import { McpwError } from "../protocol/errors.js";
import type { OpResult } from "../protocol/ops.js";
import { type BridgeExecAllow, type BridgePolicy, describeExecAllow, EXEC_SAFE_ENV, EXEC_SAFE_ENV_VALUE } from "../protocol/policy.js";
import { ioError, ioFailure } from "./io-error.js";
import type { OpOf } from "./op-types.js";
import type { GuardedObject, PathGuard } from "./path-guard.js";

/**
 * The exec operation: runs an allowed program on the bridge's host, never through a shell.
 *
 * - `exec.allow` is the boundary. A bare name is looked up only in `exec.path`; an absolute path is
 *   allowed when its real path is the real path of an allowed program (an allowed absolute path, or
 *   an allowed name found in `exec.path`). The program's real path is what runs (argv[0] stays as
 *   asked), so swapping a symlink afterwards changes nothing.
 * - An allowed program gets any arguments, unless its entry is `{ command, args }`: then every
 *   argument must match one of the patterns in full. Several entries for one program: any may allow.
 * - The environment is `PATH` (from `exec.path`) plus the op's variables, which must be on an
 *   allowlist: EXEC_SAFE_ENV (locale, time zone, terminal; values that cannot name a file) and the
 *   policy's `exec.allowEnv`. Anything else (GIT_PAGER, EDITOR, HOME, LD_PRELOAD, ...) is refused.
 * - cwd must pass the path guard for reading and is entered through the verified /proc handle.
 * - stdout and stderr are each kept up to `maxOutputBytes` (then `truncated`); a program that goes
 *   on writing as much again is killed. The time limit is the smaller of the policy's and the op's;
 *   when it passes, the program's whole process group gets SIGKILL (`timedOut`). Processes left in
 *   the group when the program exits are killed too.
 */

export type BridgeExecPolicy = BridgePolicy["exec"];

/** How long output is still read after the program exits, from descendants that escaped its group. */
const EXIT_GRACE_MS = 200;

/** Collects one output stream up to `cap` bytes; calls `flood` once when the program writes 2 × cap. */
class OutputCap {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private seen = 0;
  truncated = false;

  constructor(stream: Readable, cap: number, flood: () => void) {
    stream.on("data", (chunk: Buffer) => {
      this.seen += chunk.length;
      const room = cap - this.kept;
      if (room > 0) {
        const part = chunk.subarray(0, room);
        this.chunks.push(part);
        this.kept += part.length;
      }
      if (chunk.length > room) this.truncated = true;
      if (this.seen > 2 * cap) flood();
    });
  }

  base64(): string {
    return Buffer.concat(this.chunks).toString("base64");
  }
}

/** An exec.allow entry, with its argument patterns compiled (null: any arguments). */
interface AllowRule {
  entry: BridgeExecAllow;
  command: string;
  args: RegExp[] | null;
}

function compileRule(entry: BridgeExecAllow): AllowRule {
  if (typeof entry === "string") return { entry, command: entry, args: null };
  return { entry, command: entry.command, args: entry.args.map((p) => new RegExp(`^(?:${p})$`)) };
}

function argsAllowed(rule: AllowRule, args: readonly string[]): boolean {
  return rule.args === null || args.every((a) => rule.args!.some((re) => re.test(a)));
}

export class ExecOperations {
  private readonly policy: BridgeExecPolicy;
  private readonly guard: PathGuard;
  private readonly rules: AllowRule[];
  private readonly allowedEnv: ReadonlySet<string>;

  constructor(policy: BridgeExecPolicy, guard: PathGuard) {
    this.policy = policy;
    this.guard = guard;
    this.rules = policy.allow.map(compileRule);
    this.allowedEnv = new Set(policy.allowEnv);
  }

  private notAllowed(command: string): McpwError {
    return new McpwError("policy_denied", `command "${command}" is not in exec.allow`, { rule: "exec.allow" });
  }

  /** The first executable regular file `name` in exec.path, or null. */
  private async lookUp(name: string): Promise<string | null> {
    for (const dir of this.policy.path) {
      const candidate = posix.join(dir, name);
      try {
        const st = await fsp.stat(candidate);
        if (st.isFile() && (st.mode & 0o111) !== 0) return candidate;
      } catch {
        // not in this directory
      }
    }
    return null;
  }

  private async realOrNull(path: string | null): Promise<string | null> {
    if (path === null) return null;
    return fsp.realpath(path).catch(() => null);
  }

  /** The real path of the program `command` names, and the exec.allow entries that name it. */
  async resolveCommand(command: string): Promise<{ program: string; rules: AllowRule[] }> {
    if (!command.startsWith("/")) {
      const rules = this.rules.filter((r) => r.command === command);
      if (rules.length === 0) throw this.notAllowed(command);
      const found = await this.realOrNull(await this.lookUp(command));
      if (!found) throw ioFailure("ENOENT", `command "${command}" is allowed but is not in any exec.path directory (${this.policy.path.join(", ")})`);
      return { program: found, rules };
    }
    // Resolve what is allowed first, so a refused path's existence is never revealed.
    const allowed = await Promise.all(
      this.rules.map(async (r) => this.realOrNull(r.command.startsWith("/") ? r.command : await this.lookUp(r.command))),
    );
    const real = await this.realOrNull(command);
    const rules = real === null ? [] : this.rules.filter((_, i) => allowed[i] === real);
    if (rules.length === 0) throw this.notAllowed(command);
    return { program: real!, rules };
  }

  private checkArgs(command: string, rules: AllowRule[], args: readonly string[]): void {
    if (rules.some((r) => argsAllowed(r, args))) return;
    const bad = args.findIndex((a) => !rules.some((r) => r.args?.some((re) => re.test(a))));
    const what = bad < 0 ? "no single exec.allow entry allows all of these arguments" : `argument ${bad + 1} (${JSON.stringify(args[bad]!.slice(0, 80))}) is not allowed by exec.allow`;
    const entries = rules.map((r) => describeExecAllow(r.entry)).join("; ");
    throw new McpwError("policy_denied", `command "${command}": ${what} (${entries})`, { rule: "exec.allow" });
  }

  private checkEnv(env: Record<string, string>): void {
    for (const [name, value] of Object.entries(env)) {
      if (this.allowedEnv.has(name)) continue;
      if (EXEC_SAFE_ENV.includes(name)) {
        if (EXEC_SAFE_ENV_VALUE.test(value)) continue;
        throw new McpwError("policy_denied", `environment variable ${name} for exec: the value may not name a file (no leading "/", no "..", at most 64 characters)`, {
          rule: "exec.allowEnv",
        });
      }
      const why = name === "PATH" ? "PATH comes from exec.path" : `only ${EXEC_SAFE_ENV.join(", ")} and the names in the bridge policy's exec.allowEnv are passed`;
      throw new McpwError("policy_denied", `environment variable ${name} may not be set for exec: ${why}`, { rule: "exec.allowEnv" });
    }
  }

  async exec(op: OpOf<"exec">): Promise<OpResult<"exec">> {
    const { program, rules } = await this.resolveCommand(op.command);
    this.checkArgs(op.command, rules, op.args);
    this.checkEnv(op.env);
    let cwd: GuardedObject | null = null;
    if (op.cwd !== undefined) {
      cwd = await this.guard.object(op.cwd, "read");
      if (!cwd.stat.isDirectory()) {
        await cwd.close();
        throw ioFailure("ENOTDIR", `cwd ${op.cwd}: ENOTDIR (not a directory)`);
      }
    }
    try {
      return await this.run(program, op, cwd?.proc ?? "/");
    } finally {
      await cwd?.close();
    }
  }

  private run(program: string, op: OpOf<"exec">, cwd: string): Promise<OpResult<"exec">> {
    const timeoutMs = Math.min(this.policy.timeoutMs, op.timeoutMs ?? Infinity);
    const cap = this.policy.maxOutputBytes;
    return new Promise((resolve, reject) => {
      // detached: the program leads its own process group, so the whole group can be killed.
      const child = spawn(program, op.args, {
        argv0: op.command,
        cwd,
        env: { ...op.env, PATH: this.policy.path.join(":") },
        shell: false,
        detached: true,
        stdio: [op.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
        windowsHide: true,
      });
      let timedOut = false;
      const killGroup = (): void => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // the group is already gone
        }
      };
      const stdout = new OutputCap(child.stdout as Readable, cap, killGroup);
      const stderr = new OutputCap(child.stderr as Readable, cap, killGroup);
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, timeoutMs);
      if (child.stdin) {
        child.stdin.on("error", () => undefined); // a program that does not read its input is not an error
        child.stdin.end(Buffer.from(op.stdin ?? "", "base64"));
      }
      child.on("error", (err) => {
        clearTimeout(timer);
        reject(ioError(err, `exec ${op.command}`));
      });
      // Whatever the program left running in its group must not outlive it. A descendant that left
      // the group (setsid) may still hold the pipes: after a short grace they are closed from here,
      // so the op ends when the program does.
      let grace: NodeJS.Timeout | undefined;
      child.on("exit", () => {
        killGroup();
        grace = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
        }, EXIT_GRACE_MS);
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        clearTimeout(grace);
        resolve({
          exitCode: code,
          signal,
          stdout: stdout.base64(),
          stderr: stderr.base64(),
          truncated: stdout.truncated || stderr.truncated,
          timedOut,
        });
      });
    });
  }
}
