import { parentPort, workerData } from "node:worker_threads";
import { QuickJsPool } from "./quickjs-pool.js";
import { runQuickJs } from "./quickjs-runner.js";
import { HostCallError, type RunHost } from "./snippet-host.js";
import type { HostMethod, ToWorker, FromWorker, QuickJsWorkerData } from "./quickjs-workers.js";

/**
 * One QuickJS worker thread (quickjs-workers.ts starts them): it keeps its own ready runtimes
 * (QuickJsPool) and runs one snippet at a time, so a snippet that spins blocks this thread only,
 * never mcpw's. What a run asks of the host (files, HTTP) is sent to the main thread, which
 * serves it with the run's SnippetHost (its policy) and answers by message.
 */

const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);
const pool = await QuickJsPool.create((workerData as QuickJsWorkerData).runtimes);

let nextCall = 0;
const calls = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

function ask(run: number, method: HostMethod, args: unknown[]): Promise<unknown> {
  const id = ++nextCall;
  return new Promise((resolve, reject) => {
    calls.set(id, { resolve, reject });
    post({ type: "call", run, id, method, args });
  });
}

/** Bytes that came by message (a Uint8Array) as a Buffer, without a copy. */
const buffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

function hostFor(run: number, info: RunHost["info"]): RunHost {
  return {
    info,
    fetch: async (req) => {
      const res = (await ask(run, "fetch", [req])) as Awaited<ReturnType<RunHost["fetch"]>>;
      return { ...res, body: buffer(res.body) };
    },
    readFile: async (path, limit) => buffer((await ask(run, "readFile", [path, limit])) as Uint8Array),
    writeFile: async (path, data, mode) => void (await ask(run, "writeFile", [path, data, mode])),
    fs: (op) => ask(run, "fs", [op]) as ReturnType<RunHost["fs"]>,
  };
}

port.on("message", (m: ToWorker) => {
  if (m.type === "answer") {
    const call = calls.get(m.id);
    if (!call) return;
    calls.delete(m.id);
    if (m.ok) call.resolve(m.result);
    else call.reject(new HostCallError(m.error.message, m.error.code));
    return;
  }
  void runQuickJs(pool, m.code, hostFor(m.run, m.info), m.limits).then(
    (result) => post({ type: "done", run: m.run, result }),
    (err: unknown) => post({ type: "done", run: m.run, result: { stdout: "", stderr: `[mcpw: the QuickJS worker failed: ${(err as Error).message}]\n`, exitCode: 1, durationMs: 0 } }),
  );
});
post({ type: "ready" });
