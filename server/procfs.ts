import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * The few facts about host processes that mcpw reads from /proc: parent, CPU time, resident
 * memory and pid namespace. Every reader returns null for a process that has gone (or that we may
 * not look at), since processes come and go between listing /proc and reading it.
 */

let constants: { clockTicks: number; pageSize: number } | null = null;

/** sysconf(_SC_CLK_TCK) and the page size, asked of getconf once (Node exposes neither). */
export function procConstants(): { clockTicks: number; pageSize: number } {
  if (constants) return constants;
  const ask = (name: string, fallback: number) => {
    try {
      const n = Number(execFileSync("getconf", [name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
      return Number.isInteger(n) && n > 0 ? n : fallback;
    } catch {
      return fallback;
    }
  };
  constants = { clockTicks: ask("CLK_TCK", 100), pageSize: ask("PAGESIZE", 4096) };
  return constants;
}

export function listPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) if (/^\d+$/.test(name)) pids.push(Number(name));
  return pids;
}

export interface ProcStat {
  ppid: number;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
  /** When the process started, in clock ticks since boot: with the pid, it names one process for good. */
  startTime: number;
}

/** Fields of /proc/<pid>/stat. The command name may hold spaces and parentheses, so fields are counted from the last ')'. */
export function readStat(pid: number): ProcStat | null {
  const text = readOrNull(`/proc/${pid}/stat`);
  if (text === null) return null;
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); ppid is field 4, utime 14, stime 15, starttime 22.
  const ppid = Number(rest[1]);
  const cpuTicks = Number(rest[11]) + Number(rest[12]);
  const startTime = Number(rest[19]);
  return Number.isFinite(ppid) && Number.isFinite(cpuTicks) && Number.isFinite(startTime) ? { ppid, cpuTicks, startTime } : null;
}

/** Resident set size in bytes (/proc/<pid>/statm, second field). */
export function readRssBytes(pid: number): number | null {
  const text = readOrNull(`/proc/${pid}/statm`);
  const pages = text === null ? NaN : Number(text.split(" ")[1]);
  return Number.isFinite(pages) ? pages * procConstants().pageSize : null;
}

/** The pid namespace of a process, as the kernel names it ("pid:[4026532181]"). */
export function pidNamespace(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

/** The processes in namespace `ns`, as host pids. */
export function pidsInNamespace(ns: string, pids: number[] = listPids()): number[] {
  return pids.filter((p) => pidNamespace(p) === ns);
}

/** `roots` and every process descended from them. */
export function processTree(roots: number[], pids: number[] = listPids()): number[] {
  const children = new Map<number, number[]>();
  for (const pid of pids) {
    const st = readStat(pid);
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(pid);
    children.set(st.ppid, list);
  }
  const out = new Set<number>();
  const queue = roots.filter((r) => pids.includes(r));
  while (queue.length) {
    const pid = queue.shift()!;
    if (out.has(pid)) continue;
    out.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return [...out];
}

/** The first field of the `Uid:` / `Gid:` line of /proc/<pid>/status (the real id, as the host sees it). */
export function readIds(pid: number): { uid: number; gid: number; groups: number[] } | null {
  const text = readOrNull(`/proc/${pid}/status`);
  const uid = text && /^Uid:\s+(\d+)/m.exec(text);
  const gid = text && /^Gid:\s+(\d+)/m.exec(text);
  const groups = text && /^Groups:[ \t]*([\d \t]*)$/m.exec(text);
  return uid && gid ? { uid: Number(uid[1]), gid: Number(gid[1]), groups: (groups?.[1] ?? "").split(/\s+/).filter(Boolean).map(Number) } : null;
}

/**
 * Translates a host id into the id it has inside the user namespace of `pid`, through that
 * process's uid_map or gid_map ("inside outside count" lines). Null when it is not mapped.
 */
export function idInsideNamespace(pid: number, which: "uid" | "gid", hostId: number): number | null {
  const text = readOrNull(`/proc/${pid}/${which}_map`);
  if (text === null) return null;
  for (const line of text.trim().split("\n")) {
    const [inside, outside, count] = line.trim().split(/\s+/).map(Number) as [number, number, number];
    if (hostId >= outside && hostId < outside + count) return inside + (hostId - outside);
  }
  return null;
}

/** The children of a process. */
export { childrenOf } from "../native/process-tree.js";

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
