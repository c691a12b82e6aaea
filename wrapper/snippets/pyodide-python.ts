/**
 * Python installed once in every Pyodide worker, before any snippet: the bridge-backed network
 * (urllib and pyodide.http go through `_mcpw_host.call`, a synchronous call to the main thread,
 * which sends an http.request op to the bridge), the pip installer, the JSON form of a result, and
 * the reset that runs after every snippet so the next one starts from the same state.
 */
export const MCPW_PYTHON = String.raw`
# The worker's own functions find built-ins in a private copy: a snippet that replaces one in the
# builtins module changes its own calls, not the reset that puts it back.
__builtins__ = dict(vars(__import__("builtins")))
import builtins, email.message, io, json, os, sys, types, urllib.error, urllib.request, urllib.response
import gc as _gc, _signal
import _mcpw_host

def _call(kind, params):
    answer = json.loads(_mcpw_host.call(json.dumps({"method": kind, "params": params})))
    if not answer.get("ok"):
        err = answer.get("error") or {}
        raise OSError(err.get("message", "the host refused"))
    return answer.get("result")

# ---- network: every request is an http.request op at the bridge, under the snippet's policy
def http_request(url, method="GET", headers=None, body=None):
    import base64
    params = {"url": url, "method": method.upper(), "headers": dict(headers or {})}
    if body:
        params["body"] = base64.b64encode(body if isinstance(body, bytes) else str(body).encode()).decode()
    r = _call("http", params)
    r["body"] = base64.b64decode(r["body"])
    return r

class _Handler(urllib.request.BaseHandler):
    handler_order = 100  # before urllib's own HTTPHandler, which would open a socket
    def _open(self, req):
        try:
            r = http_request(req.full_url, req.get_method(), dict(req.header_items()), req.data)
        except OSError as e:
            raise urllib.error.URLError(str(e)) from None
        headers = email.message.Message()
        for k, v in r["headers"].items():
            headers[k] = v
        resp = urllib.response.addinfourl(io.BytesIO(r["body"]), headers, r["url"], r["status"])
        resp.msg = r["statusText"]
        if r["status"] >= 400:
            raise urllib.error.HTTPError(r["url"], r["status"], r["statusText"], headers, io.BytesIO(r["body"]))
        return resp
    http_open = _open
    https_open = _open

# Every opener urllib builds (urlopen's own, made on first use after each reset, and a snippet's
# build_opener()) has this handler first.
_build_opener = urllib.request.build_opener
def build_opener(*handlers):
    return _build_opener(_Handler, *handlers)
urllib.request.build_opener = build_opener
urllib.request.install_opener(None)

class FetchResponse:
    def __init__(self, r):
        self.status = r["status"]; self.status_text = r["statusText"]; self.url = r["url"]
        self.headers = dict(r["headers"]); self.ok = 200 <= self.status < 300; self.redirected = r["redirects"] > 0
        self._body = r["body"]
    async def bytes(self): return self._body
    async def memoryview(self): return memoryview(self._body)
    async def string(self): return self._body.decode()
    async def text(self): return self._body.decode()
    async def json(self, **kw): return json.loads(self._body, **kw)
    def raise_for_status(self):
        if self.status >= 400: raise OSError(f"{self.status} {self.status_text} for {self.url}")

async def pyfetch(url, method="GET", headers=None, body=None, **_ignored):
    return FetchResponse(http_request(url, method, headers, body))

def open_url(url):
    return io.StringIO(http_request(url)["body"].decode())

import pyodide.http as _ph
_ph.pyfetch = pyfetch
_ph.open_url = open_url

# ---- pip: wheels fetched through the bridge, unpacked into site-packages
# (micropip is not in the pyodide npm package, and loading it needs the CDN.)
def _norm(name):
    import re
    return re.sub(r"[-_.]+", "-", name).lower()

def _installed(name):
    import importlib.metadata
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False

def install(requirements=(), wheel_urls=(), index_url=None):
    """Pure-Python wheels only. Index pages (PEP 503) and wheels are fetched through the bridge; a
    link's #sha256= is checked; each wheel's Requires-Dist (without extras) is installed from the
    index too, newest version unless pinned with ==. Returns the wheel files installed."""
    import hashlib, io, re, zipfile, site, urllib.parse
    target = site.getsitepackages()[0]
    done, seen = [], set()
    queue = [("url", url, None) for url in wheel_urls] + [("req", r, None) for r in requirements]

    def unpack(data, name, sha256=None):
        if sha256 and hashlib.sha256(data).hexdigest() != sha256:
            raise OSError(f"{name}: the wheel does not match the index's sha256")
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for member in z.namelist():
                if member.startswith("/") or ".." in member.split("/"):
                    raise OSError(f"{name}: unsafe path {member!r} in the wheel")
            meta = [m for m in z.namelist() if m.endswith(".dist-info/METADATA") and m.count("/") == 1]
            requires = []
            if meta:
                for line in z.read(meta[0]).decode("utf-8", "replace").splitlines():
                    if line.startswith("Requires-Dist:"):
                        spec, _, marker = line[len("Requires-Dist:"):].partition(";")
                        if "extra" in marker:
                            continue
                        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[.*?\])?\s*\(?\s*(==\s*([A-Za-z0-9.+!_-]+))?", spec)
                        if m:
                            requires.append(m.group(1) + ("==" + m.group(3) if m.group(3) else ""))
            z.extractall(target)
        done.append(name)
        for r in requires:
            queue.append(("req", r, name))

    def from_index(req, wanted_by):
        pkg, _, pin = req.partition("==")
        norm = _norm(pkg)
        if norm in seen or (wanted_by and _installed(pkg)):
            return
        seen.add(norm)
        if not index_url:
            raise OSError(f"{req}{' (needed by ' + wanted_by + ')' if wanted_by else ''}: no package index is configured (pip.indexUrl)")
        page_url = index_url.rstrip("/") + "/" + norm + "/"
        page = http_request(page_url)
        if page["status"] != 200:
            raise OSError(f"{req}: the index answered {page['status']} for {page_url}")
        wheels = []
        for link in re.findall(r'href="([^"]+)"', page["body"].decode()):
            href, _, fragment = link.partition("#")
            file = href.rsplit("/", 1)[-1]
            m = re.match(r"^([^-]+)-([^-]+)-.*-none-any\.whl$", file)
            if m and _norm(m.group(1)) == norm and (not pin or m.group(2) == pin):
                sha = fragment[len("sha256="):] if fragment.startswith("sha256=") else None
                wheels.append((m.group(2), urllib.parse.urljoin(page_url, href), file, sha))
        if not wheels:
            raise OSError(f"{req}: no pure-Python wheel{' for version ' + pin if pin else ''} on {page_url}")
        version, url, file, sha = sorted(wheels, key=lambda w: [int(p) if p.isdigit() else 0 for p in re.split(r"[.+!-]", w[0])])[-1]
        unpack(http_request(url)["body"], file, sha)

    while queue:
        kind, value, wanted_by = queue.pop(0)
        if kind == "url":
            name = value.rsplit("/", 1)[-1].split("?")[0]
            if not name.endswith("-none-any.whl"):
                raise OSError(f"{name}: only pure-Python wheels (*-none-any.whl) can be installed")
            seen.add(_norm(name.split("-")[0]))
            unpack(http_request(value)["body"], name)
        else:
            from_index(value, wanted_by)
    import importlib
    importlib.invalidate_caches()
    return done

# ---- the result value as JSON
_dumps = json.dumps  # bound now: a snippet that replaces json.dumps changes only its own calls

def to_json(value):
    """Strict JSON (no NaN or Infinity, which JSON.parse refuses), else the value's repr."""
    if value is None:
        return None
    try:
        return _dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        try:
            return _dumps(repr(value))
        except Exception:
            return _dumps(f"<{type(value).__name__} object; its repr failed>")

# ---- reset: the next snippet starts from this state
# (The scratch directories, /tmp, /home/pyodide and site-packages, are replaced by empty file
# systems by the worker after this; the rest of the interpreter's file system is read-only.)
#
# The baseline is a dict of tuples, made once by _record() and held by the worker, which passes it
# to reset(): no module or global refers to it. Tuples cannot be changed in place, and the worker
# checks, with built-in functions only, that neither the baseline's entries nor this module's
# globals, its private built-ins or its functions' code have changed, before and after each reset
# (pyodide-integrity.ts); if they have, the worker is replaced.
from itertools import chain as _chain
from operator import is_ as _is

def _types_of(mod):
    name = getattr(mod, "__name__", None)
    return [v for v in list(vars(mod).values()) if isinstance(v, type) and getattr(v, "__module__", None) == name]

def _entries(mod_dicts, classes):
    """Every key, and an iterator over every value, of the baseline's dicts: built in C
    (map/chain), with no per-entry allocation."""
    proxies = list(map(vars, classes))
    keys = tuple(_chain.from_iterable(mod_dicts)) + tuple(_chain.from_iterable(proxies))
    values = _chain(_chain.from_iterable(map(dict.values, mod_dicts)), _chain.from_iterable(map(types.MappingProxyType.values, proxies)))
    return keys, values

def _unchanged(b):
    """True when no baseline module or class dict has gained, lost or rebound an entry. Values are
    compared by identity (operator.is_), so no snippet-defined __eq__ runs here."""
    keys, values = _entries(b["mod_dicts"], b["class_list"])
    return keys == b["keys"] and all(map(_is, values, b["values"]))

def _record():
    """The baseline, and what the worker checks for integrity: (baseline, dicts, functions)."""
    # This module's own classes are put back like the standard library's (it is in no sys.modules).
    own = [v for v in list(globals().values()) if isinstance(v, type) and v.__module__ == __name__]
    mods = tuple((n, m) for n, m in sys.modules.items())
    # sys is put back entry by entry on every reset (prepare sets argv and stdin in it each run).
    names = tuple(n for n, m in mods if isinstance(m, types.ModuleType) and n != "sys")
    by_name = dict(mods)
    classes = tuple(t for n in names for t in _types_of(by_name[n])) + tuple(own)
    mod_dicts = tuple(vars(by_name[n]) for n in names)
    keys, values = _entries(mod_dicts, classes)
    base = {
        "modules": mods,
        "module_names": frozenset(n for n, _ in mods),
        "mod_dicts": mod_dicts,
        "dicts": tuple((d, tuple(d.items())) for d in mod_dicts),
        "sys": tuple(vars(sys).items()),
        "sys_keys": frozenset(vars(sys)),
        "class_list": classes,
        "classes": tuple((t, tuple(vars(t).items())) for t in classes),
        "keys": keys,
        "values": tuple(values),
        "environ": tuple(os.environ.items()),
        "path": tuple(sys.path),
        "meta_path": tuple(sys.meta_path),
        "path_hooks": tuple(sys.path_hooks),
        "cwd": os.getcwd(),
        "recursion": sys.getrecursionlimit(),
        # Containers that stdlib modules keep and snippets commonly change in place.
        "containers": tuple((c, tuple(c.items()) if isinstance(c, dict) else tuple(c)) for c in _containers()),
        **_hooks(),
    }
    ns = globals()
    funcs = tuple(v for d in (ns, *map(vars, own)) for v in list(d.values()) if isinstance(v, types.FunctionType))
    global _PROTECTED
    _PROTECTED = frozenset(map(id, _chain(funcs, (v for v in base["values"] if isinstance(v, types.FunctionType)))))
    checked = (ns, ns["__builtins__"], base, *map(vars, own))
    # The baseline is permanent: the collections after each snippet look only at what came later.
    _gc.collect()
    _gc.freeze()
    return (base, checked, funcs)

# gc.get_freeze_count() walks the frozen objects (~1 ms): gc.unfreeze() notes that it was called.
_UNFROZEN = [False]
def _unfreeze(_unfreeze=_gc.unfreeze):
    _UNFROZEN[0] = True
    _unfreeze()
_gc.unfreeze = _unfreeze

_PROTECTED = frozenset()  # ids of the baseline's functions (and this module's), set by _record()
_FUNCTION_CODE = frozenset(("__code__", "__defaults__", "__kwdefaults__"))
_NO_IMPORT = frozenset(("ctypes", "_ctypes"))

def _audit_guard(event, args):
    # A function's code and defaults are replaced in place, where no reset sees them: the baseline's
    # functions keep theirs (json.loads.__code__ = ... would run in every later call).
    if event == "object.__setattr__":
        if args[1] in _FUNCTION_CODE and id(args[0]) in _PROTECTED:
            raise RuntimeError(f"{args[1]} of {getattr(args[0], '__qualname__', 'a function')} cannot be replaced in the snippet sandbox (it is shared with later calls)")
    # An audit hook cannot be removed: one added by a snippet would see every later call's events.
    elif event == "sys.addaudithook":
        raise RuntimeError("audit hooks cannot be added in the snippet sandbox")
    # _ctypes is taken out of the interpreter (pyodide-builtins.ts); this says why, for ctypes too.
    elif event == "import" and (args[0] in _NO_IMPORT or args[0].startswith("ctypes.")):
        raise ImportError(f"ctypes is not available in the snippet sandbox (it reads and writes the interpreter's memory); cannot import {args[0]}", name=args[0])

sys.addaudithook(_audit_guard)

def _hooks():
    """Interpreter state outside any dict through which code of one snippet would run, or settings
    would apply, in later ones: the event loop's settings (task factory, exception handler),
    trace/profile functions, sys.monitoring tools, async generator hooks, signal handlers (the
    timeout's SIGINT among them), the garbage collector's settings."""
    import asyncio
    loop = asyncio.get_event_loop()
    policy = asyncio.events._event_loop_policy
    return {
        "loop": loop,
        "loop_dict": tuple(vars(loop).items()),
        "policy": policy,
        "policy_dict": tuple(vars(policy).items()),
        "set_running_loop": asyncio.events._set_running_loop,
        "get_running_loop": asyncio.events._get_running_loop,
        "all_tasks": asyncio.all_tasks,
        "asyncgen_hooks": tuple(sys.get_asyncgen_hooks()),
        "trace": (sys.gettrace(), sys.getprofile()),
        "tools": tuple(sys.monitoring.get_tool(i) for i in range(6)),
        "signals": tuple((s, _signal.getsignal(s)) for s in _signal.valid_signals()),
        "int_digits": sys.get_int_max_str_digits(),
        "coro_depth": sys.get_coroutine_origin_tracking_depth(),
        "gc": (_gc.isenabled(), _gc.get_threshold(), _gc.get_debug()),
    }

def _same(d, saved):
    """d has exactly the saved (key, value) pairs, values compared by identity."""
    return len(d) == len(saved) and not any(d.get(k, saved) is not v for k, v in saved)

def _restore_hooks(b):
    for obj, saved in ((b["loop"], b["loop_dict"]), (b["policy"], b["policy_dict"])):
        d = vars(obj)
        if not _same(d, saved):
            d.clear(); d.update(saved)
    b["set_running_loop"](b["loop"])
    sys.set_asyncgen_hooks(*b["asyncgen_hooks"])
    sys.settrace(b["trace"][0]); sys.setprofile(b["trace"][1])
    m = sys.monitoring
    for tool, name in enumerate(b["tools"]):
        if m.get_tool(tool) != name:
            m.set_events(tool, 0)
            if hasattr(m, "clear_tool_id"): m.clear_tool_id(tool)
            m.free_tool_id(tool)
            if name is not None: m.use_tool_id(tool, name)
    for sig, handler in b["signals"]:
        if handler is not None and _signal.getsignal(sig) is not handler:
            try: _signal.signal(sig, handler)
            except (OSError, ValueError, TypeError): pass
    sys.set_int_max_str_digits(b["int_digits"])
    sys.set_coroutine_origin_tracking_depth(b["coro_depth"])
    enabled, threshold, debug = b["gc"]
    _gc.enable() if enabled else _gc.disable()
    _gc.set_threshold(*threshold); _gc.set_debug(debug)
    if _UNFROZEN[0]:
        _gc.freeze()  # a snippet's gc.unfreeze(): the baseline out of the collections again
        _UNFROZEN[0] = False

def _close_tasks(b):
    """Closes the coroutine of every task still pending on the baseline's event loop, the running
    one and the policy's (a snippet may have made new ones): its finally blocks run now, in the
    reset, instead of when it is freed during a later call. Returns the tasks that refused
    (caught GeneratorExit and awaited again): they would run again when freed."""
    loops = []
    for loop in (b["loop"], b["get_running_loop"](), getattr(b["policy"], "_default_loop", None)):
        if loop is not None and not any(loop is seen for seen in loops):
            loops.append(loop)
    stubborn = []
    for loop in loops:
        try:
            tasks = list(b["all_tasks"](loop))
        except Exception:
            continue
        for task in tasks:
            try:
                close = task.get_coro().close
            except Exception:
                continue
            try:
                close()
            except RuntimeError:
                stubborn.append(task)
            except BaseException:
                pass
    return stubborn

_STUBBORN = []  # tasks whose coroutine would not close: kept, so they are never freed (and never run again)

def _collect():
    """gc.collect(); True when Python code (a finalizer: __del__, a generator's finally, a weakref
    callback) ran during it."""
    ran = []
    def probe(frame, event, arg):
        if event == "call":
            ran.append(1)
    sys.setprofile(probe)
    try:
        _gc.collect()
    finally:
        sys.setprofile(None)
    return bool(ran)

def _restore_dicts(b):
    for d, saved in b["dicts"]:
        if not _same(d, saved):
            if os.environ.get("MCPW_DEBUG_RESET"): print("reset: restoring module", d.get("__name__"), file=sys.__stderr__)
            d.clear()
            d.update(saved)
    for cls, saved in b["classes"]:
        current = vars(cls)
        if not _same(current, saved):
            keep = frozenset(k for k, _ in saved)
            for k in [k for k in current if k not in keep]:
                try: delattr(cls, k)
                except (AttributeError, TypeError): pass
            for k, v in saved:
                if current.get(k, saved) is not v:
                    try: setattr(cls, k, v)
                    except (AttributeError, TypeError): pass

def _containers():
    import copyreg, linecache, logging, warnings
    return [linecache.cache, copyreg.dispatch_table, warnings.filters, logging.root.handlers, logging.Logger.manager.loggerDict, sys.path_importer_cache, _gc.callbacks, _gc.garbage]

def reset(b, drop_callbacks):
    """Back to the baseline b after a snippet. drop_callbacks (the worker's timers) cancels
    whatever the snippet left waiting on the JavaScript event loop and returns how much that was.
    Code of the snippet that still runs here (finally blocks of its tasks, finalizers of its
    garbage) runs before the state is put back; if some runs after it (a finalizer of something
    the restore freed), everything is put back again. Raises when that does not settle, or when a
    coroutine refuses to close: the worker is then replaced."""
    stubborn = _close_tasks(b)
    for attempt in range(3):
        drop_callbacks()
        _collect()
        _restore(b)
        if not _collect() and not drop_callbacks():
            break
    else:
        raise RuntimeError("a snippet's code kept running during the reset")
    if stubborn:
        _STUBBORN.extend(stubborn)
        raise RuntimeError("a task's coroutine would not close")

def _restore(b):
    for name in [n for n in sys.modules if n not in b["module_names"]]:
        del sys.modules[name]
    for name, mod in b["modules"]:
        if sys.modules.get(name) is not mod:
            sys.modules[name] = mod
    if not _unchanged(b):
        _restore_dicts(b)
    d = vars(sys)
    for k in [k for k in d if k not in b["sys_keys"]]:
        del d[k]
    for k, v in b["sys"]:
        if d.get(k, d) is not v:
            d[k] = v
    os.environ.clear(); os.environ.update(b["environ"])
    sys.path[:] = b["path"]; sys.meta_path[:] = b["meta_path"]; sys.path_hooks[:] = b["path_hooks"]
    for container, saved in b["containers"]:
        if isinstance(container, dict):
            container.clear(); container.update(saved)
        else:
            container[:] = saved
    import warnings; warnings._filters_mutated() if hasattr(warnings, "_filters_mutated") else None
    sys.setrecursionlimit(b["recursion"])
    try: os.chdir(b["cwd"])
    except OSError: pass
    _restore_hooks(b)

def prepare(argv_json, env_json, cwd, stdin):
    sys.argv = ["snippet.py", *json.loads(argv_json)]
    os.environ.clear(); os.environ.update(json.loads(env_json))
    sys.stdin = io.StringIO(stdin)
    os.chdir(cwd)
    return {"__name__": "__main__", "__builtins__": builtins}
`;

/** The coroutine a worker awaits for one snippet; it classifies how the snippet ended. */
export const MCPW_PYTHON_RUN = String.raw`
import traceback as _tb

async def run(code, ns):
    from pyodide.code import eval_code_async
    import asyncio
    # Run the snippet in a later turn of the event loop, not inside the call from JavaScript:
    # within that call Pyodide does not deliver the interrupt buffer's KeyboardInterrupt.
    await asyncio.sleep(0)
    try:
        value = await eval_code_async(code, ns, filename="snippet.py")
        return {"exit": 0, "value": to_json(value)}
    except SystemExit as e:
        c = e.code
        if c is None: return {"exit": 0}
        if isinstance(c, int): return {"exit": c}
        return {"exit": 1, "error": str(c) + "\n"}
    except (RecursionError, MemoryError) as e:
        # Formatting a thousand frames (or allocating for them) is slow or fails: name it instead.
        return {"exit": 1, "kind": type(e).__name__, "error": f"{type(e).__name__}: {e}\n"}
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "snippet.py":
            tb = tb.tb_next
        text = "".join(_tb.format_exception(type(e), e, tb))
        return {"exit": 1, "kind": type(e).__name__, "error": text}
`;
