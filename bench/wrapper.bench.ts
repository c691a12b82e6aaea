import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { percentile, round, StdioRpc } from "./stdio-rpc.js";

/**
 * server-everything, direct vs under `mcpw run`, measured in one run on this machine:
 *   - cold start: spawn → `initialize` answered (median of COLD_RUNS each, alternating);
 *   - round trip: CALLS sequential `tools/call echo` after warm-up, p50/p99 per call.
 */
const COLD_RUNS = 20;
const CALLS = 2000;
const WARMUP = 100;

const root = process.cwd();
const server = join(root, "node_modules/@modelcontextprotocol/server-everything/dist/index.js");
const mcpw = join(root, "bin/mcpw.js");

const initParams = { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "1" } };

function start(wrapped: boolean, cwd: string): StdioRpc {
  return wrapped ? new StdioRpc(process.execPath, [mcpw, "run", "-q", "--", process.execPath, server, "stdio"], cwd) : new StdioRpc(process.execPath, [server, "stdio"], cwd);
}

async function coldStart(wrapped: boolean, cwd: string): Promise<number> {
  const t0 = performance.now();
  const rpc = start(wrapped, cwd);
  await rpc.request("initialize", initParams);
  const ms = performance.now() - t0;
  await rpc.close();
  return ms;
}

async function roundTrips(wrapped: boolean, cwd: string): Promise<number[]> {
  const rpc = start(wrapped, cwd);
  await rpc.request("initialize", initParams);
  rpc.notify("notifications/initialized");
  const call = () => rpc.request("tools/call", { name: "echo", arguments: { message: "ping" } });
  for (let i = 0; i < WARMUP; i++) await call();
  const samples: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    await call();
    samples.push(performance.now() - t0);
  }
  await rpc.close();
  return samples.sort((a, b) => a - b);
}

const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);

async function run(print: (result: Record<string, unknown>) => void): Promise<void> {
  const cwd = mkdtempSync(join(tmpdir(), "mcpw-bench-"));
  const cold = { direct: [] as number[], wrapped: [] as number[] };
  for (let i = 0; i < COLD_RUNS; i++) {
    cold.direct.push(await coldStart(false, cwd));
    cold.wrapped.push(await coldStart(true, cwd));
  }
  const direct = median(cold.direct);
  const wrapped = median(cold.wrapped);
  print({ bench: "server-everything cold start to initialize", runs: COLD_RUNS, directMs: round(direct, 1), wrappedMs: round(wrapped, 1), ratio: round(wrapped / direct, 2), target: "<= 1.5" });

  const d = await roundTrips(false, cwd);
  const w = await roundTrips(true, cwd);
  const p = (xs: number[], q: number) => percentile(xs, q);
  print({
    bench: `server-everything tools/call echo round trip (${CALLS} sequential calls)`,
    directP50Ms: round(p(d, 50)),
    directP99Ms: round(p(d, 99)),
    wrappedP50Ms: round(p(w, 50)),
    wrappedP99Ms: round(p(w, 99)),
    addedP50Ms: round(p(w, 50) - p(d, 50)),
    addedP99Ms: round(p(w, 99) - p(d, 99)),
    target: "added p50 <= 0.3 ms, added p99 <= 2 ms",
  });
}

await run((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
