import type { ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";
import { childrenOf, killTree } from "../native/process-tree.js";

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A running sandbox and how to end it. Under bubblewrap the process we spawned is the outer bwrap;
 * the sandbox itself lives in a pid namespace whose init bwrap reports on its status fd. Killing
 * that init ends every process in the namespace at once, which signalling the outer bwrap does not
 * guarantee: bwrap killed during its own set-up leaves the sandbox running, orphaned.
 */
export class SandboxProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<ProcessExit>;
  /** Host pid of the pid namespace's init, once bubblewrap has reported it (null without bwrap). */
  readonly namespaceInit: Promise<number | null>;
  private exit: ProcessExit | null = null;
  /** Under bubblewrap (which reports the namespace's init on a status fd). */
  private readonly isolated: boolean;

  constructor(child: ChildProcess, statusFd: Readable | null) {
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      child.once("error", () => {
        if (child.pid === undefined) {
          this.exit = { code: null, signal: null };
          resolve(this.exit);
        }
      });
    });
    this.isolated = statusFd !== null;
    this.namespaceInit = statusFd ? readChildPid(statusFd) : Promise.resolve(null);
  }

  get running(): boolean {
    return this.exit === null;
  }

  /**
   * Ends the sandbox: close its stdin (an MCP server's cue to shut down) and give it `graceMs` to
   * exit; then SIGKILL the namespace init (taking every sandboxed process with it), and the outer
   * process last.
   */
  async stop(graceMs: number): Promise<ProcessExit> {
    if (!this.running) return this.exit!;
    this.child.stdin?.end();
    if (graceMs > 0 && (await settlesWithin(this.exited, graceMs))) return this.exit!;
    this.kill();
    return this.exited;
  }

  /**
   * Passes a signal on to the sandboxed program (SIGTERM, SIGINT, SIGHUP sent to mcpw), gives it
   * `graceMs` to exit, then SIGKILLs the whole sandbox. Under bubblewrap the namespace's init is
   * bwrap's own pid 1, which has no handlers and so ignores every catchable signal: the program is
   * its child. Without bubblewrap the child is the reaper (native/reaper.ts), which passes it on.
   */
  async terminate(sig: NodeJS.Signals, graceMs: number): Promise<ProcessExit> {
    if (!this.running) return this.exit!;
    const init = await this.namespaceInit;
    if (!this.running) return this.exit!;
    const targets = init !== null ? childrenOf(init) : this.child.pid !== undefined ? [this.child.pid] : [];
    for (const pid of targets) signal(pid, sig);
    if (targets.length > 0 && (await settlesWithin(this.exited, graceMs))) return this.exit!;
    this.kill();
    return this.exited;
  }

  /** Immediate SIGKILL of the whole sandbox. */
  kill(): void {
    if (!this.running) return;
    void this.namespaceInit.then((pid) => {
      if (pid !== null && this.running) signal(pid, "SIGKILL");
      if (this.running) this.child.kill("SIGKILL");
    });
    // Without a namespace (best-effort mode) the sandbox is the reaper's tree (native/reaper.ts:
    // what the program orphaned is re-parented to it): all of it, stopped before it is killed so
    // nothing forks away, then the process group. (Under bubblewrap the group is only the outer
    // bwrap, which must outlive the init's SIGKILL above: killed first, during its set-up, it
    // could leave the sandbox orphaned.)
    if (!this.isolated && this.child.pid !== undefined) {
      killTree(this.child.pid, { includeRoot: true });
      signal(-this.child.pid, "SIGKILL");
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Reads bubblewrap's first JSON status document: {"child-pid": N, ...}. */
function readChildPid(fd: Readable): Promise<number | null> {
  return new Promise((resolve) => {
    let buf = "";
    const done = (pid: number | null) => {
      fd.removeAllListeners("data");
      fd.resume(); // keep draining later status documents
      resolve(pid);
    };
    fd.setEncoding("utf8");
    fd.on("data", (chunk: string) => {
      buf += chunk;
      const m = /"child-pid"\s*:\s*(\d+)/.exec(buf);
      if (m) done(Number(m[1]));
      else if (buf.length > 65536) done(null);
    });
    fd.once("end", () => done(null));
    fd.once("error", () => done(null));
  });
}
