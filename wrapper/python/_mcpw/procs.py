"""
Process interceptors, as wrapper/node/child-process-intercept.ts does for Node. A program runs only
if the policy lists it, by basename or exact absolute path:
  exec.allow      it runs inside the sandbox (same namespaces and limits), and keeps PYTHONPATH,
                  NODE_OPTIONS and MCPW_CHANNEL_DIR even when the caller passes its own env, so it
                  is intercepted too;
  exec.viaBridge  `python -S mcpw_exec.py <program> <args>` runs instead: the shim asks the bridge
                  to run it on the host and relays its output and exit status;
anything else fails with PermissionError (EACCES) naming the rule. A shell command line (shell=True,
os.system, os.popen) is judged as the shell, /bin/sh: what the shell then starts is the kernel
layer's business. None of this bounds what code runs in the sandbox (see wrapper/executables.ts):
it keeps a well-behaved program to its policy; the kernel layers bound what any code can do.
"""
import os
import sys

from . import context
from .context import EXEC_SHIM
from .errors import os_error

SANDBOX, BRIDGE, DENIED = "sandbox", "bridge", "denied"
SHELL = "/bin/sh"
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")
_orig = {}
# Captured at start-up, before the program can change os.environ.
_start_env = {k: os.environ[k] for k in _PROXY_VARS if k in os.environ}


def _listed(program, entries):
    base = os.path.basename(program)
    for e in entries:
        if (e == program) if e.startswith("/") else (e == base):
            return e
    return None


def _shim_argv():
    return [sys.executable, "-S", EXEC_SHIM]


def verdict(program, argv=None):
    """(SANDBOX | BRIDGE | DENIED, the command the bridge should run)."""
    if argv is not None and program == sys.executable and list(argv[1:3]) == _shim_argv()[1:]:
        return SANDBOX, None  # our own shim
    ctx = context.get()
    if _listed(program, ctx.exec_allow):
        return SANDBOX, None
    entry = _listed(program, ctx.exec_via_bridge)
    if entry:
        # A bare name is found on the bridge's own search path; an absolute entry is run as listed.
        return BRIDGE, program if entry.startswith("/") else os.path.basename(program)
    return DENIED, None


def denied_error(program):
    return os_error("EACCES", program, '"%s" is not in policy exec.allow or exec.viaBridge' % os.path.basename(program))


def required_env():
    ctx = context.get()
    env = dict(_start_env)
    env["MCPW_CHANNEL_DIR"] = ctx.directory
    env["PYTHONPATH"] = context.LIB_DIR
    if ctx.node_import:
        env["NODE_OPTIONS"] = ctx.node_import
    return env


def child_env(env, extra=None):
    """The caller's env (None: ours), with what keeps a child intercepted put back, plus `extra`."""
    base = os.environ if env is None else env
    need = required_env()
    as_bytes = any(isinstance(k, bytes) for k in base)
    enc = os.fsencode if as_bytes else (lambda s: s)
    changes = {}
    for k, v in need.items():
        cur = base.get(enc(k))
        cur = os.fsdecode(cur) if cur is not None else None
        if k == "PYTHONPATH":
            new = v if not cur else cur if v in cur.split(os.pathsep) else v + os.pathsep + cur
        elif k == "NODE_OPTIONS":
            new = v if not cur else cur if v in cur else cur + " " + v
        else:
            new = v
        if new != cur:
            changes[k] = new
    changes.update(extra or {})
    if not changes:
        return env
    out = dict(base)
    out.update((enc(k), enc(v)) for k, v in changes.items())
    return out


def _strings(argv):
    return [os.fsdecode(a) for a in argv]


def shim_command(command, args):
    return _shim_argv() + [command] + _strings(args)


# ---- subprocess.Popen -------------------------------------------------------------------------

def install_subprocess(subprocess):
    popen = getattr(subprocess, "Popen", None)
    orig = getattr(popen, "_execute_child", None)
    if orig is None or getattr(subprocess, "_mswindows", False):
        return
    names = orig.__code__.co_varnames[1 : orig.__code__.co_argcount]
    at = {n: names.index(n) for n in ("args", "executable", "env", "shell", "p2cread") if n in names}

    def _execute_child(self, *a, **kw):
        a = list(a)

        def get(n, default=None):
            return a[at[n]] if n in at and at[n] < len(a) else kw.get(n, default)

        def put(n, v):
            if n in at and at[n] < len(a):
                a[at[n]] = v
            else:
                kw[n] = v

        args, executable, shell = get("args"), get("executable"), get("shell", False)
        if isinstance(args, (str, bytes, os.PathLike)):
            argv = [args]
        else:
            argv = list(args)
            put("args", argv)
        if shell:
            program = os.fsdecode(executable) if executable is not None else SHELL
            real_argv = [program, "-c"] + _strings(argv)
        else:
            program = os.fsdecode(executable if executable is not None else argv[0])
            real_argv = argv
        v, command = verdict(program, real_argv)
        if v == DENIED:
            raise denied_error(program)
        if v == BRIDGE:
            new_argv = shim_command(command, real_argv[1:])
            put("args", new_argv)
            put("executable", None)
            put("shell", False)
        # The shim forwards stdin only when the caller gave the child one of its own: an inherited
        # stdin (an MCP server's protocol stream) must not be read away.
        stdin = {"MCPW_EXEC_STDIN": "1"} if v == BRIDGE and get("p2cread", -1) != -1 else None
        put("env", child_env(get("env"), stdin))
        return orig(self, *a, **kw)

    _execute_child.__wrapped__ = orig
    popen._execute_child = _execute_child


# ---- os.system, os.exec*, os.spawn*, os.posix_spawn* ------------------------------------------

def _status(returncode):
    """A Popen returncode as the wait status os.system returns."""
    return (returncode & 0xFF) << 8 if returncode >= 0 else -returncode


def _system(command):
    v, cmd = verdict(SHELL)
    if v == DENIED:
        raise denied_error(SHELL)
    if v == SANDBOX:
        return _orig["system"](command)
    import subprocess

    return _status(subprocess.call(shim_command(cmd, ["-c", os.fsdecode(command)])))


def _exec_wrapper(name, with_env):
    orig = getattr(os, name)

    def wrapper(path, argv, *rest, **kw):
        if isinstance(path, int):  # fexecve: the kernel decides
            return orig(path, argv, *rest, **kw)
        program = os.fsdecode(path)
        v, command = verdict(program, argv)
        if v == DENIED:
            raise denied_error(program)
        if with_env:
            env = rest[0] if rest else kw.pop("env")
            rest = (child_env(env),) + tuple(rest[1:])
        if v == BRIDGE:
            path, argv = sys.executable, shim_command(command, list(argv)[1:])
        return orig(path, argv, *rest, **kw)

    return wrapper


def _spawn_wrapper(name):
    orig = getattr(os, name)

    def wrapper(mode, file, args, *rest):
        # The child execs through the patched os.execv/execve, which rewrites viaBridge programs;
        # a refusal is raised here, in the parent, rather than as exit status 127.
        if verdict(os.fsdecode(file), args)[0] == DENIED:
            raise denied_error(os.fsdecode(file))
        return orig(mode, file, args, *rest)

    return wrapper


def install_os():
    patches = {"system": _system}
    for name in ("execv", "execve", "posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            patches[name] = _exec_wrapper(name, name != "execv")
    for name in ("spawnv", "spawnve", "spawnvp", "spawnvpe"):
        if hasattr(os, name):
            patches[name] = _spawn_wrapper(name)
    for name, fn in patches.items():
        _orig[name] = getattr(os, name)
        fn.__name__ = fn.__qualname__ = name
        fn.__doc__ = _orig[name].__doc__
        fn.__wrapped__ = _orig[name]
        setattr(os, name, fn)
