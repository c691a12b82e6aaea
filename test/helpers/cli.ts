import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";

export const MCPW_BIN = join(process.cwd(), "bin", "mcpw.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `mcpw <args>` to completion. */
export function mcpw(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MCPW_BIN, ...args], { env: { ...process.env, ...opts.env }, cwd: opts.cwd ?? process.cwd(), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`mcpw ${args.join(" ")} did not finish in time; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** Starts a long-running `mcpw <args>` and resolves once stderr matches `ready`. */
export function mcpwDaemon(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; stderr: () => string; match: RegExpMatchArray }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MCPW_BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    const timer = setTimeout(() => reject(new Error(`mcpw ${args.join(" ")} never said ${ready}; stderr: ${stderr}`)), 20_000);
    child.stderr.on("data", (d) => {
      stderr += d;
      const m = stderr.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve({ child, stderr: () => stderr, match: m });
      }
    });
    child.on("exit", (code) => reject(new Error(`mcpw ${args.join(" ")} exited (${code}) before ready; stderr: ${stderr}`)));
  });
}
