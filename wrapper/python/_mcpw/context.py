"""
What every interceptor needs: the config (/run/mcpw/config.json, shape in
wrapper/interceptor-config.ts), the path router and the channel. Loaded on first use, so a program
that never touches a file, a socket or a process pays nothing for it.
"""
import _io
import _thread
import os

_lock = _thread.allocate_lock()
_directory = None
_context = None

# mcpw's Python directory (/opt/mcpw/dist/sandbox/python): PYTHONPATH for children, home of the exec shim.
LIB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXEC_SHIM = os.path.join(LIB_DIR, "mcpw_exec.py")


def configure(directory):
    global _directory
    _directory = directory


def _host_port(entry):
    """'host', 'host:port', '[v6]:port' or a bare IPv6 literal → (host, port or None)."""
    e = entry.lower()
    if e.startswith("["):
        host, _, rest = e[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if e.count(":") == 1:
        host, _, port = e.partition(":")
        return host, int(port) if port.isdigit() else None
    return e, None


class Context:
    def __init__(self, directory, config):
        from .channel import Channel
        from .router import PathRouter

        self.directory = directory
        self.config = config
        self.router = PathRouter(config)
        self.channel = Channel(config.get("channelDir") or directory)
        exec_policy = config.get("exec") or {}
        self.exec_allow = tuple(exec_policy.get("allow") or ())
        self.exec_via_bridge = tuple(exec_policy.get("viaBridge") or ())
        self.host_loopback = tuple(_host_port(e) for e in config.get("hostLoopback") or ())
        self.node_import = config.get("nodeImport") or ""

    def op(self, **op):
        return self.channel.call("sandbox.op", {"op": op})


def get():
    """The context, loading the config on first use."""
    global _context
    ctx = _context
    if ctx is not None:
        return ctx
    with _lock:
        if _context is None:
            from . import jsonc

            path = os.path.join(_directory, "config.json")
            try:
                with _io.open(path, "rb") as f:  # _io.open: the unpatched one
                    config = jsonc.loads(f.read())
            except (OSError, ValueError) as e:
                raise OSError(5, "mcpw: cannot read the interceptor config %s: %s" % (path, e)) from None
            _context = Context(_directory, config)
        return _context


def loaded():
    return _context


def after_fork_in_child():
    if _context is not None:
        _context.channel.after_fork_in_child()
