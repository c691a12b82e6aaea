import childProcess, { ChildProcess } from "node:child_process";
import { posix } from "node:path";
import { type InheritedEnv, withInheritedEnv, withInheritedEnvObject } from "./inherited-env.js";
import { spawnError } from "./node-errors.js";

export interface ChildProcessContext {
  allow: string[];
  viaBridge: string[];
  /** Runs a viaBridge program: [node, exec-via-bridge.cjs] then the program and its args. */
  bridgeShim: string[];
  /** Variables every child must keep, so it is intercepted too (NODE_OPTIONS, PYTHONPATH, ...). */
  inheritedEnv: InheritedEnv;
}
function listed(command: string, list: string[]): boolean {
  const base = posix.basename(command);
  return list.some((e) => (e.startsWith("/") ? e === command : e === base));
}

type Verdict = "sandbox" | "bridge" | "denied";

function verdict(file: string, ctx: ChildProcessContext): Verdict {
  if (listed(file, ctx.allow)) return "sandbox";
  if (listed(file, ctx.viaBridge)) return "bridge";
  return "denied";
}

function deniedError(file: string, args: string[]): NodeJS.ErrnoException & { spawnargs: string[] } {
  return spawnError("EACCES", file, args, `"${posix.basename(file)}" is not in policy exec.allow or exec.viaBridge`);
}

/**
 * Programs run only when the policy allows them: inside the sandbox (exec.allow, with the same
 * namespaces and limits) or on the host by the bridge (exec.viaBridge, through a shim that relays
 * output and exit code). Everything else fails as spawn would, with EACCES and the rule named.
 * This keeps a well-behaved program to its policy; it does not bound what code runs in the sandbox
 * (see wrapper/executables.ts): the kernel layers bound what any code can do.
 */
export function installChildProcessInterceptors(ctx: ChildProcessContext): void {
  const proto = ChildProcess.prototype as unknown as { spawn(options: { file: string; args: string[]; envPairs?: string[] }): number };
  const origSpawn = proto.spawn;
  proto.spawn = function (this: ChildProcess, options) {
    const v = verdict(options.file, ctx);
    if (v === "denied") {
      const err = deniedError(options.file, options.args?.slice(1) ?? []);
      process.nextTick(() => {
        this.emit("error", err);
        this.emit("close", -13, null);
      });
      return 0;
    }
    const envPairs = withInheritedEnv(options.envPairs, ctx.inheritedEnv);
    if (v === "sandbox") return origSpawn.call(this, { ...options, envPairs });
    const [shimFile, ...shimArgs] = ctx.bridgeShim;
    return origSpawn.call(this, { ...options, file: shimFile!, args: [shimFile!, ...shimArgs, options.file, ...(options.args?.slice(1) ?? [])], envPairs });
  };

  // The sync forms do not go through ChildProcess.prototype.spawn: their options.env is given the
  // same inherited variables here, before Node turns it into envPairs.
  const cp = childProcess as unknown as Record<string, (...a: unknown[]) => unknown>;
  const guardSync = (name: string, optionsAt: (args: unknown[]) => number, fileOf: (args: unknown[]) => string, rewrite: (args: unknown[], shim: string[]) => unknown[]) => {
    const orig = cp[name]!;
    cp[name] = function (this: unknown, ...args: unknown[]) {
      const file = fileOf(args);
      const v = verdict(file, ctx);
      if (v === "denied") throw deniedError(file, []);
      const at = optionsAt(args);
      const opts = args[at] as { env?: NodeJS.ProcessEnv } | undefined;
      if (opts && typeof opts === "object" && opts.env) {
        args = [...args];
        args[at] = { ...opts, env: withInheritedEnvObject(opts.env, ctx.inheritedEnv) };
      }
      return orig.apply(this, v === "bridge" ? rewrite(args, ctx.bridgeShim) : args);
    };
  };
  const viaShim = (args: unknown[], shim: string[]) => {
    const rest = Array.isArray(args[1]) ? (args[1] as string[]) : [];
    const opts = Array.isArray(args[1]) ? args[2] : args[1];
    return [shim[0], [...shim.slice(1), String(args[0]), ...rest], opts];
  };
  const shell = (args: unknown[]) => {
    const o = (args[1] ?? {}) as { shell?: string | boolean };
    return typeof o.shell === "string" ? o.shell : "/bin/sh";
  };
  const fileOptions = (a: unknown[]) => (Array.isArray(a[1]) ? 2 : 1);
  guardSync("spawnSync", fileOptions, (a) => String(a[0]), viaShim);
  guardSync("execFileSync", fileOptions, (a) => String(a[0]), viaShim);
  guardSync("execSync", () => 1, shell, (a, shim) => [shim[0], [...shim.slice(1), shell(a), "-c", String(a[0])], a[1]]);
}
