import { symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateRawSync } from "node:zlib";
import t from "tap";
import { tempDir } from "../helpers/server.js";
import { snippetService, webServer } from "./fixtures.js";

/** A pure-Python wheel (a zip), built here: one module, its METADATA (with Requires-Dist), WHEEL, RECORD. */
function wheel(name: string, version: string, source: string, requires: string[] = []): Buffer {
  const info = `${name}-${version}.dist-info`;
  const files: [string, string][] = [
    [`${name}/__init__.py`, source],
    [`${info}/METADATA`, `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n${requires.map((r) => `Requires-Dist: ${r}\n`).join("")}`],
    [`${info}/WHEEL`, "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"],
    [`${info}/RECORD`, ""],
  ];
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of files) {
    const data = Buffer.from(text);
    const packed = deflateRawSync(data);
    const crc = crc32(data);
    const head = Buffer.alloc(30);
    head.writeUInt32LE(0x04034b50, 0); head.writeUInt16LE(20, 4); head.writeUInt16LE(8, 8);
    head.writeUInt32LE(crc, 14); head.writeUInt32LE(packed.length, 18); head.writeUInt32LE(data.length, 22); head.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6); central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16); central.writeUInt32LE(packed.length, 20); central.writeUInt32LE(data.length, 24); central.writeUInt16LE(name.length, 28); central.writeUInt32LE(offset, 42);
    locals.push(head, Buffer.from(name), packed);
    centrals.push(central, Buffer.from(name));
    offset += 30 + name.length + packed.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(files.length, 8); end.writeUInt16LE(files.length, 10); end.writeUInt32LE(dir.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

t.test("run_py: values, output, limits, network, files, isolation", async (t) => {
  const { port } = await webServer(t, {
    "greet-1.0-py3-none-any.whl": wheel("greet", "1.0", "def hello(name):\n    return f'hello {name} from a wheel'\n"),
    "polite-2.0-py3-none-any.whl": wheel("polite", "2.0", "from greet import hello\ndef ask(name):\n    return hello(name) + ', please'\n", ["greet (==1.0)", "sphinx ; extra == 'docs'"]),
    "tampered-1.0-py3-none-any.whl": wheel("tampered", "1.0", "X = 1\n"),
  });
  const workspace = tempDir("mcpw-snippets-pyws-");
  writeFileSync(join(workspace, "in.txt"), "workspace data");
  const ro = tempDir("mcpw-snippets-pyro-");
  writeFileSync(join(ro, "data.txt"), "read only data");
  const { service } = await snippetService(
    t,
    { network: { allowedDomains: ["localhost", "*"], allowedCidrs: ["127.0.0.0/8"], maxRedirects: 3, maxBodyBytes: 1000 }, filesystem: { readonly: [ro] }, limits: { timeoutMs: 8000, memMb: 256, stdoutBytes: 1000 } },
    // A generous grace, so "interrupted, not terminated" holds on a loaded machine too.
    { workspace, pyGraceMs: 5000 },
  );

  const r = await service.runPy({ code: "import sys, os\nprint('hi', sys.argv[1:], os.environ['X'], sys.stdin.read())\n6 * 7", args: ["a"], env: { X: "x" }, stdin: "in" });
  t.match(r, { stdout: "hi ['a'] x in\n", exitCode: 0, value: 42 });
  t.match(await service.runPy({ code: "import sys\nsys.exit(4)" }), { exitCode: 4 });
  t.match(await service.runPy({ code: "1/0" }), { exitCode: 1, stderr: /ZeroDivisionError/ });

  t.test("values JSON cannot carry, and a value that cannot be read", async (t) => {
    t.match(await service.runPy({ code: "print('kept')\nfloat('nan')" }), { stdout: "kept\n", exitCode: 0, value: "nan" }, "NaN: its repr, and the output is kept");
    t.match(await service.runPy({ code: "[1, float('inf')]" }), { value: "[1, inf]" }, "Infinity inside a list: the list's repr");
    const pool = await service.python();
    const replaced = pool.replaced;
    // A snippet that reaches the worker's own to_json (through the frames that run it) and makes it
    // return non-JSON.
    const poisoned = await service.runPy({
      code: "import sys\nf = sys._getframe()\nwhile 'to_json' not in f.f_globals: f = f.f_back\nf.f_globals['_dumps'] = lambda *a, **k: 'POISONED'\nprint('still here')\n[1]",
    });
    t.match(poisoned, { stdout: "still here\n", stderr: /the value could not be read/ }, "the answer keeps its output");
    t.notOk("value" in poisoned, "and has no value");
    t.equal(pool.replaced, replaced + 1, "the worker whose result could not be read is replaced");
    t.match(await service.runPy({ code: "import json\njson.dumps([1])" }), { value: "[1]" }, "the next call is served normally");
  });

  t.test("limits", async (t) => {
    const loop = await service.runPy({ code: "while True: pass", policy: { limits: { timeoutMs: 500 } } });
    t.match(loop, { reason: "timeout", exitCode: 124, stderr: /limits\.timeoutMs/ }, "infinite loop");
    t.notMatch(loop.stderr, /terminated/, "interrupted (KeyboardInterrupt), not terminated");
    const stubborn = await service.runPy({ code: "while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass", policy: { limits: { timeoutMs: 300 } } });
    t.match(stubborn, { reason: "timeout", exitCode: 124, stderr: /did not stop, so its worker was terminated and replaced/ }, "a loop that swallows the interrupt: its worker is terminated and replaced");
    t.match(await service.runPy({ code: "a = []\nwhile True: a.append(bytearray(10**6))", policy: { limits: { memMb: 128 } } }), { reason: "memory", stderr: /limits\.memMb=128/ }, "allocation loop");
    const flood = await service.runPy({ code: "while True: print('flood')" });
    t.match(flood, { reason: "output" }, "output flood");
    t.match(flood.stdout, /\[mcpw: stdout cut at 1000 bytes \(limits\.stdoutBytes\)\]\n$/);
    t.match(await service.runPy({ code: "def f(n): return f(n + 1)\nf(0)" }), { reason: "stack", stderr: /RecursionError/ }, "deep recursion");
    t.match(await service.runPy({ code: "1 + 1" }), { value: 2 }, "a replacement worker serves the next call");
    // Past the default limit the C stack (recursion through C, or freeing a million frames)
    // overflows the host's stack: a fatal error that ends the worker, reported as what it is.
    const overflow = await service.runPy({ code: "import sys\nsys.setrecursionlimit(10**6)\nprint('before')\ndef f(n): return f(n + 1) + 1\nf(0)" });
    t.match(overflow, { reason: "stack", exitCode: 1, stdout: "before\n", stderr: /stack overflowed/ }, "deep recursion after sys.setrecursionlimit(10**6): stack, not memory");
    t.match(await service.runPy({ code: "import os\nprint('x')\nos._exit(3)" }), { exitCode: 3, stdout: "x\n", stderr: "" }, "os._exit(3) ends the run with 3");
    t.match(await service.runPy({ code: "1 + 1" }), { value: 2 }, "and a replacement worker serves the next call");
  });

  t.test("network through the bridge", async (t) => {
    const get = async (url: string, policy: object = {}) =>
      (await service.runPy({ code: `import urllib.request\ntry:\n    r = urllib.request.urlopen(${JSON.stringify(url)}).read().decode()\nexcept Exception as e:\n    r = 'refused: ' + str(e)\nr`, policy })).value;
    t.equal(await get(`http://localhost:${port}/hello`), "hello from loopback", "allowed host (urllib)");
    t.match(await get(`http://127.0.0.1:${port}/hello`), /refused: .*denyIpLiterals/, "IP literal");
    // Allowed only by '*': refused without a CIDR for it. (An entry naming localhost would open the host's loopback.)
    t.match(await get(`http://localhost:${port}/hello`, { network: { allowedDomains: ["*"], allowedCidrs: [] } }), /refused: .*blockPrivateRanges/, "a name resolving to 127.0.0.1 under blockPrivateRanges");
    t.match(await get(`http://localhost:${port}/hello`, { network: { deniedDomains: ["localhost"] } }), /refused: .*deniedDomains/, "denied host");
    t.match(await get(`http://localhost:${port}/redirect/4`), /refused: .*at most 3 redirects/, "redirect chain past the limit");
    t.match(await get(`http://localhost:${port}/big`), /refused: .*maxBodyBytes/, "body past maxBodyBytes");
    const fetched = await service.runPy({ code: `from pyodide.http import pyfetch\nr = await pyfetch("http://localhost:${port}/hello")\n[r.status, await r.string()]` });
    t.same(fetched.value, [200, "hello from loopback"], "pyodide.http.pyfetch, with top-level await");
    const socket = await service.runPy({ code: `import socket\nsocket.create_connection(("127.0.0.1", ${port}))` });
    t.match(socket.stderr, /PermissionError/, "raw sockets cannot be opened");
  });

  t.test("files: /mount is the workspace, nothing else of the host exists", async (t) => {
    const r = await service.runPy({ code: "import os\nopen('out.txt', 'w').write('from python')\n[open('/mount/in.txt').read(), sorted(os.listdir('/mount')), os.path.exists('/etc/passwd'), os.getcwd()]" });
    t.same(r.value, ["workspace data", ["in.txt", "out.txt"], false, "/mount"]);
    t.match((await service.runPy({ code: "import os\nos.symlink('/etc', '/mount/etc')" })).stderr, /PermissionError|Operation not permitted/, "no symlinks");
    const readonly = await service.runPy({ code: `p = ${JSON.stringify(join(ro, "data.txt"))}\ntry:\n    open(p, 'w').write('x')\n    w = 'WRITTEN'\nexcept OSError as e:\n    w = e.errno\n[open(p).read(), w]` });
    t.same(readonly.value, ["read only data", 69], "a filesystem.readonly path is read through the bridge; writing it fails with EROFS");
    for (const cwd of ["/nonexistent", "/lib", "/tmp", "/mount/../etc", "/mount/in.txt", "/mount/missing"]) {
      await t.rejects(service.runPy({ code: "import os\nos.getcwd()", cwd }), { code: "bad_params", field: "cwd" }, `cwd ${cwd} is refused`);
    }
    t.equal((await service.runPy({ code: "import os\nos.getcwd()", cwd: ro })).value, ro, "a policy path as cwd");
    symlinkSync(join(workspace, "in.txt"), join(workspace, "inlink"));
    t.equal((await service.runPy({ code: "import os\nos.readlink('/mount/inlink')" })).value, "/mount/in.txt", "a workspace symlink's target is given as a /mount path");
    const host = async (request: object) => (await service.runPy({ code: `import _mcpw_host, json\njson.loads(_mcpw_host.call(${JSON.stringify(JSON.stringify(request))}))` })).value;
    t.match(await host({ method: "fs", params: { op: "exec", command: "id" } }), { ok: false, error: { code: "EINVAL", message: /is not a file operation/ } }, "the channel's fs method takes file operations only");
    t.match(await host({ method: "exec", params: { command: "id" } }), { ok: false, error: { code: "EINVAL", message: /is not a host call/ } }, "the channel refuses unknown methods");
    t.match(await host({ method: "http" }), { ok: false, error: { code: "EINVAL", message: /params/ } }, "an http call without params is refused as such, not a crash");
    t.match(await host({ method: "http", params: {} }), { ok: false, error: { code: "EINVAL", message: /url/ } }, "and one without a url");
    await t.rejects(service.runPy({ code: "1", cwd: ro, policy: { filesystem: { readonly: [] } } }), { code: "bad_params", field: "cwd" }, "a policy path the call narrowed away");
    const narrowed = await service.runPy({ code: `import os\nos.path.exists(${JSON.stringify(join(ro, "data.txt"))})`, policy: { filesystem: { readonly: [] } } });
    t.equal(narrowed.value, false, "a call that narrows filesystem.readonly no longer sees it");
  });

  t.test("the reset: nothing of one snippet is seen by the next", async (t) => {
    const probe =
      "import json, os, sys, builtins, logging, warnings, copyreg, linecache\n" +
      "['leak' in globals(), json.dumps is None, hasattr(json.JSONDecoder, 'marker'), hasattr(builtins, 'evil'), 'LEAK' in os.environ, '/evil' in sys.path, " +
      "os.path.exists('/tmp/leak.py'), 'leak' in sys.modules, sys.getrecursionlimit(), len(logging.getLogger().handlers), repr(warnings.filters), complex in copyreg.dispatch_table, " +
      "'first snippet' in ''.join(''.join(v[2]) for v in linecache.cache.values() if isinstance(v, tuple) and len(v) > 2)]";
    const before = await service.runPy({ code: probe });
    const polluted = await service.runPy({
      code: "import json, os, sys, builtins, logging, warnings, copyreg\nSECRET = 'first snippet'\nleak = 1\njson.dumps = None\njson.JSONDecoder.marker = 1\nbuiltins.evil = 1\nos.environ['LEAK'] = '1'\nsys.path.append('/evil')\nopen('/tmp/leak.py', 'w').write('X = 1')\nsys.path.insert(0, '/tmp')\nimport leak as _l\nlogging.getLogger().addHandler(logging.NullHandler())\nwarnings.simplefilter('ignore')\ncopyreg.dispatch_table[complex] = lambda c: (complex, (0, 0))\nsys.setrecursionlimit(500)\n" + probe.split("\n")[1],
    });
    t.notSame(polluted.value, before.value, "the first snippet changed all of it");
    const after = await service.runPy({ code: probe });
    t.same(after.value, before.value, "the next snippet sees exactly what the one before the change saw");
    t.same((before.value as unknown[]).slice(0, 8), [false, false, false, false, false, false, false, false]);
  });

  t.test("escapes to the host's JavaScript are closed", async (t) => {
    const probe = async (code: string) => (await service.runPy({ code: `try:\n${code.split("\n").map((l) => `    ${l}`).join("\n")}\n    r = 'ESCAPED'\nexcept Exception as e:\n    r = type(e).__name__\nr` })).value;
    t.not(await probe("import js\njs.process.pid"), "ESCAPED", "js.process");
    t.not(await probe("import pyodide_js\npyodide_js.mountNodeFS('/h', '/')"), "ESCAPED", "pyodide_js");
    t.not(await probe("from pyodide.code import run_js\nrun_js('process')"), "ESCAPED", "run_js");
    t.not(await probe("import js\njs.setTimeout.constructor('return process')()"), "ESCAPED", "Function via a JS function's constructor");
    t.not(await probe(`from pyodide.http._pyfetch import _jsfetch\nawait _jsfetch("http://127.0.0.1:${port}/hello")`), "ESCAPED", "the host's fetch, captured by pyodide.http");
    t.not(await probe("import gc\nfrom pyodide.ffi import JsProxy\nbad = [o for o in gc.get_objects() if isinstance(o, JsProxy) and any(hasattr(o, k) for k in ('process', 'FS', 'mountNodeFS', '_module', 'require'))]\nassert bad"), "ESCAPED", "no reachable JS object with host powers");
    // Pyodide's internal API stayed in sys.modules under its submodule's name: its Module mounts NODEFS.
    t.not(await probe("import sys, js\nfrom pyodide.ffi import to_js\nm = sys.modules['pyodide_js._api'].public_api._module\nm.FS.mount(m.NODEFS, to_js({'root': '/etc'}, dict_converter=js.setTimeout.__proto__.__proto__.constructor.fromEntries), '/home/web_user')\nopen('/home/web_user/hostname').read()"), "ESCAPED", "pyodide_js._api (NODEFS: the host's files)");
    t.not(await probe("from pyodide.http._pyfetch import abortSignalAny\nfrom pyodide.ffi import to_js\nabortSignalAny(to_js([])).constructor.timeout(10)"), "ESCAPED", "the host's AbortSignal.any, kept by pyodide.http (AbortSignal.timeout is a timer of its own)");
    // (gc.get_objects() does not list JsProxy objects: they are not tracked by the collector. So,
    // every JS object reachable from the modules, by following references.)
    const reachable = await service.runPy({
      code: [
        "import gc, sys, types",
        "from pyodide.ffi import JsProxy",
        "seen, found, todo = set(), {}, list(sys.modules.values())",
        "while todo:",
        "    o = todo.pop()",
        "    if id(o) in seen: continue",
        "    seen.add(id(o))",
        "    if isinstance(o, JsProxy): found[id(o)] = o",
        "    else: todo.extend(gc.get_referents(o))",
        "def name(o):",
        "    for n, m in sorted(sys.modules.items()):",
        "        if m is o: return n",
        "        if isinstance(m, types.ModuleType):",
        "            for k, v in sorted(vars(m).items()):",
        "                if v is o: return f'{n}.{k}'",
        "    return 'elsewhere: ' + repr(o)[:60]",
        "sorted(map(name, found.values()))",
      ].join("\n"),
    });
    t.same(
      reachable.value,
      ["_mcpw_host", "js", "pyodide._package_loader.loadedPackages", "pyodide.ffi.wrappers.clearInterval", "pyodide.ffi.wrappers.clearTimeout", "pyodide.ffi.wrappers.setInterval", "pyodide.ffi.wrappers.setTimeout", "pyodide.http._pyfetch.Object", "pyodide.webloop.scheduleCallback"],
      "the JS objects reachable from Python are the worker's own, Object and Pyodide's package list",
    );
  });

  t.test("pip: a pure-Python wheel from a loopback server, through the bridge", async (t) => {
    const url = `http://localhost:${port}/files/greet-1.0-py3-none-any.whl`;
    const r = await service.runPy({ code: "import greet\ngreet.hello('mcpw')", pip: { wheelUrls: [url] }, policy: { network: { maxBodyBytes: 1000 } } });
    t.match(r, { value: "hello mcpw from a wheel", exitCode: 0 }, "wheelUrls");
    const r2 = await service.runPy({ code: "import greet\ngreet.hello('index')", pip: { requirements: ["greet==1.0"], indexUrl: `http://localhost:${port}/simple/` } });
    t.match(r2, { value: "hello index from a wheel" }, "requirements from a simple index");
    t.match((await service.runPy({ code: "import greet" })).stderr, /ModuleNotFoundError/, "an installed package does not outlive its call");
    const deps = await service.runPy({ code: "import polite\npolite.ask('you')", pip: { requirements: ["polite"], indexUrl: `http://localhost:${port}/simple/` } });
    t.match(deps, { value: "hello you from a wheel, please" }, "a requirement's own Requires-Dist is installed from the index (extras are not)");
    const tampered = await service.runPy({ code: "import tampered", pip: { requirements: ["tampered"], indexUrl: `http://localhost:${port}/simple/` } });
    t.match(tampered, { exitCode: 1, stderr: /does not match the index's sha256/ }, "a wheel that does not match the index's sha256 is refused");
  });
});
