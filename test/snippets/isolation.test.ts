import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { tempDir } from "../helpers/server.js";
import type { Test } from "tap";
import { snippetService } from "./fixtures.js";

/**
 * One Pyodide worker serves call after call (pool size 1 here): each test is an attack by one
 * call on the next, which must see nothing of it.
 */

t.test("run_py isolation between calls on one worker", async (t) => {
  const workspace = tempDir("mcpw-snippets-iso-");
  const { service } = await snippetService(t, { limits: { timeoutMs: 8000 } }, { workspace });
  const py = (code: string, extra: object = {}) => service.runPy({ code, ...extra });
  const pool = await service.python();

  /**
   * The attack leaves something behind that, whenever it runs, prints the caller's API_KEY and
   * writes it to /mount/stolen.txt (`spy()`); the victim's own code is 1+1 after giving the event
   * loop a few turns. Returns the victim's answer.
   */
  const SPY = "import os\ndef spy(*_a, **_k):\n    k = os.environ.get('API_KEY')\n    if k:\n        print('SPY saw', k)\n        try: open('/mount/stolen.txt', 'w').write(k)\n        except Exception: pass\n";
  const attack = async (t: Test, name: string, code: string, victimCode = "1 + 1") => {
    const a = await py(SPY + code);
    t.equal(a.exitCode, 0, `${name}: the attack ran (${a.stderr.trim().split("\n").pop()})`);
    const victim = await py(`import asyncio\nfor _ in range(5):\n    await asyncio.sleep(0.02)\n${victimCode}`, { env: { API_KEY: "victim-secret" } });
    const after = await py("import asyncio\nawait asyncio.sleep(0.1)\n'after'", { env: { API_KEY: "victim-secret-2" } });
    t.notMatch(victim.stdout + victim.stderr + after.stdout + after.stderr, /victim-secret/, `${name}: nothing of the attack ran during later calls`);
    t.notOk(existsSync(join(workspace, "stolen.txt")), `${name}: nothing was written to a later caller's /mount`);
    t.equal(after.value, "after");
    rmSync(join(workspace, "stolen.txt"), { force: true }); // (so each attack is judged on its own)
    return victim;
  };

  t.test("the interpreter's own files are read-only; scratch directories start empty", async (t) => {
    const plant = await py(
      [
        "import os",
        "r = {}",
        "def attempt(name, f):",
        "    try:",
        "        f(); r[name] = 'DONE'",
        "    except OSError as e:",
        "        r[name] = e.errno",
        "attempt('plant in lib-dynload', lambda: open('/lib/python3.14/lib-dynload/attrs.py', 'w').write('print(\"TROJAN\", __import__(\"os\").environ.get(\"API_KEY\"))'))",
        "attempt('plant at /', lambda: open('/evil.py', 'w').write('X = 1'))",
        "attempt('mkdir in /lib', lambda: os.mkdir('/lib/evil'))",
        "attempt('remove the stdlib zip', lambda: os.remove('/lib/python314.zip'))",
        "attempt('truncate the stdlib zip', lambda: os.truncate('/lib/python314.zip', 0))",
        "attempt('append to the stdlib zip', lambda: open('/lib/python314.zip', 'ab').write(b'x'))",
        "attempt('chmod', lambda: os.chmod('/lib/python314.zip', 0o777))",
        "attempt('through a symlink made in /tmp', lambda: (os.symlink('/lib/python3.14/lib-dynload/csv.py', '/tmp/l'), open('/tmp/l', 'w').write('X = 1')))",
        "attempt('rename out of /tmp into /lib', lambda: (open('/tmp/m.py', 'w').write('X = 1'), os.rename('/tmp/m.py', '/lib/python3.14/lib-dynload/m.py')))",
        "attempt('/home/web_user', lambda: open('/home/web_user/x', 'w').write('x'))",
        "open('/tmp/scratch.txt', 'w').write('a')",
        "open('/home/pyodide/scratch.txt', 'w').write('a')",
        "open('/lib/python3.14/site-packages/planted.py', 'w').write('print(\"TROJAN\")')",
        "r",
      ].join("\n"),
    );
    const refused = plant.value as Record<string, unknown>;
    t.equal(plant.exitCode, 0, plant.stderr);
    for (const [name, outcome] of Object.entries(refused)) t.not(outcome, "DONE", `${name}: refused (${String(outcome)})`);
    const victim = await py(
      "import os, sys\n" +
        "found = [p for p in ('/lib/python3.14/lib-dynload/attrs.py', '/evil.py', '/lib/evil', '/tmp/l', '/tmp/scratch.txt', '/home/pyodide/scratch.txt', '/lib/python3.14/site-packages/planted.py') if os.path.lexists(p)]\n" +
        "mods = []\n" +
        "for m in ('attrs', 'planted', 'm'):\n" +
        "    try:\n        __import__(m); mods.append(m)\n    except ImportError:\n        pass\n" +
        "[found, mods, os.path.getsize('/lib/python314.zip') > 0, os.listdir('/tmp'), os.listdir('/home/pyodide')]",
      { env: { API_KEY: "victim-secret" } },
    );
    t.same(victim.value, [[], [], true, [], []], "the next call finds nothing planted and imports nothing of it");
    t.notMatch(victim.stdout, /TROJAN/);
  });

  t.test("nothing a snippet leaves on the event loop runs during later calls", async (t) => {
    const loop = "import asyncio\nloop = asyncio.get_event_loop()\n";
    await attack(t, "a background task", `${loop}async def watch():\n    while True:\n        spy()\n        await asyncio.sleep(0.01)\nloop.create_task(watch())\n'started'`);
    await attack(t, "a task awaiting a future", `${loop}async def wait():\n    try:\n        await loop.create_future()\n    finally:\n        spy()\nloop.create_task(wait())\n'started'`);
    await attack(t, "call_later on a new event loop", "import asyncio\nnew = asyncio.new_event_loop()\ndef tick():\n    spy()\n    new.call_later(0.01, tick)\nnew.call_later(0.01, tick)\n'started'");
    await attack(t, "call_later without a task", `${loop}def tick():\n    spy()\n    loop.call_later(0.01, tick)\ntick()\n'started'`);
    await attack(t, "js.setInterval", "import js\nfrom pyodide.ffi import create_proxy\njs.setInterval(create_proxy(spy), 10)\n'started'");
    await attack(t, "js.setTimeout", "import js\nfrom pyodide.ffi import create_proxy\njs.setTimeout(create_proxy(spy), 50)\n'started'");
    await attack(t, "pyodide.ffi.set_interval", "from pyodide.ffi.wrappers import set_interval\nset_interval(spy, 10)\n'started'");
    await attack(t, "js.queueMicrotask, again and again", "import js\nfrom pyodide.ffi import create_proxy\nn = [0]\ndef again():\n    n[0] += 1\n    spy()\n    if n[0] < 100000: js.queueMicrotask(p)\np = create_proxy(again)\njs.queueMicrotask(p)\n'started'");
    await attack(t, "a finalizer in a cycle", "import json\nclass Later:\n    def __del__(self): spy()\nx = Later(); x.me = x\njson.keep = x\ndel x\n'set'");
    // Released by JavaScript's garbage collector, which the victim sets going.
    await attack(t, "a finalizer released through a JavaScript proxy", "from pyodide.ffi import to_js\nclass Later:\n    def __del__(self): spy()\nfor _ in range(200):\n    held = to_js([Later()], create_pyproxies=True)\ndel held\n'set'", "from pyodide.ffi import to_js\nfor _ in range(30):\n    garbage = to_js(list(range(100000)))\n    await asyncio.sleep(0.01)\n1 + 1");
    await attack(t, "sys.monitoring", "import sys\nm = sys.monitoring\nm.use_tool_id(3, 'spy')\nm.register_callback(3, m.events.PY_START, lambda *a: spy())\nm.set_events(3, m.events.PY_START)\n'set'", "def f(): return 1\nf() + 1");
    await attack(t, "sys.addaudithook", "import sys\nsys.addaudithook(lambda e, a: spy())\n'set'", "import os\nos.listdir('/tmp')\n1 + 1");
    await attack(t, "an async generator hook", "import sys\nsys.set_asyncgen_hooks(firstiter=lambda g: spy())\n'set'", "async def g():\n    yield 1\n[x async for x in g()][0] + 1");
    await attack(t, "gc.callbacks", "import gc\ngc.callbacks.append(lambda *a: spy())\n'set'", "import gc\ngc.collect()\n1 + 1");
    await attack(t, "a task factory", `${loop}def factory(loop, coro, **kw):\n    spy()\n    return asyncio.Task(coro, loop=loop, **kw)\nloop.set_task_factory(factory)\n'set'`);
    await attack(t, "an exception handler", `${loop}loop.set_exception_handler(lambda l, c: spy())\n'set'`, "import asyncio\nasyncio.get_event_loop().call_exception_handler({'message': 'x'})\n1 + 1");
    await attack(t, "sys.setprofile", "import sys\nsys.setprofile(lambda *a: spy())\n'set'");
    await attack(t, "sys.settrace", "import sys\ndef tr(*a):\n    spy(); return tr\nsys.settrace(tr)\n'set'", "def f(): return 1\nf() + 1");
    await py("import gc\ngc.unfreeze()\ngc.disable()\n1");
    t.same((await py("import gc\n[gc.get_freeze_count() > 1000, gc.isenabled()]")).value, [true, true], "gc.unfreeze() and gc.disable() are undone (the reset's collections stay cheap)");
    const timeout = await attack(t, "a SIGINT handler (the timeout's interrupt)", "import signal\nsignal.signal(signal.SIGINT, lambda *a: spy())\n'set'", "while True: pass");
    t.match(timeout, { reason: "timeout" }, "the victim's timeout still interrupts it");
  });

  t.test("a task that will not stop: the worker is replaced", async (t) => {
    const replaced = pool.replaced;
    await attack(t, "a task swallowing every exception", "import asyncio\nasync def stubborn():\n    while True:\n        try:\n            spy()\n            await asyncio.sleep(0.01)\n        except BaseException:\n            pass\nasyncio.get_event_loop().create_task(stubborn())\n'started'");
    t.equal(pool.replaced, replaced + 1, "its worker was not used again");
  });

  t.test("code the reset runs has no file or network access, and a reset that does not end costs the worker", async (t) => {
    // (Within 20 s, so the previous code, where both never end, fails instead of hanging.)
    const within = <T>(p: Promise<T>) => Promise.race([p, new Promise<"hung">((r) => setTimeout(() => r("hung"), 20_000).unref())]);
    await py("import asyncio\nasync def bg():\n    try:\n        await asyncio.sleep(10)\n    finally:\n        open('/mount/late.txt', 'w').write('late')\nasyncio.get_event_loop().create_task(bg())\n'started'");
    const next = await within(py("1 + 1"));
    t.match(next, { value: 2 }, "a pending task's finally block that writes a file: the next call is served");
    t.notOk(existsSync(join(workspace, "late.txt")), "and nothing was written");
    const replaced = pool.replaced;
    await py("import json\nclass Loop:\n    def __del__(self):\n        while True: pass\nx = Loop(); x.me = x\njson.keep = x\ndel x\n'set'");
    t.match(await within(py("1 + 2")), { value: 3 }, "a finalizer that never returns: the next call is served");
    t.equal(pool.replaced, replaced + 1, "by a new worker");
  });

  t.test("the reset's baseline and code: out of reach, or the worker is replaced", async (t) => {
    const probe = "import json, builtins, os\n[json.dumps([1]), builtins.all([0]), os.environ.get('POISON')]";
    const clean = ["[1]", false, null];
    t.same((await py("import sys\n'_mcpw' in sys.modules")).value, false, "the reset's module is in no sys.modules");
    // The reviewer's attack: the baseline is no longer a global of anything.
    const direct = await py("import sys, json\nb = sys.modules['_mcpw']._STATE['base']\nb['dicts']['json']['dumps'] = json.dumps = lambda *a, **k: 'POISONED'\n'poisoned'");
    t.equal(direct.exitCode, 1, "sys.modules['_mcpw']._STATE['base'] does not exist");
    t.same((await py(probe)).value, clean, "and json.dumps is json.dumps again");
    // Replacing a built-in the reset uses (all() decides whether module dicts are put back).
    await py("import builtins, json\nbuiltins.all = lambda *a: True\njson.dumps = lambda *a, **k: 'POISONED'\n1");
    t.same((await py(probe)).value, clean, "the reset finds built-ins in a private copy");
    // Through the frames that run a snippet, its globals are reachable: changing them retires the worker.
    const FRAMES = "import sys, json\nf = sys._getframe()\nwhile 'reset' not in f.f_globals: f = f.f_back\ng = f.f_globals\njson.dumps = lambda *a, **k: 'POISONED'\n";
    for (const [name, change] of [
      ["a global of the reset's module", "g['_restore_dicts'] = lambda b: None"],
      ["its private built-ins", "g['__builtins__']['all'] = lambda *a: True"],
      ["its own class", "g['_Handler']._open = lambda self, req: None"],
    ]) {
      const replaced = pool.replaced;
      t.equal((await py(`${FRAMES}${change}\n'changed'`)).value, "changed", `${name}: changed`);
      t.same((await py(probe)).value, clean, `${name}: the next call is not affected`);
      t.equal(pool.replaced, replaced + 1, `${name}: the worker was replaced`);
    }
    // A function's code and defaults are not in any dict: replacing them is refused outright, for
    // the reset's functions and the standard library's alike.
    for (const [name, change] of [
      ["the reset's function's code", "g['_unchanged'].__code__ = (lambda b: True).__code__"],
      ["the reset's function's defaults", "g['to_json'].__defaults__ = (1,)"],
      ["json.loads's code", "json.loads.__code__ = (lambda *a, **k: 'SPY').__code__"],
      ["json.loads's keyword defaults", "json.loads.__kwdefaults__ = {'cls': None}"],
    ]) {
      const a = await py(`${FRAMES}${change}\n'changed'`);
      t.match(a, { exitCode: 1, stderr: /RuntimeError: __\w+__ of \S+ cannot be replaced in the snippet sandbox/ }, `${name}: refused`);
      t.same((await py(`${probe}\n`)).value, clean, `${name}: the next call is not affected`);
    }
    t.same((await py("import json\njson.loads('[2]')")).value, [2], "json.loads is json.loads");
    t.equal((await py("def mine(): return 1\nmine.__code__ = (lambda: 2).__code__\nmine()")).value, 2, "a snippet's own functions can still be changed");
    // During the reset (a finalizer it runs), its own frame holds the baseline: rebinding an entry
    // is found by the check after the reset.
    const replaced = pool.replaced;
    await py(
      "import sys, json\nclass Later:\n    def __del__(self):\n        f = sys._getframe()\n        while f and 'drop_callbacks' not in f.f_locals: f = f.f_back\n        if f: f.f_locals['b']['environ'] = (('POISON', '1'),)\nx = Later(); x.me = x\njson.keep = x\ndel x\n1",
    );
    t.same((await py(probe)).value, clean, "a baseline entry rebound during the reset: the next call is not affected");
    t.equal(pool.replaced, replaced + 1, "and the worker was replaced");
  });

  t.test("changes to JavaScript objects: refused, or the worker is replaced", async (t) => {
    const PROTO = "import js\nfrom pyodide.ffi import to_js, create_proxy\nO = js.setTimeout.__proto__.__proto__.constructor\narr = to_js([create_proxy(len)]).map(O.getPrototypeOf)\n";
    const refused = await py(
      "import js, _mcpw_host\nfrom pyodide.ffi import to_js\nr = []\nfor f in (lambda: setattr(js, 'x', 1), lambda: setattr(_mcpw_host, 'call', js.setTimeout), lambda: setattr(to_js([]).__proto__.map, 'x', 1)):\n    try:\n        f(); r.append('DONE')\n    except Exception as e:\n        r.append(type(e).__name__)\nr",
    );
    t.same(refused.value, ["JsException", "JsException", "JsException"], "the js module, _mcpw_host and the built-in functions are frozen");
    // The realm's intrinsics are frozen after set-up (realm-hardening.ts): changing them is refused
    // at once. What is not frozen (Pyodide's proxy classes, made later) is found changed at the
    // reset, and the worker replaced.
    for (const [name, change, check, answer] of [
      ["Object.prototype gains a property", "import js\njs.setTimeout.__proto__.__proto__.leaked_from_A = 'secret-A'", "import js\nhasattr(js.setTimeout, 'leaked_from_A')", "frozen"],
      ["Array.prototype.copyWithin replaced", "from pyodide.ffi import to_js, create_proxy\nto_js([]).__proto__.copyWithin = create_proxy(lambda *a: 'SPY')", "from pyodide.ffi import to_js\n'native code' not in str(to_js([]).__proto__.copyWithin)", "frozen"],
      ["Error.prepareStackTrace replaced", "import js\nfrom pyodide.ffi import create_proxy\ntry:\n    js.clearTimeout.call.apply(1, 2)\nexcept Exception as e:\n    err = e.js_error\nerr.constructor.__proto__.prepareStackTrace = create_proxy(lambda e, frames: 'SPY')", "import js\ntry:\n    js.clearTimeout.call.apply(1, 2)\nexcept Exception as e:\n    err = e.js_error\n'ErrorPrepareStackTrace' not in str(err.constructor.__proto__.prepareStackTrace)", "frozen"],
      // Pyodide will not hand Python a proxy class's prototype, but Object.assign run by JS can write it.
      ["a proxy class's prototype", `${PROTO}arr.toJSON = create_proxy(lambda *a: 'SPY')\narr.forEach(O.assign)`, `${PROTO}'toJSON' in list(arr.map(O.getOwnPropertyNames)[0])`, "replaced"],
    ]) {
      const replaced = pool.replaced;
      const a = await py(`${change}\n'changed'`);
      if (answer === "frozen") {
        t.match(a, { exitCode: 1, stderr: /TypeError: Cannot (add property \w+, object is not extensible|assign to read only property)/ }, `${name}: refused, the object is frozen`);
        t.equal((await py(check)).value, false, `${name}: the next call does not see it`);
        t.equal(pool.replaced, replaced, `${name}: nothing changed, so the worker stays`);
      } else {
        t.equal(a.value, "changed", `${name}: the change was made (${a.stderr.trim().split("\n").pop()})`);
        t.equal((await py(check)).value, false, `${name}: the next call does not see it`);
        t.equal(pool.replaced, replaced + 1, `${name}: the worker was replaced`);
      }
    }
  });

  t.test("the workspace is left as the victim would see it", async (t) => {
    t.same(readdirSync(workspace).filter((f) => f === "stolen.txt"), []);
  });
});
