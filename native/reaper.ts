/**
 * The reaper: what a best-effort sandbox (no bubblewrap) runs under. mcpw starts
 *
 *     node reaper.cjs -- <sandbox argv…>
 *
 * instead of the sandbox itself. Under bubblewrap the sandbox is a pid namespace, and killing its
 * init ends every process in it. Without one, a program that double-forks and calls setsid() is
 * re-parented to init and is no longer anyone's to find: it outlived the sandbox, and, holding the
 * program's stderr, kept `mcpw run` waiting for the pipe to close. The reaper is a child subreaper
 * (PR_SET_CHILD_SUBREAPER): every process the sandbox leaves orphaned is re-parented to it, so the
 * whole tree stays below it. It
 *  - passes fds 0-4 (stdio, bubblewrap's status fd slot, the spec pipe) to the sandbox as they are,
 *    and never opens process.stdout/stderr (Node would make the shared pipes non-blocking);
 *  - passes SIGTERM, SIGINT, SIGHUP, SIGQUIT and SIGUSR2 on to the sandbox's first process;
 *  - reaps the orphans it adopts as they exit (only those: the first process is Node's to reap);
 *  - when the first process exits, kills everything still below it (native/process-tree.ts) and
 *    exits the same way (its code, or its signal), so mcpw sees the program's own end.
 * It runs outside the sandbox, as mcpw's uid, under none of the sandbox's limits: it is not a
 * layer of the sandbox, and the sandbox cannot signal it (another uid when mcpw is root; landlock's
 * signal scope otherwise, ABI >= 6). mcpw's own stop (sandbox-process.ts) kills the reaper's tree
 * as well, for a reaper that cannot act.
 */
import { spawn } from "node:child_process";
import { fstatSync, realpathSync, writeSync } from "node:fs";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";
import { libc } from "./libc.js";
import { childrenOf, killTree, stateOf } from "./process-tree.js";
import { RLIMIT } from "./rlimits.js";

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;
const FORWARDED = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR2"] as const;
/** How long the reaper waits for what it killed to be reapable before it exits anyway. */
const REAP_WAIT_MS = 2000;

const say = (line: string): void => void writeSync(2, `mcpw reaper: ${line}\n`);

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** Reaps the adopted children (every child but `own`) that have exited; returns how many are left. */
function reapAdopted(own: number | undefined): number {
  let left = 0;
  for (const pid of childrenOf(process.pid)) {
    if (pid === own) continue;
    if (stateOf(pid)?.state === "Z") libc().waitpid(pid, WNOHANG);
    else left++;
  }
  return left;
}

/** Ends the reaper as the sandbox's first process ended: its exit code, or the same signal. */
function exitLike(code: number | null, signal: NodeJS.Signals | null): never {
  if (signal) {
    for (const s of FORWARDED) process.removeAllListeners(s);
    try {
      const c = libc();
      c.setrlimit(RLIMIT.CORE, 0n, 0n);
      c.resetSignal(constants.signals[signal]);
    } catch {
      // without koffi: Node's own dispositions (SIGPIPE stays ignored; the fallback below)
    }
    process.kill(process.pid, signal);
    process.exit(128 + (constants.signals[signal] ?? 0));
  }
  process.exit(code ?? 1);
}

export function reaper(argv: string[]): void {
  const target = argv[0] === "--" ? argv.slice(1) : argv;
  if (target.length === 0) {
    say("no command: node reaper.cjs -- <argv…>");
    process.exit(2);
  }
  let subreaper = false;
  try {
    subreaper = libc().prctl(PR_SET_CHILD_SUBREAPER, 1) === 0;
  } catch (e) {
    say(`note: cannot become a subreaper (${(e as Error).message}); processes that leave the sandbox's tree will outlive it`);
  }
  const stdio = [0, 1, 2, 3, 4].map((fd) => (isOpen(fd) ? fd : "ignore"));
  const child = spawn(target[0]!, target.slice(1), { stdio, env: process.env });
  for (const sig of FORWARDED) process.on(sig, () => child.kill(sig));
  if (subreaper) process.on("SIGCHLD", () => reapAdopted(child.pid));
  child.once("error", (e) => {
    say(`cannot start ${target[0]}: ${e.message}`);
    process.exit(127);
  });
  child.once("exit", (code, signal) => {
    killTree(process.pid, { includeRoot: false });
    const until = Date.now() + REAP_WAIT_MS;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (subreaper && reapAdopted(undefined) > 0 && Date.now() < until) Atomics.wait(pause, 0, 0, 10);
    exitLike(code, signal);
  });
}

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) reaper(process.argv.slice(2));
