/**
 * run_js and run_py latency over warm calls (the whole tool call below the transport: parsing,
 * narrowing, capsule seal + verify, the run), and the time from `mcpw serve` start to the first
 * run_py answer over /mcp. One JSON line per figure.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getQuickJS } from "quickjs-emscripten";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Policy } from "../protocol/policy.js";
import { startEmbedded } from "../server/embedded.js";
import { SnippetService } from "../wrapper/snippets/snippet-service.js";

const CALLS = Number(process.env.MCPW_BENCH_CALLS ?? 500);
const SNAPSHOT_DIR = process.env.MCPW_CACHE_DIR || join(homedir(), ".cache", "mcpw");

const FIB_PRIMES_JS = [
  "function fib(n) { let a = 0, b = 1; for (let i = 0; i < n; i++) { [a, b] = [b, a + b]; } return a; }",
  "function isPrime(n) { if (n < 2) return false; for (let d = 2; d * d <= n; d++) if (n % d === 0) return false; return true; }",
  ...Array.from({ length: 196 }, (_, i) => `const v${i} = fib(${(i % 40) + 10}) + (isPrime(${i * 7 + 1}) ? 1 : 0);`),
  "const primes = []; for (let n = 2; primes.length < 200; n++) if (isPrime(n)) primes.push(n);",
  "({ fib30: fib(30), lastPrime: primes[primes.length - 1], sum: " + Array.from({ length: 196 }, (_, i) => `v${i}`).join(" + ") + " })",
].join("\n");

const JSON_MATH_PY = `import json, math
data = {"values": [math.sqrt(i) * math.sin(i) for i in range(200)], "pi": math.pi}
text = json.dumps(data)
back = json.loads(text)
round(sum(back["values"]), 6), len(text)`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function measure(bench: string, workload: string, call: () => Promise<{ exitCode: number }>): Promise<void> {
  for (let i = 0; i < 20; i++) await call(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    const r = await call();
    times.push(performance.now() - t0);
    if (r.exitCode !== 0) throw new Error(`${bench} ${workload}: exit ${r.exitCode}`);
  }
  times.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  console.log(JSON.stringify({ bench, workload, calls: CALLS, p50_ms: round(percentile(times, 50)), p99_ms: round(percentile(times, 99)), mean_ms: round(times.reduce((a, b) => a + b, 0) / times.length) }));
}

/**
 * The script's own cost: QuickJS evaluating it in a fresh runtime, with nothing of mcpw around it
 * (no parsing, policy, capsule or prelude). run_js's figure minus this is what mcpw adds.
 */
async function quickJsEvalOnly(workload: string, code: string): Promise<void> {
  const qjs = await getQuickJS();
  const times: number[] = [];
  for (let i = 0; i < 20 + CALLS; i++) {
    const rt = qjs.newRuntime();
    const ctx = rt.newContext();
    const t0 = performance.now();
    const value = ctx.unwrapResult(ctx.evalCode(code));
    ctx.dump(value);
    if (i >= 20) times.push(performance.now() - t0);
    value.dispose();
    ctx.dispose();
    rt.dispose();
  }
  times.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  console.log(JSON.stringify({ bench: "quickjs_eval_only", workload, calls: CALLS, p50_ms: round(percentile(times, 50)), p99_ms: round(percentile(times, 99)) }));
}

/**
 * A snippet that spins holds its own worker thread only: run_js 1+1 while another run_js runs
 * `while (true) {}` (timeoutMs 10 s). first_answer_ms counts from the spinner's start (50 ms of
 * it a timer's wait) to the first 1+1's answer: when QuickJS ran on mcpw's own thread, the timer
 * itself waited for the spinner's whole timeout.
 */
async function whileSpinning(service: SnippetService): Promise<void> {
  const start = performance.now();
  const spinning = service.runJs({ code: "while (true) {}", policy: { limits: { timeoutMs: 10_000 } } });
  await new Promise((r) => setTimeout(r, 50));
  const times: number[] = [];
  let first = 0;
  for (let i = 0; i < 100; i++) {
    const t0 = performance.now();
    await service.runJs({ code: "1+1" });
    times.push(performance.now() - t0);
    if (i === 0) first = performance.now() - start;
  }
  times.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 100) / 100;
  console.log(JSON.stringify({ bench: "run_js", workload: "1+1 while another run_js spins", calls: times.length, first_answer_ms: round(first), p50_ms: round(percentile(times, 50)), p99_ms: round(percentile(times, 99)) }));
  await spinning;
}

async function warmCalls(): Promise<void> {
  const policy = Policy.parse({});
  const embedded = await startEmbedded({ env: "dev", policy, auditPath: null });
  const state = mkdtempSync(join(tmpdir(), "mcpw-bench-"));
  const service = await SnippetService.create({
    policy,
    callOp: (o, op, opts) => embedded.server.router.call(o, op, opts),
    workspace: null,
    cacheDir: join(state, "cache"),
    keyDir: state,
    snapshotDir: SNAPSHOT_DIR,
  });
  try {
    await (await service.python()).warm(); // so that Python's start-up does not compete with the JS figures
    await new Promise((r) => setTimeout(r, 3000)); // the rest of the pool fills
    await measure("run_js", "1+1", () => service.runJs({ code: "1+1" }));
    // run_js runs in worker threads (quickjs-workers.ts): a host call crosses to the main thread and back.
    await measure("run_js", "one host call (fs.stat)", () => service.runJs({ code: "fs.stat('/mount').then((s) => s.type)" }));
    await whileSpinning(service);
    await measure("run_js", "fibonacci/prime script (200 lines)", () => service.runJs({ code: FIB_PRIMES_JS }));
    await quickJsEvalOnly("fibonacci/prime script (200 lines)", FIB_PRIMES_JS);
    await measure("run_py", "print(1)", () => service.runPy({ code: "print(1)" }));
    await measure("run_py", "json/math script", () => service.runPy({ code: JSON_MATH_PY }));
  } finally {
    await service.close();
    await embedded.close();
    rmSync(state, { recursive: true, force: true });
  }
}

/** Spawns `mcpw serve` and calls run_py over /mcp as soon as it listens. */
async function serveToFirstRunPy(label: string, cacheDir: string): Promise<void> {
  const state = mkdtempSync(join(tmpdir(), "mcpw-bench-serve-"));
  const bin = fileURLToPath(new URL("../../bin/mcpw.js", import.meta.url));
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, "serve", "--port", "0"], { env: { ...process.env, MCPW_STATE_DIR: state, MCPW_CACHE_DIR: cacheDir }, stdio: ["ignore", "ignore", "pipe"] });
  try {
    const url = await new Promise<URL>((resolve, reject) => {
      let stderr = "";
      child.stderr.on("data", (d) => {
        stderr += d;
        const m = /snippet tools \(run_js, run_py\) at (\S+)/.exec(stderr);
        if (m) resolve(new URL(m[1]!));
      });
      child.once("exit", (code) => reject(new Error(`mcpw serve exited (${code}): ${stderr}`)));
    });
    const listening = performance.now() - t0;
    const admin = readFileSync(join(state, "admin.token"), "utf8").trim();
    const client = new Client({ name: "mcpw-bench", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${admin}` } } }));
    const r = await client.callTool({ name: "run_py", arguments: { code: "print(1)" } });
    const first = performance.now() - t0;
    if ((r.structuredContent as { stdout?: string } | undefined)?.stdout !== "1\n") throw new Error(`unexpected answer: ${JSON.stringify(r)}`);
    await client.close();
    console.log(JSON.stringify({ bench: "serve_to_first_run_py", workload: label, listening_ms: Math.round(listening), first_run_py_ms: Math.round(first) }));
  } finally {
    child.kill("SIGTERM");
    rmSync(state, { recursive: true, force: true });
  }
}

await warmCalls();
await serveToFirstRunPy("snapshot cached (every start after the first)", SNAPSHOT_DIR);
const cold = mkdtempSync(join(tmpdir(), "mcpw-bench-cold-"));
await serveToFirstRunPy("first start on a machine (snapshot made)", cold);
rmSync(cold, { recursive: true, force: true });
