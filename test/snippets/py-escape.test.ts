import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import t from "tap";
import { MCPW_DIST } from "../../native/install-paths.js";
import type { PyodideAPI } from "pyodide";
import { removeBuiltinModules } from "../../wrapper/snippets/pyodide-builtins.js";
import { launchPyodideSandbox, PYODIDE_PROCESS } from "../../wrapper/snippets/pyodide-sandbox.js";
import { hostTargets, snippetService, type HostTargets } from "./fixtures.js";

/**
 * A security review showed that Python could leave Pyodide's JavaScript realm: a getter defined on
 * Object.prototype catches the worker's real `process` when Node reads an optional property from
 * it, and from there `child_process` ran `id` on the host as root. Two layers now stand in the way,
 * and each is tried on its own, against host targets the test owns (fixtures.ts hostTargets):
 *
 * 1. the realm: the exploit (its timer route, its Error route, the Error.prepareStackTrace hook)
 *    through the real run_py, where the frozen intrinsics refuse the hooks;
 * 2. the OS: what an escaped snippet would do with the process's own Node, run in a Pyodide
 *    sandbox exactly as the pool starts one (first without a sandbox, where it must reach every
 *    target, or the probe proves nothing).
 */

/**
 * The exploit, as Python: each step is recorded as ["ok", what it gave] or ["refused", the error].
 * Every `process` it catches is used on the host targets: run `id`, read the secret, connect to
 * the host's listener.
 */
function exploit(targets: HostTargets): string {
  return `
import js, asyncio
from pyodide.ffi import create_proxy, to_js
report = {}
def attempt(name, f):
    try:
        report[name] = ["ok", str(f())[:300]]
    except BaseException as e:
        report[name] = ["refused", (type(e).__name__ + ": " + str(e))[:300]]
caught = []
catch = create_proxy(lambda this, *a: caught.append(this), capture_this=True)

# 1. the reviewer's route: a timer's prototype chain ends at the worker's Object.prototype
OP = js.setTimeout.__proto__.__proto__
attempt("hook via a timer", lambda: OP.__defineGetter__("traceProcessWarnings", catch))

# 2. the Error route: any caught JS exception gives Error, whose chain ends at Object.prototype too
try:
    js.clearTimeout.call.apply(1, 2)
except Exception as e:
    Err = e.js_error.constructor.__proto__
attempt("hook via a JS error", lambda: Err.__proto__.__proto__.__defineGetter__("traceProcessWarnings", catch))
frames = []
def pst(err, trace):
    for i in range(trace.length):
        frames.append(trace[i].getThis())
    return "hooked"
attempt("Error.prepareStackTrace", lambda: setattr(Err, "prepareStackTrace", create_proxy(pst)))
try:
    js.clearTimeout.call.apply(1, 2)
except Exception as e:
    attempt("stack through the hook", lambda: e.js_error.stack)

# Node reads process.traceProcessWarnings when it emits this TimeoutOverflowWarning.
js.setTimeout(create_proxy(lambda: None), 2**31)
await asyncio.sleep(0.3)
caught += [f for f in frames if f is not None and hasattr(f, "getBuiltinModule")]
report["caught"] = len(caught)

async def connect(p):
    fut = asyncio.get_event_loop().create_future()
    s = p.getBuiltinModule("net").connect(${targets.port}, "127.0.0.1")
    s.on("connect", create_proxy(lambda *a: fut.done() or fut.set_result("connected")))
    s.on("error", create_proxy(lambda e, *a: fut.done() or fut.set_result("error: " + str(e.code))))
    return await asyncio.wait_for(fut, 5)

for p in caught:
    if not hasattr(p, "getBuiltinModule"):
        continue
    o = to_js({"encoding": "utf8"}, dict_converter=OP.constructor.fromEntries)
    attempt("uid", lambda: p.getuid())
    attempt("id", lambda: p.getBuiltinModule("child_process").execSync("id", o))
    attempt("secret", lambda: p.getBuiltinModule("fs").readFileSync(${JSON.stringify(targets.secretFile)}, "utf8"))
    try:
        report["connect"] = ["ok", await connect(p)]
    except BaseException as e:
        report["connect"] = ["refused", type(e).__name__ + ": " + str(e)]
    break
report
`;
}

type Step = ["ok" | "refused", string];

t.test("run_py: the realm-escape exploit does not reach the host", async (t) => {
  const targets = await hostTargets(t);
  const { service } = await snippetService(t, {}, { workspace: null });
  const r = await service.runPy({ code: exploit(targets) });
  t.equal(r.exitCode, 0, `the exploit ran to its end: ${r.stderr}`);
  const report = r.value as Record<string, Step | number>;
  t.comment(JSON.stringify(report));
  const step = (name: string) => report[name] as Step | undefined;

  // The realm: every hook is refused, so nothing is caught.
  t.match(step("hook via a timer"), ["refused", /TypeError: Cannot define property traceProcessWarnings, object is not extensible/], "Object.prototype is frozen (reached through a timer)");
  t.match(step("hook via a JS error"), ["refused", /not extensible/], "the same Object.prototype, reached through a caught JS error");
  t.match(step("Error.prepareStackTrace"), ["refused", /Cannot assign to read only property 'prepareStackTrace'/], "Error is frozen: no stack-trace hook");
  t.notMatch(step("stack through the hook")?.[1] ?? "", /^hooked$/, "stack traces are V8's own");
  t.equal(report.caught, 0, "no `process` was caught");

  // The host: whatever the snippet caught, nothing of the host was reached.
  t.notMatch(step("id")?.[1] ?? "", /uid=/, "`id` did not run on the host");
  t.not(step("secret")?.[1], targets.secret, "the host file planted outside was not read");
  t.not(step("connect")?.[1], "connected", "the host's loopback listener was not reached");
  t.equal(targets.connections(), 0, "the host listener saw no connection");
  if (step("uid")?.[0] === "ok") t.not(step("uid")![1], "0", "not host root");
});

/** The probe, compiled beside this test (under mcpw's dist/, which every sandbox sees). */
const PROBE = "test/snippets/fixtures/py-sandbox-probe.js";

type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string };

t.test("the OS layer: an escaped snippet's own Node, in a Pyodide sandbox, reaches nothing of the host", async (t) => {
  const targets = await hostTargets(t);
  const args = [JSON.stringify({ secretFile: targets.secretFile, port: targets.port })];

  // Asynchronously: the host listener answers from this process.
  const bare = JSON.parse((await promisify(execFile)(process.execPath, [join(MCPW_DIST, PROBE), ...args], { encoding: "utf8" })).stdout) as Record<string, Outcome>;
  t.match(bare, {
    "exec-child-process": { ok: true, value: /uid=/ },
    "exec-binding": { ok: true, value: /uid=/ },
    "read-fs": { ok: true, value: targets.secret },
    "read-binding": { ok: true, value: targets.secret },
    "write-host": { ok: true },
    "connect-host": { ok: true, value: "connected: hello from the host" },
  }, "without a sandbox the probe reaches every target");
  const connectionsBefore = targets.connections();

  const sandbox = await launchPyodideSandbox({ ...PYODIDE_PROCESS, script: PROBE, args }, { isolation: "strict", memMb: 256 });
  t.teardown(() => sandbox.dispose());
  t.match(sandbox.launched.isolation, { bubblewrap: /^on/, seccomp: /applied/, landlock: /applied/ });
  let stdout = "";
  sandbox.launched.child.stdout!.on("data", (d) => (stdout += d));
  sandbox.launched.child.stderr!.resume();
  const exit = await sandbox.launched.process.exited;
  t.equal(exit.code, 0, "the probe ran to its end");
  const seen = JSON.parse(stdout) as Record<string, Outcome>;
  t.comment(JSON.stringify(seen));

  if (process.getuid?.() === 0) t.not((seen.uid as { value: number }).value, 0, "not host root: mcpw runs the sandbox as an unprivileged uid");
  t.match(seen.hostname, { ok: true, value: /^mcpw-py-[0-9a-f]{8}$/ }, "its own uts namespace");
  t.same(seen.interfaces, { ok: true, value: ["lo"] }, "no network: only the sandbox's own loopback");
  t.match(seen["exec-child-process"], { ok: false }, "child_process cannot run `id`");
  t.match(seen["exec-binding"], { ok: false, code: "EACCES" }, "process.binding(\"spawn_sync\"), below the interceptors: landlock executes only node");
  t.match(seen["read-fs"], { ok: false }, "the planted host file cannot be read with fs");
  t.match(seen["read-binding"], { ok: false, code: "ENOENT" }, "process.binding(\"fs\"), below the interceptors: the host's /var/tmp is not in the sandbox's root");
  t.match(seen["write-host"], { ok: false }, "no file can be made on the host");
  t.match(seen["connect-host"], { ok: false }, "the host's loopback listener cannot be reached");
  t.equal(targets.connections(), connectionsBefore, "the host listener saw no connection from the sandbox");
  t.match(seen.eval, { ok: false, message: /Code generation from strings disallowed/ }, "no code from strings anywhere in the process");
});

t.test("run_py: no ctypes (it read and wrote the interpreter's memory: the realm, the reset's baseline)", async (t) => {
  const { service } = await snippetService(t, {}, { workspace: null });
  const attempt = async (code: string) => {
    const r = await service.runPy({ code });
    return r.exitCode === 0 ? r.value : r.stderr.trim().split("\n").pop();
  };
  t.match(await attempt("import ctypes"), /^ImportError: ctypes is not available in the snippet sandbox \(it reads and writes the interpreter's memory\)/, "import ctypes says why it fails");
  t.match(await attempt("import _ctypes"), /^ImportError: ctypes is not available/, "so does import _ctypes");
  t.match(await attempt("from ctypes import util"), /^ImportError: ctypes is not available/, "and a ctypes submodule");
  // Below the message (an audit hook): the module itself is gone from the interpreter, under any name.
  t.same(
    await attempt(`import _imp, sys, importlib.util
from importlib.machinery import ModuleSpec
def found(f):
    try:
        return f()
    except Exception as e:
        return type(e).__name__
[[n, found(lambda: _imp.is_builtin(n)), found(lambda: _imp.create_builtin(ModuleSpec(n, None)))] for n in ("_ctypes", "!ctypes", "\\xffctypes", "")] + [importlib.util.find_spec("_ctypes") is None, "_ctypes" in sys.builtin_module_names]`),
    [["_ctypes", 0, null], ["!ctypes", 0, null], ["\xffctypes", 0, "UnicodeEncodeError"], ["", 0, null], true, false],
    "_imp finds no _ctypes: is_builtin 0, create_builtin None, no spec, not listed",
  );
  // The reviewer's route from ctypes to Pyodide's internal API: rewrite a JsProxy's JavaScript reference.
  const forge = `import js
try:
    import ctypes
except ImportError as e:
    r = "refused: " + type(e).__name__
else:
    p = js.setTimeout.__proto__.__proto__
    w = (ctypes.c_uint32 * 16).from_address(id(p))
    w[9] = 5
    w[0] += 1000000
    r = "FORGED: " + str(hasattr(p, "_module"))
r`;
  t.equal(await attempt(forge), "refused: ImportError", "the JsProxy slot trick cannot even start");
  t.same(await attempt("import json, math, zipfile, asyncio\n[json.loads('[1]'), math.sqrt(4), zipfile.is_zipfile('/nonexistent')]"), [[1], 2, false], "the rest of the standard library is unaffected");
});

t.test("removing _ctypes fails loudly when its name is not where it is expected (a Pyodide upgrade)", async (t) => {
  const memory = (text: string) => {
    const heap = new Uint8Array(4096);
    heap.set(Buffer.from(text, "latin1"), 64);
    return { _module: { HEAPU8: heap, ___heap_base: 1024 }, runPython: () => t.fail("Python is not asked before the name is found") } as unknown as PyodideAPI;
  };
  t.throws(() => removeBuiltinModules(memory("\0\0")), /its name is in the wasm module's static data 0 times, not once/, "not there");
  t.throws(() => removeBuiltinModules(memory("\0_ctypes\0_ctypes\0")), /2 times, not once/, "there twice");
  t.throws(() => removeBuiltinModules(memory("\0_ctypes\0")), /nothing in the static data \(the inittab\) points at its name/, "there, but no inittab entry points at it");
});

t.test("run_py: os.system spawns nothing (Emscripten ran the command with child_process.spawnSync)", async (t) => {
  const { service } = await snippetService(t, {}, { workspace: null });
  const r = await service.runPy({ code: "import os, errno\n[os.system('id'), os.system('echo hi > /tmp/x'), os.path.exists('/tmp/x')]" });
  t.match(r, { exitCode: 0, value: [-1, -1, false] }, "os.system fails as where there is no shell: -1");
  t.notMatch(r.stderr, /EACCES|exec\.allow|spawn/, "no spawn was attempted (the process's interceptors would have refused it with EACCES)");
  t.equal((await service.python()).replaced, 0, "an ordinary failure: the Python process is not replaced");
});
