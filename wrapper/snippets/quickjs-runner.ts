import type { QuickJSContext, QuickJSDeferredPromise, QuickJSHandle } from "quickjs-emscripten";
import { CappedOutput, cutValue } from "./output-cap.js";
import { disposeRuntime, type QuickJsPool } from "./quickjs-pool.js";
import { EXIT_CODES, type LimitReason, type SnippetResult } from "./schemas.js";
import { checkLoad, describeHostError, type LoadLimit, type RunHost } from "./snippet-host.js";
import type { FsOpInput } from "./virtual-fs.js";

/**
 * Runs one JavaScript snippet in a fresh QuickJS runtime from the pool, under its limits (in a
 * worker thread of quickjs-workers.ts, so that the run blocks that thread only):
 *
 * - timeoutMs: the runtime's interrupt handler ends the run once the deadline passes (QuickJS makes
 *   the interrupt uncatchable); a run waiting on the host is ended by a timer;
 * - memMb: the runtime's memory limit (allocation fails with "out of memory");
 * - stack: the runtime's maximum stack size (deep recursion fails with "stack overflow");
 * - stdoutBytes: output past the cap is cut with a marker and the run is interrupted.
 *
 * The code runs as a script, so the completion value of its last statement is the result's
 * `value`; when that value is a promise (e.g. an async IIFE), the run waits for it.
 */

export interface RunLimits {
  timeoutMs: number;
  memMb: number;
  stdoutBytes: number;
}

/**
 * QuickJS's own stack limit (~1500 plain JS frames). The wasm frames run on the host thread's stack,
 * so this must stay well inside Node's (~1 MB): past it V8 throws RangeError out of the wasm call,
 * which the runner also reports as `stack` (and retires the module, see QuickJsPool.retire).
 */
export const QUICKJS_STACK_BYTES = 256 * 1024;

/** QuickJS lives in 32-bit wasm memory: memMb above this is held to it. */
export const QUICKJS_MAX_MEM_MB = 2048;

type Stop = LimitReason | "exit";

export async function runQuickJs(pool: QuickJsPool, code: string, host: RunHost, limits: RunLimits, filename = "snippet.js"): Promise<SnippetResult> {
  const started = performance.now();
  const deadline = started + limits.timeoutMs;
  const ready = await pool.take();
  const { runtime, context } = ready;
  // wasm32: the limit is a 32-bit size, and 4 GiB would wrap to 0 (no memory at all).
  runtime.setMemoryLimit(Math.min(limits.memMb, QUICKJS_MAX_MEM_MB) * 1024 * 1024);
  runtime.setMaxStackSize(QUICKJS_STACK_BYTES);

  let stop: Stop | null = null;
  let exitCode = 0;
  const halt = (why: Stop) => (stop ??= why);
  const stdout = new CappedOutput(limits.stdoutBytes, "stdout", () => halt("output"));
  const stderr = new CappedOutput(limits.stdoutBytes, "stderr", () => halt("output"));
  const pending = new Set<QuickJSDeferredPromise>();
  let wake = () => {};

  /** What one host value (a file, a response body) may bring into the runtime. */
  const memMb = Math.min(limits.memMb, QUICKJS_MAX_MEM_MB);
  const load = (text: boolean): LoadLimit => ({ bytes: memMb * 1024 * 1024, memMb: limits.memMb, text });

  /**
   * A QuickJS promise settled by host work; `make` builds the value inside the context. Nothing in
   * here may throw out of the chain (an unhandled rejection ends mcpw): a `make` that fails (a value
   * too large to build) rejects the snippet's promise with the error instead, and a failure to
   * build even that error settles it with undefined.
   */
  const hostPromise = (ctx: QuickJSContext, work: () => Promise<(c: QuickJSContext) => QuickJSHandle>) => {
    const deferred = ctx.newPromise();
    pending.add(deferred);
    const reject = (err: unknown) => {
      const { message, code } = describeHostError(err);
      let error: QuickJSHandle | undefined;
      try {
        error = ctx.newError({ name: "Error", message });
        const codeHandle = ctx.newString(code);
        ctx.setProp(error, "code", codeHandle);
        codeHandle.dispose();
        deferred.reject(error);
      } catch {
        if (deferred.alive) deferred.reject(ctx.undefined);
      } finally {
        error?.dispose();
      }
    };
    work()
      .then(
        (make) => {
          if (!pending.has(deferred)) return;
          let value: QuickJSHandle;
          try {
            value = make(ctx);
          } catch (err) {
            return reject(err);
          }
          deferred.resolve(value);
          value.dispose();
        },
        (err) => {
          if (pending.has(deferred)) reject(err);
        },
      )
      .catch((err: unknown) => stderr.write(`[mcpw: a host call could not be answered: ${describeHostError(err).message}]\n`))
      .finally(() => {
        if (pending.delete(deferred)) deferred.dispose();
        wake();
      })
      .catch(() => undefined);
    return deferred.handle;
  };

  ready.bind = {
    write: (fd, text) => (fd === 2 ? stderr : stdout).write(text),
    info: () => JSON.stringify(host.info),
    exit: (code) => {
      exitCode = code;
      halt("exit");
    },
    shouldStop: () => stop !== null || (performance.now() > deadline && halt("timeout") !== null),
    // The body comes in as bytes only; Response.text() decodes it on demand (decode below).
    fetch: (ctx, request, body) =>
      hostPromise(ctx, async () => {
        const req = JSON.parse(request) as { url: string; method: string; headers: Record<string, string> };
        const res = await host.fetch({ ...req, ...(body === undefined ? {} : { body: typeof body === "string" ? Buffer.from(body) : new Uint8Array(body) }) });
        checkLoad("the response body", res.body.length, load(false));
        return (c) =>
          objectOf(c, [
            ["status", () => c.newNumber(res.status)],
            ["statusText", () => c.newString(res.statusText)],
            ["url", () => c.newString(res.url)],
            ["redirects", () => c.newNumber(res.redirects)],
            ["bytes", () => c.newArrayBuffer(arrayBufferOf(res.body))],
            ["headers", () => objectOf(c, Object.entries(res.headers).map(([k, v]) => [k, () => c.newString(v)]))],
          ]);
      }),
    decode: (bytes) => {
      checkLoad("the text", bytes.byteLength, load(true));
      return Buffer.from(bytes).toString("utf8");
    },
    fs: (ctx, opText, data) =>
      hostPromise(ctx, async () => {
        const raw = JSON.parse(opText) as { op: string; path: string; encoding?: unknown };
        if (raw.op === "fs.readFile") {
          // Text or bytes, whichever the snippet asked for: one copy in the runtime, not both.
          const text = raw.encoding === "utf8";
          const bytes = await host.readFile(raw.path, load(text));
          if (!text) return (c) => c.newArrayBuffer(arrayBufferOf(bytes));
          const decoded = bytes.toString("utf8");
          return (c) => c.newString(decoded);
        }
        const op = raw as FsOpInput;
        if (op.op === "fs.write") {
          const bytes = typeof data === "string" ? Buffer.from(data) : data === undefined ? Buffer.alloc(0) : new Uint8Array(data);
          await host.writeFile(op.path, bytes, op.mode === "append" ? "append" : "overwrite");
          return (c) => c.undefined;
        }
        const result = await host.fs(op);
        return (c) => jsonValue(c, result);
      }),
  };

  let value: unknown;
  let failed: string | null = null;
  /** The host threw out of wasm (its own stack overflowed): QuickJS is in an unknown state. */
  let broken = false;
  try {
    const evaluated = context.evalCode(code, filename);
    if (evaluated.error) failed = describeJsError(context, evaluated.error);
    else {
      const settled = await settle(evaluated.value);
      if (settled.error) failed = settled.error;
      else value = settled.value;
    }
    // Host work the snippet started but did not await still finishes, as in Node's event loop.
    while (stop === null && pending.size > 0) {
      await waitForHost();
      drainJobs();
    }
  } catch (err) {
    broken = true;
    failed = err instanceof RangeError ? `InternalError: stack overflow (${err.message})` : `InternalError: ${(err as Error).message}`;
  } finally {
    if (broken || /out of memory/i.test(failed ?? "")) pool.retire(ready);
    else {
      for (const d of pending) d.dispose();
      disposeRuntime(ready);
    }
    pending.clear();
  }

  function drainJobs(): void {
    for (;;) {
      const r = runtime.executePendingJobs(-1);
      if (r.error) {
        stderr.write(`Uncaught (in promise) ${describeJsError(r.error.context, r.error)}\n`);
        continue;
      }
      const n = r.value;
      if (n === 0) return;
    }
  }

  function waitForHost(): Promise<void> {
    return new Promise((resolve) => {
      const left = deadline - performance.now();
      const timer = setTimeout(() => {
        halt("timeout");
        resolve();
      }, Math.max(0, left));
      wake = () => {
        clearTimeout(timer);
        wake = () => {};
        resolve();
      };
    });
  }

  async function settle(handle: QuickJSHandle): Promise<{ value?: unknown; error?: string }> {
    try {
      for (;;) {
        drainJobs();
        if (stop !== null) return {};
        const state = context.getPromiseState(handle);
        if (state.type === "fulfilled") {
          try {
            return { value: dumpValue(context, state.value, limits.stdoutBytes) };
          } finally {
            if (!state.notAPromise) state.value.dispose();
          }
        }
        if (state.type === "rejected") {
          const text = describeJsError(context, state.error);
          return { error: text };
        }
        if (pending.size === 0) return {}; // a promise nothing will ever settle
        await waitForHost();
      }
    } finally {
      handle.dispose();
    }
  }

  let reason: LimitReason | undefined;
  if (stop === "timeout" || stop === "output") reason = stop;
  else if (stop === null && failed !== null) {
    if (/out of memory/i.test(failed)) reason = "memory";
    else if (/stack overflow|too much recursion/i.test(failed)) reason = "stack";
  }
  if (failed !== null && stop === null) stderr.write(`Uncaught ${failed}\n`);
  if (reason === "timeout") stderr.write(`[mcpw: stopped after ${limits.timeoutMs} ms (limits.timeoutMs)]\n`);
  if (reason === "memory") stderr.write(`[mcpw: out of memory (limits.memMb=${limits.memMb})]\n`);
  if (reason === "stack") stderr.write(`[mcpw: maximum call stack exceeded]\n`);
  const result: SnippetResult = {
    stdout: stdout.text(),
    stderr: stderr.text(),
    exitCode: reason ? EXIT_CODES[reason] : stop === "exit" ? exitCode : failed !== null ? 1 : 0,
    durationMs: Math.round((performance.now() - started) * 100) / 100,
  };
  if (value !== undefined && stop === null && failed === null) result.value = value;
  if (reason) result.reason = reason;
  return result;
}

function describeJsError(context: QuickJSContext, handle: QuickJSHandle): string {
  try {
    const e = context.dump(handle) as { name?: string; message?: string; stack?: string } | string | undefined;
    if (e && typeof e === "object" && "message" in e) {
      const lines = e.stack ? String(e.stack).trimEnd().split("\n") : [];
      // A stack overflow's trace is the same frame a thousand times: keep the top of it.
      const stack = lines.length ? `\n${lines.slice(0, 8).join("\n")}${lines.length > 8 ? `\n    … ${lines.length - 8} more frames` : ""}` : "";
      return `${e.name ?? "Error"}: ${e.message}${stack}`;
    }
    return typeof e === "string" ? e : JSON.stringify(e);
  } finally {
    handle.dispose();
  }
}

/**
 * The value as JSON-compatible data; anything too large is given as a cut string. JSON has no
 * BigInt, NaN or Infinity: a BigInt is given as its decimal string (inside objects too), a
 * non-finite number as its name.
 */
function dumpValue(context: QuickJSContext, handle: QuickJSHandle, maxBytes: number): unknown {
  const type = context.typeof(handle);
  if (type === "undefined") return undefined;
  if (type === "function") return `[Function]`;
  if (type === "bigint") return context.getBigInt(handle).toString();
  let v: unknown = context.dump(handle);
  // QuickJS's own dump falls back to String(v) when JSON fails (a BigInt inside, or a cycle).
  if (type === "object" && typeof v === "string") v = objectValue(context, handle) ?? v;
  if (typeof v === "number" && !Number.isFinite(v)) return String(v);
  const text = JSON.stringify(v);
  return (text === undefined ? null : cutValue(text, maxBytes)) ?? v;
}

/** An object as JSON made inside QuickJS with BigInts as decimal strings; undefined if that fails too (a cycle). */
function objectValue(context: QuickJSContext, handle: QuickJSHandle): unknown {
  const fn = context.evalCode(`(v) => JSON.stringify(v, (k, x) => (typeof x === "bigint" ? x.toString() : x))`, "mcpw-value.js");
  if (fn.error) {
    fn.error.dispose();
    return undefined;
  }
  const r = context.callFunction(fn.value, context.undefined, handle);
  fn.value.dispose();
  if (r.error) {
    r.error.dispose();
    return undefined;
  }
  const text: unknown = context.dump(r.value);
  r.value.dispose();
  if (typeof text !== "string") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** An object built from its properties' makers; what was built is disposed if one of them fails. */
function objectOf(c: QuickJSContext, entries: [string, () => QuickJSHandle][]): QuickJSHandle {
  const o = c.newObject();
  try {
    for (const [key, make] of entries) {
      const h = make();
      try {
        c.setProp(o, key, h);
      } finally {
        h.dispose();
      }
    }
    return o;
  } catch (err) {
    o.dispose();
    throw err;
  }
}

/** The bytes of a Buffer as an ArrayBuffer of their own. */
function arrayBufferOf(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/** Plain data (an fs result) as a QuickJS value: JSON is a JavaScript expression. */
function jsonValue(c: QuickJSContext, data: unknown): QuickJSHandle {
  const r = c.evalCode(`(${JSON.stringify(data)})`, "mcpw-result.js");
  if (r.error) {
    r.error.dispose();
    return c.undefined;
  }
  return r.value;
}
