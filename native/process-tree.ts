import { readdirSync, readFileSync } from "node:fs";

/**
 * A process and what it started, read from /proc: for ending a sandbox that has no pid namespace
 * of its own (best-effort mode), whose processes can only be found by walking its tree.
 */

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** State (R, S, Z, …) and parent of a process from /proc/<pid>/stat, or null once it has gone. */
export function stateOf(pid: number): { state: string; ppid: number } | null {
  const text = readOrNull(`/proc/${pid}/stat`);
  if (text === null) return null;
  // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
  const [state, ppid] = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return state && ppid ? { state, ppid: Number(ppid) } : null;
}

/**
 * Host pids of the children of `pid`, those of every one of its threads (an orphan is re-parented
 * to some live thread of its subreaper): the kernel's lists (CONFIG_PROC_CHILDREN), else a scan of
 * /proc for processes whose parent is `pid`.
 */
export function childrenOf(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out = new Set<number>();
  let listed = false;
  for (const tid of tasks) {
    const text = readOrNull(`/proc/${pid}/task/${tid}/children`);
    if (text === null) continue;
    listed = true;
    for (const c of text.split(/\s+/)) if (c) out.add(Number(c));
  }
  if (listed) return [...out];
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc");
  } catch {
    // no /proc: nothing to find
  }
  return entries.filter((e) => /^\d+$/.test(e) && stateOf(Number(e))?.ppid === pid).map(Number);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * SIGKILLs every descendant of `root` (and `root` too, with `includeRoot`) without letting any
 * fork away meanwhile: each round stops (SIGSTOP) every process it finds below those already
 * stopped, until a round finds none new (a process with a signal pending cannot complete a fork);
 * then all of them get SIGKILL. A process that has already left the tree (re-parented to init,
 * above any subreaper) is not found. Returns the pids signalled.
 */
export function killTree(root: number, opts: { includeRoot: boolean }): number[] {
  const seen = new Set<number>();
  const stop = (pid: number) => {
    seen.add(pid);
    signal(pid, "SIGSTOP");
  };
  if (opts.includeRoot) stop(root);
  for (let round = 0; round < 100; round++) {
    let fresh = 0;
    for (const parent of [root, ...seen]) {
      for (const c of childrenOf(parent)) {
        if (seen.has(c) || c === process.pid) continue;
        stop(c);
        fresh++;
      }
    }
    if (fresh === 0) break;
  }
  for (const pid of seen) signal(pid, "SIGKILL");
  return [...seen];
}
