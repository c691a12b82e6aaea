import { createRequire } from "node:module";
import { dirname } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { loadPyodide, type PyodideAPI } from "pyodide";
import { CappedOutput, cutValue } from "./output-cap.js";
import { EXIT_CODES } from "./schemas.js";
import { MCPW_PYTHON, MCPW_PYTHON_RUN } from "./pyodide-python.js";
import type { PyJob, PyJobResult, WorkerInit, WorkerMessage, WorkerSnapshot } from "./pyodide-protocol.js";
import { removeBuiltinModules } from "./pyodide-builtins.js";
import { integrityCheck } from "./pyodide-integrity.js";
import { mountScratch, protectInterpreterFs } from "./pyodide-memfs.js";
import { installProxyFs } from "./pyodide-proxy-fs.js";
import { watchRealm } from "./pyodide-realm.js";
import { SnippetTimers } from "./pyodide-timers.js";
import { closeCodeGeneration, freezeIntrinsics, safeGlobals } from "./realm-hardening.js";
import { callSync, type ChannelAnswer } from "./sync-channel.js";

/**
 * One Pyodide in a worker thread (of the sandboxed pyodide-process.ts). It loads from the memory
 * snapshot (fast), installs the bridge network and the proxy file system, closes the ways from
 * Python to the JavaScript realm and freezes the realm's intrinsics (realm-hardening.ts), records
 * the baseline, and then runs snippets one at a time, resetting to the baseline after each.
 *
 * Limits inside the worker: memory through the wasm heap's growth hook (emscripten_resize_heap is
 * refused past memMb); output through CappedOutput, which raises KeyboardInterrupt via the
 * interrupt buffer when the cap is hit. Time is kept by the pool: the process's main thread sets
 * the same interrupt buffer when told, and the pool kills the whole sandbox if Python does not stop.
 */

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);
const interrupt = new Int32Array(init.control, 0, 2);
/** [1] of the control buffer: why the main thread interrupted (1 = timeout). */
const INTERRUPT_REASON = 1;

let memLimitBytes = Number.MAX_SAFE_INTEGER;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const Wasm = (globalThis as any).WebAssembly as { instantiate: (source: unknown, imports?: Record<string, Record<string, unknown>>) => Promise<unknown> };
const nativeInstantiate = Wasm.instantiate.bind(Wasm);
/** Emscripten's errno for "function not implemented" (WASI numbering). */
const ENOSYS = 52;
/**
 * Imports of the interpreter's wasm module replaced before it is instantiated:
 *
 * - emscripten_resize_heap: Emscripten grows the heap through it; past the call's memMb it is
 *   refused, so malloc fails and Python raises MemoryError.
 * - _emscripten_system (C `system()`, Python's os.system): under Node, Emscripten runs the command
 *   with child_process.spawnSync(cmd, {shell: true}) in this process. There is no shell here:
 *   it answers as Emscripten does in a browser (no command processor for NULL, -ENOSYS otherwise),
 *   so os.system returns -1 and nothing is spawned.
 */
const REPLACED_IMPORTS = ["emscripten_resize_heap", "_emscripten_system"] as const;
Wasm.instantiate = (source, imports) => {
  const env = imports?.env;
  const grow = env?.emscripten_resize_heap as ((size: number) => number) | undefined;
  if (imports && env && grow) {
    const missing = REPLACED_IMPORTS.filter((k) => typeof env[k] !== "function");
    // A Pyodide whose module no longer imports one of these: say so rather than run without the stub.
    if (missing.length) throw new Error(`the Pyodide module does not import ${missing.join(", ")}: pyodide-worker.ts must be updated for this Pyodide`);
    imports = {
      ...imports,
      env: {
        ...env,
        emscripten_resize_heap: (size: number) => ((size >>> 0) > memLimitBytes ? 0 : grow(size)),
        _emscripten_system: (command: number) => (command ? -ENOSYS : 0),
      },
    };
  }
  return nativeInstantiate(source, imports);
};

/**
 * What `import js` gives Python: timers only, on an object with no prototype. They are the
 * worker's own (pyodide-timers.ts): the reset cancels whatever a snippet left waiting, and
 * pyodide.webloop schedules through them too (see start()).
 */
const timers = new SnippetTimers((e) => err?.write(`[mcpw: a callback failed: ${e instanceof Error ? e.message : String(e)}]\n`));
// Pyodide makes its registry (proxies released by JavaScript's collector) when it loads.
globalThis.FinalizationRegistry = timers.finalizationRegistry();
const jsGlobals = safeGlobals(timers.globals());

/**
 * File and network calls go to the main thread only while a snippet runs: code of a snippet that
 * the reset runs (a task's finally block, a finalizer) gets EACCES instead of waiting for an
 * answer that no call is there to give.
 */
let inJob = false;
function hostCall(request: string): ChannelAnswer {
  if (!inJob) return { ok: false, error: { message: "no file or network access outside a run", code: "EACCES" } };
  return callSync(init.channel, (r) => post({ type: "call", request: r }), request);
}

let out: CappedOutput;
let err: CappedOutput;
let outputExceeded = false;
const onExceeded = () => {
  outputExceeded = true;
  Atomics.store(interrupt, 0, 2); // SIGINT: Python raises KeyboardInterrupt at its next check
};

/**
 * The snapshot is the worker's first message. The worker starts before it has arrived, and so does
 * Pyodide, which loads its script before it awaits the snapshot: both overlap the transfer.
 */
function snapshotMessage(): Promise<Uint8Array> {
  return new Promise((resolve) => port.once("message", (m: WorkerSnapshot) => resolve(m.snapshot)));
}

async function start(): Promise<void> {
  const t0 = performance.now();
  const indexURL = `${dirname(createRequire(import.meta.url).resolve("pyodide"))}/`;
  const py: PyodideAPI = await loadPyodide({
    indexURL,
    jsglobals: jsGlobals,
    _loadSnapshot: snapshotMessage(),
    env: { HOME: "/home/pyodide" },
    stdout: (t: string) => out?.write(`${t}\n`),
    stderr: (t: string) => err?.write(`${t}\n`),
  } as Parameters<typeof loadPyodide>[0]);
  const mark = (what: string) => process.env.MCPW_DEBUG_PYODIDE && process.stderr.write(`pyodide worker: ${what} at ${Math.round(performance.now() - t0)} ms\n`);
  mark("loaded");
  // First, on the restored memory (the snapshot holds the static data): no _ctypes. Throws, and the
  // worker does not start, if that cannot be done exactly as expected.
  removeBuiltinModules(py);
  py.setInterruptBuffer(interrupt);
  py.setStdout({ write: (b: Uint8Array) => (out.write(Buffer.from(b).toString("utf8")), b.length) });
  py.setStderr({ write: (b: Uint8Array) => (err.write(Buffer.from(b).toString("utf8")), b.length) });
  const host = Object.assign(Object.create(null) as object, {
    call: (request: string) => JSON.stringify(hostCall(request)),
  });
  py.registerJsModule("_mcpw_host", host);
  mark("registered");
  // The event loop's callbacks and pyodide.ffi's timer wrappers go through the worker's timers.
  py.registerJsModule("_mcpw_timers", { schedule: timers.schedule });
  py.runPython(`
import sys, js, _mcpw_timers, pyodide.webloop, pyodide.ffi.wrappers
pyodide.webloop.scheduleCallback = _mcpw_timers.schedule
for k in ("setTimeout", "clearTimeout", "setInterval", "clearInterval"):
    setattr(pyodide.ffi.wrappers, k, getattr(js, k))
del sys.modules["_mcpw_timers"], _mcpw_timers, k, js
`);
  py.unregisterJsModule("_mcpw_timers");
  // Scratch directories are fresh MEMFS mounts after every reset (a policy path takes precedence
  // over one it contains); the rest of the interpreter's file system becomes read-only below.
  const scratch = ["/tmp", "/home/pyodide", py.runPython("import site; site.getsitepackages()[0]") as string];
  const freshScratch = mountScratch(py, scratch.filter((d) => !init.mounts.some((m) => d === m || d.startsWith(`${m}/`))));
  const remount = installProxyFs(py, init.mounts, hostCall);
  const mcpw = py.pyimport("types").ModuleType("_mcpw");
  mark("proxy fs");
  py.runPython(MCPW_PYTHON + MCPW_PYTHON_RUN, { globals: mcpw.__dict__ });
  mark("mcpw python");
  py.pyimport("sys").modules.set("_mcpw", mcpw);
  // Close the ways from Python to the host's JavaScript: the pyodide API module (mountNodeFS,
  // loadPackage, FS), run_js, and code generation in this realm.
  py.runPython(`
import sys, pyodide.code, pyodide.http._pyfetch as _pf
def _refused(*a, **k):
    raise PermissionError("not available in the snippet sandbox: HTTP goes through urllib or pyodide.http.pyfetch (the mcpw bridge)")
pyodide.code.run_js = _refused
_pf._jsfetch = _refused  # the host's own fetch, captured when pyodide.http was imported
_pf.pyfetch = sys.modules.pop("_mcpw").pyfetch  # (and the reset's module is in no sys.modules from here on)
# pyodide_js._api is Pyodide's internal API (its Module, the file systems, NODEFS: the host's files):
# every pyodide_js module goes. pyodide.webloop still imports the config from it at call time, so
# a stub with that setting stands in (asyncio.run fails as before: no stack switching in Node).
import types
for name in [n for n in sys.modules if n == "pyodide_js" or n.startswith("pyodide_js.")]:
    del sys.modules[name]
sys.modules["pyodide_js"] = types.ModuleType("pyodide_js")
sys.modules["pyodide_js._api"] = _api = types.ModuleType("pyodide_js._api")
_api.config = types.SimpleNamespace(enableRunUntilComplete=True)
# pyodide.http kept the host's AbortController, AbortSignal (whose timeout() is a timer of its own)
# and Request; pyfetch is the bridge's, which uses none of them.
for name in ("AbortController", "AbortSignal", "Request", "abortSignalAny"):
    setattr(_pf, name, None)
del types, _api, name, _refused, _pf
`);
  // Nothing global that opens connections by itself.
  for (const k of ["fetch", "WebSocket", "EventSource"]) delete (globalThis as Record<string, unknown>)[k];
  py.unregisterJsModule("pyodide_js");
  // No sockets: Emscripten would emulate them over WebSockets straight to the target, around the
  // bridge. Creating one fails with EPERM; HTTP goes through urllib / pyodide.http instead.
  const module = (py as unknown as { _module: { SOCKFS?: { createSocket: unknown }; FS: { ErrnoError: new (errno: number) => Error } } })._module;
  if (module.SOCKFS) {
    module.SOCKFS.createSocket = () => {
      throw new module.FS.ErrnoError(63);
    };
  }
  closeCodeGeneration();
  protectInterpreterFs(py);
  const api = py as unknown as Record<string, unknown>;
  for (const k of ["mountNodeFS", "mountNativeFS", "useNodeSockFS", "loadPackage", "loadPackagesFromImports"]) delete api[k];
  // The realm's intrinsics are frozen (realm-hardening.ts), and so are the objects made for Python;
  // what Python can reach of the realm is then recorded and checked at every reset (freezing turns
  // some prototype methods into accessors, so it comes first).
  freezeIntrinsics();
  Object.freeze(jsGlobals);
  Object.freeze(host);
  const realm = watchRealm(py, { js: jsGlobals, _mcpw_host: host, scheduleCallback: timers.schedule });
  mark("set up");
  const recorded = mcpw._record();
  const base = recorded.get(0);
  const intact = integrityCheck(py, recorded.get(1), recorded.get(2));
  mark("baseline recorded");
  const run = mcpw.run;
  const prepare = mcpw.prepare;
  const reset = mcpw.reset;
  const install = mcpw.install;

  if (process.env.MCPW_DEBUG_PYODIDE) process.stderr.write(`pyodide worker ready in ${Math.round(performance.now() - t0)} ms\n`);
  port.on("message", (job: PyJob) => void runJob(job));
  post({ type: "ready" });

  function failure(e: unknown): { exit: number; kind: string; error: string } {
    const errno = (e as { errno?: unknown } | null)?.errno; // Emscripten's ErrnoError is not an Error
    const text = e instanceof Error ? e.message : typeof errno === "number" ? `file system error (errno ${errno}) in the interpreter` : String(e);
    const kind = /MemoryError|memory access out of bounds|Cannot enlarge memory|out of memory/i.test(text) ? "MemoryError" : /RecursionError|call stack/i.test(text) ? "RecursionError" : /KeyboardInterrupt/.test(text) ? "KeyboardInterrupt" : "Error";
    return { exit: 1, kind, error: `${text.trimEnd()}\n` };
  }
  // A fatal error can surface in a callback of the event loop, outside runJob's try, and then ends
  // the worker (e.g. the host stack overflowing in C recursion after sys.setrecursionlimit): the
  // answer is sent first, so the run is reported as what it was (stack), not as a vanished worker.
  let jobFatal: ((e: unknown) => void) | null = null;
  const pyApi = (py as unknown as { _api: { fatal_error: (e: unknown) => unknown } })._api;
  const fatalError = pyApi.fatal_error;
  pyApi.fatal_error = (e) => {
    // (before Pyodide dumps the Python stack into stdout)
    if (!(e as { pyodide_fatal_error?: boolean } | null)?.pyodide_fatal_error) jobFatal?.(e);
    return fatalError(e);
  };

  async function runJob(job: PyJob): Promise<void> {
    jobFatal = (e) => {
      jobFatal = null;
      inJob = false;
      const exit = e as { name?: string; status?: unknown } | null;
      if (exit?.name === "ExitStatus" && typeof exit.status === "number") {
        // os._exit(n): the interpreter is gone; the run ended with n.
        return post({ type: "done", result: { stdout: out.text(), stderr: err.text(), exitCode: exit.status, fatal: true } });
      }
      const f = failure(e);
      const reason = f.kind === "RecursionError" ? "stack" : f.kind === "MemoryError" ? "memory" : undefined;
      if (!reason) err.write(f.error);
      else if (reason === "stack") err.write("RecursionError: the interpreter's stack overflowed (the worker is replaced)\n");
      post({ type: "done", result: { stdout: out.text(), stderr: err.text(), exitCode: reason ? EXIT_CODES[reason] : 1, ...(reason ? { reason } : {}), fatal: true } });
    };
    outputExceeded = false;
    inJob = true;
    out = new CappedOutput(job.stdoutBytes, "stdout", onExceeded);
    err = new CappedOutput(job.stdoutBytes, "stderr", onExceeded);
    memLimitBytes = job.memBytes;
    Atomics.store(interrupt, 0, 0);
    Atomics.store(interrupt, INTERRUPT_REASON, 0);
    const result: PyJobResult = { stdout: "", stderr: "", exitCode: 0 };
    const j0 = performance.now();
    let outcome: { exit: number; value?: string | null; error?: string; kind?: string } = { exit: 0 };
    try {
      if (job.pip.requirements.length || job.pip.wheelUrls.length) {
        install(py.pyimport("json").loads(JSON.stringify(job.pip.requirements)), py.pyimport("json").loads(JSON.stringify(job.pip.wheelUrls)), job.pip.indexUrl ?? null);
      }
      const ns = prepare(JSON.stringify(job.args), JSON.stringify(job.env), job.cwd, job.stdin);
      const proxy = await run(job.code, ns);
      outcome = proxy.toJs({ dict_converter: Object.fromEntries });
      proxy.destroy();
      ns.destroy();
    } catch (e) {
      outcome = failure(e);
      result.fatal = outcome.kind !== "Error" || /fatal/i.test(outcome.error ?? "");
    }
    memLimitBytes = Number.MAX_SAFE_INTEGER;
    if (outcome.kind === "KeyboardInterrupt" && Atomics.load(interrupt, INTERRUPT_REASON) === 1) result.reason = "timeout";
    else if (outcome.kind === "KeyboardInterrupt" && outputExceeded) result.reason = "output";
    else if (outcome.kind === "MemoryError") result.reason = "memory";
    else if (outcome.kind === "RecursionError") result.reason = "stack";
    if (outcome.error && !result.reason) err.write(outcome.error);
    else if (outcome.error && result.reason === "stack") err.write(outcome.error);
    result.exitCode = result.reason ? EXIT_CODES[result.reason] : outcome.exit;
    if (typeof outcome.value === "string") {
      const cut = cutValue(outcome.value, job.stdoutBytes);
      result.value = cut === null ? outcome.value : JSON.stringify(cut);
    }
    Atomics.store(interrupt, 0, 0);
    result.stdout = out.text();
    result.stderr = err.text();
    const j1 = performance.now();
    inJob = false;
    if (!jobFatal) return; // already answered by the fatal-error hook
    jobFatal = null;
    post({ type: "done", result });
    if (result.fatal) return;
    // The reset runs after the answer is sent, off the caller's path; the pool hands this worker
    // out again only once it reports "idle".
    try {
      const jsChanged = () => {
        const what = realm.changed();
        if (what) throw new Error(`a snippet changed a JavaScript object: ${what}`);
      };
      jsChanged();
      if (!intact()) throw new Error("a snippet changed the reset's baseline or code");
      timers.clear();
      reset(base, () => timers.clear());
      if (!intact()) throw new Error("the reset's baseline or code changed during the reset");
      jsChanged();
      remount(freshScratch);
      if (process.env.MCPW_DEBUG_PYODIDE) process.stderr.write(`pyodide worker: job ${(j1 - j0).toFixed(1)} ms, reset ${(performance.now() - j1).toFixed(1)} ms\n`);
      post({ type: "idle", ok: true });
    } catch (e) {
      post({ type: "idle", ok: false, message: (e as Error).message });
    }
  }
}

start().catch((e: unknown) => post({ type: "failed", message: e instanceof Error ? (e.stack ?? e.message) : String(e) }));
