"""
mcpw's Python interceptors, the counterpart of the Node preload (wrapper/node/preload.ts): files,
network (sockets, name resolution) and processes, so the program gets clear errors and its allowed
privileged work goes to the bridge. Convenience and semantics; the boundary is the kernel
(namespaces, seccomp, landlock): code that goes around this (ctypes, C extensions, raw _socket or
posix calls) gets no further than the sandbox lets it.

socket and subprocess are patched the moment they are imported (an import hook), not imported
here: start-up stays cheap for programs that never use them.
"""
import os
import sys

from . import context


class _PatchOnImport:
    """A meta path finder that patches chosen modules right after they execute."""

    def __init__(self, hooks):
        self.hooks = hooks

    def find_spec(self, name, path=None, target=None):
        hook = self.hooks.get(name)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader, lambda module: self._patched(name, module, hook))
        return spec

    def _patched(self, name, module, hook):
        self.hooks.pop(name, None)
        if not self.hooks and self in sys.meta_path:
            sys.meta_path.remove(self)
        hook(module)


class _PatchingLoader:
    def __init__(self, loader, after):
        self._loader, self._after = loader, after

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        # Nothing else should ever see this wrapper.
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        self._after(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


def _patch_socket(module):
    from . import net

    net.install(module)


def _patch_subprocess(module):
    from . import procs

    procs.install_subprocess(module)


def install(directory):
    context.configure(directory)
    from . import fs, procs

    fs.install()
    procs.install_os()
    # The sandbox's proxy serves programs that cannot be intercepted. This process is: its own
    # urllib / requests / pip connect through tunnels (name-based checks, real exceptions), while
    # its children get the proxy variables back (procs captured them at import).
    for name in procs._PROXY_VARS:
        os.environ.pop(name, None)
    os.register_at_fork(after_in_child=context.after_fork_in_child)
    hooks = {}
    for name, hook in (("socket", _patch_socket), ("subprocess", _patch_subprocess)):
        if name in sys.modules:
            hook(sys.modules[name])
        else:
            hooks[name] = hook
    if hooks:
        sys.meta_path.insert(0, _PatchOnImport(hooks))
