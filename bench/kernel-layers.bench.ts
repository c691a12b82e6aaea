import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Policy } from "../protocol/policy.js";
import { configureSandbox, prepareSandbox } from "../wrapper/launcher.js";

/**
 * What seccomp + landlock cost a syscall-heavy program (issue 6; target <= 1.10x): inside the same
 * bubblewrap sandbox (namespaces, uid, rlimits, interceptors all on), 10,000 stat calls and 1,000
 * file writes in /mount, with the kernel layers and without them (an internal launcher option, not
 * reachable from a policy). The program times its own workload, so sandbox start-up is not counted.
 * RUNS alternating repetitions; medians and their ratio.
 */
const RUNS = 21;
const WORKLOAD = `
const fs = require("fs");
const t0 = process.hrtime.bigint();
fs.writeFileSync("/mount/stat-me", "x");
for (let i = 0; i < 10000; i++) fs.statSync(i % 2 ? "/mount/stat-me" : "/mount");
for (let i = 0; i < 1000; i++) fs.writeFileSync("/mount/w-" + (i % 100), "payload " + i);
const t1 = process.hrtime.bigint();
const seccomp = fs.readFileSync("/proc/self/status", "utf8").match(/Seccomp:\\s+(\\d)/)[1];
console.log(JSON.stringify({ ms: Number(t1 - t0) / 1e6, seccomp }));
`;

const policy = Policy.parse({});
const channel = { callOp: async () => Promise.reject(new Error("no bridge in this benchmark")), audit: () => undefined };

async function once(kernelLayers: boolean): Promise<number> {
  const workspace = mkdtempSync(join(tmpdir(), "mcpw-bench-kl-"));
  if (process.getuid?.() === 0) chownSync(workspace, 65534, 65534);
  try {
    const prepared = prepareSandbox({ id: `bench-${process.pid}`, command: [process.execPath, "-e", WORKLOAD], workspace, cwd: workspace, hostEnv: process.env, stdio: ["ignore", "pipe", "pipe"], isolation: "strict" });
    const launched = await configureSandbox(prepared, { policy, hostEnv: process.env, channel, kernelLayers });
    let out = "";
    let err = "";
    launched.child.stdout!.on("data", (d) => (out += d));
    launched.child.stderr!.on("data", (d) => (err += d));
    const exit = await launched.process.exited;
    await new Promise((r) => setImmediate(r));
    launched.dispose();
    const line = out.trim().split("\n").at(-1) ?? "";
    if (exit.code !== 0 || !line.startsWith("{")) throw new Error(`workload failed (exit ${exit.code}): ${err}`);
    const r = JSON.parse(line) as { ms: number; seccomp: string };
    // The filter is there (mode 2) exactly when the layers are on: the comparison is what it says.
    if ((r.seccomp === "2") !== kernelLayers) throw new Error(`seccomp mode ${r.seccomp} with kernelLayers=${kernelLayers}`);
    return r.ms;
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round = (x: number) => Math.round(x * 100) / 100;

await once(true); // warm the page cache and the staging paths
const on: number[] = [];
const off: number[] = [];
for (let i = 0; i < RUNS; i++) {
  // Alternate which goes first, so drift on the machine falls on both alike.
  if (i % 2) {
    off.push(await once(false));
    on.push(await once(true));
  } else {
    on.push(await once(true));
    off.push(await once(false));
  }
}
process.stdout.write(
  `${JSON.stringify({
    bench: "kernel-layers: 10,000 stat + 1,000 writes in /mount, seccomp+landlock vs neither (same bwrap sandbox)",
    runs: RUNS,
    withLayersMsMedian: round(median(on)),
    withoutLayersMsMedian: round(median(off)),
    ratio: round(median(on) / median(off)),
    target: "<= 1.10",
    withLayersMs: on.map(round),
    withoutLayersMs: off.map(round),
  })}\n`,
);
