import type { SandboxStats } from "../protocol/methods.js";
import { listPids, pidNamespace, pidsInNamespace, procConstants, processTree, readRssBytes, readStat } from "./procfs.js";
import type { SandboxRegistry } from "./sandbox-registry.js";

interface Previous {
  startedAt: string | null;
  cpuTicks: number;
  at: number;
  stats: SandboxStats;
}

/**
 * Memory and CPU of running sandboxes, read from /proc. A sandbox's processes are those in its pid
 * namespace (the namespace init bubblewrap reported, its descendants, and shells started with
 * `sandbox.exec`); without bubblewrap, the launched process and its descendants. CPU percent is
 * the CPU time used since the previous sample over the wall time between them; samples closer
 * together than `minIntervalMs` are answered from the last one, so many clients polling at once
 * cost one read of /proc.
 */
export class SandboxStatsSampler {
  private readonly previous = new Map<string, Previous>();

  constructor(
    private readonly sandboxes: Pick<SandboxRegistry, "list" | "status" | "runtime">,
    private readonly minIntervalMs = 1000,
  ) {}

  async sample(id?: string): Promise<SandboxStats[]> {
    if (id) this.sandboxes.status(id); // not_found for an unknown id
    const running = this.sandboxes.list().filter((s) => s.state === "running" && (!id || s.id === id));
    if (!id) for (const key of this.previous.keys()) if (!running.some((s) => s.id === key)) this.previous.delete(key);
    let pids: number[] | null = null;
    const out: SandboxStats[] = [];
    for (const info of running) {
      const now = Date.now();
      const prev = this.previous.get(info.id);
      if (prev && prev.startedAt === info.startedAt && now - prev.at < this.minIntervalMs) {
        out.push(prev.stats);
        continue;
      }
      let members: number[];
      try {
        const run = this.sandboxes.runtime(info.id).launched;
        const init = await run.process.namespaceInit;
        pids ??= listPids();
        const ns = init === null ? null : pidNamespace(init);
        members = ns ? pidsInNamespace(ns, pids) : run.child.pid !== undefined ? processTree([run.child.pid], pids) : [];
      } catch {
        continue; // it stopped while we looked
      }
      let cpuTicks = 0;
      let rssBytes = 0;
      let processes = 0;
      for (const pid of members) {
        const st = readStat(pid);
        if (!st) continue;
        processes++;
        cpuTicks += st.cpuTicks;
        rssBytes += readRssBytes(pid) ?? 0;
      }
      const ticks = procConstants().clockTicks;
      const sameRun = prev && prev.startedAt === info.startedAt;
      const stats: SandboxStats = {
        id: info.id,
        processes,
        rssBytes,
        cpuSeconds: cpuTicks / ticks,
        // Processes that exit between samples take their CPU time with them: never below zero.
        cpuPercent: sameRun && now > prev.at ? Math.max(0, ((cpuTicks - prev.cpuTicks) / ticks / ((now - prev.at) / 1000)) * 100) : null,
        uptimeSec: info.startedAt ? Math.max(0, Math.round((now - Date.parse(info.startedAt)) / 1000)) : null,
        sampledAt: new Date(now).toISOString(),
      };
      this.previous.set(info.id, { startedAt: info.startedAt, cpuTicks, at: now, stats });
      out.push(stats);
    }
    return out;
  }
}
