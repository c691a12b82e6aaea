import type { Test } from "tap";
import t from "tap";
import type { AuditInput } from "../../server/audit-log.js";
import { PyodidePool, type CallHandler } from "../../wrapper/snippets/pyodide-pool.js";
import type { ChannelRequest, PyJob } from "../../wrapper/snippets/pyodide-protocol.js";
import { PYODIDE_PROCESS } from "../../wrapper/snippets/pyodide-sandbox.js";
import { SNAPSHOT_DIR, snippetService } from "./fixtures.js";

/**
 * The pool treats its sandboxed processes as untrusted. A stand-in process that breaks the
 * protocol on purpose (lying-pyodide-process.ts, in a real Pyodide sandbox) shows what the pool
 * does with each kind of lie.
 */

const JOB: PyJob = { code: "1", args: [], env: {}, cwd: "/mount", stdin: "", memBytes: 256 * 1024 * 1024, stdoutBytes: 1000, pip: { requirements: [], wheelUrls: [] } };

async function lyingPool(t: Test, mode: string, recycleAfter = 200, audit: AuditInput[] = []): Promise<PyodidePool> {
  const program = { ...PYODIDE_PROCESS, script: "test/snippets/fixtures/lying-pyodide-process.js", args: [mode] };
  const pool = await PyodidePool.create({ size: 1, cacheDir: SNAPSHOT_DIR, mounts: ["/mount"], isolation: "strict", memMb: 256, program, recycleAfter, audit: (e) => audit.push(e) });
  t.teardown(() => pool.close());
  return pool;
}

/** How the pool audits a refusal on a process's channel. */
const refusal = (error: RegExp) => ({ event: "snippet.channel", verdict: "deny", sandbox: /^py-[0-9a-f]{8}$/, error });

const noHost: CallHandler = async () => {
  throw new Error("no host in this test");
};

t.test("a process that breaks the protocol is ended and replaced, and its run says why", async (t) => {
  const cases: [string, string][] = [
    ["not-json", "a frame that is not JSON"],
    ["unknown-message", "a malformed message"],
    ["binary", "a binary frame"],
    ["oversize", "a broken frame (frame length"],
  ];
  for (const [mode, said] of cases) {
    const audit: AuditInput[] = [];
    const pool = await lyingPool(t, mode, 200, audit);
    const r = await pool.run(JOB, noHost, 10_000);
    t.match(r, { exitCode: 1, fatal: true }, mode);
    t.ok(r.stderr.startsWith(`[mcpw: the Python sandbox sent ${said}`) && r.stderr.includes("it was ended and replaced"), `${mode}: ${r.stderr.trim()}`);
    t.match(await pool.run(JOB, noHost, 10_000), { exitCode: 1, stderr: /ended and replaced/ }, `${mode}: the next run gets a new process`);
    const escaped = said.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    t.match(audit, [refusal(new RegExp(`^sent ${escaped}.*; ended and replaced$`)), refusal(/./)], `${mode}: each process ended is audited`);
  }
});

t.test("a process that asks and never reads the answers is ended before the pool holds them without bound", async (t) => {
  const pool = await lyingPool(t, "no-read");
  let served = 0;
  // 24 MiB an answer: the pool keeps at most 128 MiB waiting for this process (two of its largest frames).
  const big = "x".repeat(24 * 1024 * 1024);
  const bigHost: CallHandler = async () => (served++, big);
  const r = await pool.run(JOB, bigHost, 60_000);
  t.match(r, { exitCode: 1, fatal: true });
  t.match(r.stderr, /^\[mcpw: the Python sandbox sent requests faster than it read the answers \(the peer is not reading: \d+ bytes are waiting to be written, more than the 134217738-byte limit\); it was ended and replaced\]/);
  t.ok(served <= 6, `it was ended after ${served} answers`);
});

t.test("a worker's failure is told in a few KiB, however much the process sends", async (t) => {
  const said = captureStderr(t);
  const pool = await lyingPool(t, "failed-huge");
  const r = await pool.run(JOB, noHost, 10_000);
  t.match(r, { exitCode: 1, fatal: true, stderr: /^\[mcpw: the Python worker failed: worker failed: z+… \[mcpw: cut at 4096 bytes\]\]\n$/ });
  t.ok(r.stderr.length < 4200, `${r.stderr.length} characters`);
  const starting = await lyingPool(t, "fail-start-huge").catch((e: Error) => e);
  if (starting instanceof Error) t.fail(`the pool did not start: ${starting.message.slice(0, 200)}`);
  else {
    const e = await starting.run(JOB, noHost, 10_000).then(() => null, (err: Error) => err);
    t.match(e, { message: /^the Python sandbox failed to start: start failed: s+… \[mcpw: cut at 4096 bytes\]$/ }, "a process that fails to start: the run's error");
    t.ok(e !== null && e.message.length < 4200);
  }
  const logged = said.filter((s) => s.includes("failed to start"));
  t.ok(logged.length > 0 && logged.every((s) => s.length < 4200), "and mcpw's log");
});

t.test("a process that dies during a run is reported and replaced", async (t) => {
  const pool = await lyingPool(t, "exit");
  t.match(await pool.run(JOB, noHost, 10_000), { exitCode: 137, reason: "memory", stderr: /exited during the run; it is replaced/ });
  t.match(await pool.run(JOB, noHost, 10_000), { exitCode: 137 }, "its replacement serves the next run");
});

t.test("output past the cap is cut by the pool, whatever the process says", async (t) => {
  const pool = await lyingPool(t, "flood");
  const r = await pool.run(JOB, noHost, 10_000);
  t.match(r.stdout, /^x{1000}\n\[mcpw: stdout cut at 1000 bytes \(limits\.stdoutBytes\)\]\n$/);
  t.match(r.stderr, /^y{1000}\n\[mcpw: stderr cut at 1000 bytes \(limits\.stdoutBytes\)\]\n$/);
  t.equal(r.value, JSON.stringify(`"${"v".repeat(999)}… [mcpw: value cut at 1000 bytes (limits.stdoutBytes)]`), "and so is the value");
});

t.test("a message out of turn ends the process; the run it belonged to keeps its result", async (t) => {
  const pool = await lyingPool(t, "done-twice");
  const first = await pool.run(JOB, noHost, 10_000);
  const second = await pool.run(JOB, noHost, 10_000);
  t.match(first.stdout, /^[0-9a-f]{8} job 1\n/);
  t.match(second.stdout, /^[0-9a-f]{8} job 1\n/, "the second run is a new process's first job");
  t.not(first.stdout.slice(0, 8), second.stdout.slice(0, 8));
});

/** What mcpw writes on its stderr during the test. */
function captureStderr(t: Test): string[] {
  const said: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => (said.push(String(chunk)), write(chunk, ...rest))) as typeof process.stderr.write;
  t.teardown(() => void (process.stderr.write = write));
  return said;
}

t.test("the last words of a process the pool retired are not taken for lies", async (t) => {
  const said = captureStderr(t);
  // recycleAfter 1: retired as soon as its run is done, while its "idle" is on its way.
  const pool = await lyingPool(t, "honest", 1);
  for (let i = 0; i < 3; i++) t.match(await pool.run(JOB, noHost, 10_000), { exitCode: 0, stdout: /job 1\n/ });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(pool.replaced, 3);
  t.same(said.filter((s) => s.includes("out of turn")), [], "no process was ended for a message that came after it was retired");
});

t.test("calls: served only for the job running; late answers dropped; bad requests refused", async (t) => {
  const audit: AuditInput[] = [];
  const pool = await lyingPool(t, "late-answer", 200, audit);
  const served: ChannelRequest[] = [];
  const slowHost: CallHandler = async (request) => {
    served.push(request);
    await new Promise((r) => setTimeout(r, 300));
    return { type: "dir" };
  };
  const first = await pool.run(JOB, slowHost, 10_000);
  t.match(first, { exitCode: 0, stdout: /job 1\n\[\]$/ });
  const second = await pool.run(JOB, noHost, 10_000);
  const [, answersJson] = second.stdout.split("\n");
  const answers = JSON.parse(answersJson!) as { ok: boolean; error?: { message: string; code: string } }[];
  t.same(served, [{ method: "fs", params: { op: "fs.stat", path: "/mount" } }], "only the call made during its job reached the host");
  t.match(audit, [refusal(/^"exec" is not a host call/)], "the refused request is audited");
  t.match(answers, [{ ok: false, error: { message: /"exec" is not a host call/, code: "EINVAL" } }], "a request the host cannot serve gets an error; the late answer never arrived");
  t.equal(answers.length, 1);
});

t.test("a call when no snippet runs on the process is a lie: it is ended, replaced, and the pool says so", async (t) => {
  const said = captureStderr(t);
  const audit: AuditInput[] = [];
  const pool = await lyingPool(t, "call-between-jobs", 200, audit);
  const served: ChannelRequest[] = [];
  const host: CallHandler = async (request) => (served.push(request), { type: "dir" });
  const first = await pool.run(JOB, host, 10_000);
  const second = await pool.run(JOB, host, 10_000);
  t.match(first.stdout, /^[0-9a-f]{8} job 1\n\[\]$/);
  t.match(second.stdout, /^[0-9a-f]{8} job 1\n\[\]$/, "the next run is a new process's first job, and no answer reached either");
  t.not(first.stdout.slice(0, 8), second.stdout.slice(0, 8));
  t.same(served, [], "the call reached no host");
  t.ok(said.some((s) => s.includes("a Python sandbox sent a call with no snippet running on it; it is ended and replaced")), "said on mcpw's stderr");
  t.match(audit, [refusal(/^sent a call with no snippet running on it; ended and replaced$/)], "and audited");
});

t.test("without bubblewrap: strict refuses run_py, best-effort runs it and says so", async (t) => {
  const before = process.env.MCPW_BWRAP;
  process.env.MCPW_BWRAP = "/nonexistent/bwrap";
  t.teardown(() => {
    if (before === undefined) delete process.env.MCPW_BWRAP;
    else process.env.MCPW_BWRAP = before;
  });
  const strict = await snippetService(t, {});
  await t.rejects(strict.service.runPy({ code: "1" }), { code: "policy_denied", message: /cannot isolate: bubblewrap \(bwrap\) is not installed/ });
  const loose = await snippetService(t, { isolation: "best-effort" });
  t.match(await loose.service.runPy({ code: "import os\n[6 * 7, os.getcwd()]" }), { value: [42, "/mount"] });
  t.match((await loose.service.python()).isolation, { bubblewrap: /^MISSING/, namespaces: /^none/ });
});
