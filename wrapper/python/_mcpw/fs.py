"""
File interceptors: builtins.open / io.open and the os functions that take paths. Every path is
routed (router.py): native paths go to the original function untouched, bridge paths become
sandbox.op requests (bridgefs.py), and paths outside the policy fail with the rule named.

Only the os module's attributes are replaced: importlib uses posix directly, so imports never pay
for this. The wrappers are added to os.supports_follow_symlinks like the originals, but not to
os.supports_dir_fd / os.supports_fd, so shutil.rmtree and friends pick their path-based forms,
which are routed.
"""
import builtins
import io
import os
import sys

from . import bridgefs, context
from .errors import ChannelError, from_channel, not_supported, os_error
from .router import BRIDGE, DENIED, NATIVE

_orig = {}


def _route(ctx, arg, write, dir_fd=None):
    """Route of one path argument, or None when it is not a path we judge (an fd, a wrong type)."""
    if arg is None or isinstance(arg, int):
        return None
    try:
        p = os.fspath(arg)
    except TypeError:
        return None
    s = os.fsdecode(p) if isinstance(p, bytes) else p
    if dir_fd is not None and not s.startswith("/"):
        return None  # relative to a directory descriptor: only the kernel knows where that is
    return ctx.router.route(s, write)


def _as_given(arg, path):
    """A mapped native path, in the type (str or bytes) the caller used."""
    return os.fsencode(path) if isinstance(os.fspath(arg), bytes) else path


def _refuse(route, arg):
    return os_error(route.code, arg, route.detail)


def _intercept(name, orig, params, write, bridge):
    """
    A wrapper for os.<name>. params: (position, keyword, dir_fd keyword or None) of each path
    argument; write: bool or f(args, kwargs); bridge: f(ctx, abs_paths, args, kwargs) or None.
    """

    def wrapper(*args, **kwargs):
        ctx = context.get()
        w = write(args, kwargs) if callable(write) else write
        found = []  # (position or keyword, argument, route)
        for i, kw, dfd in params:
            where = i if i < len(args) else kw if kw in kwargs else None
            if where is None:
                continue
            arg = args[where] if isinstance(where, int) else kwargs[where]
            found.append((where, arg, _route(ctx, arg, w, kwargs.get(dfd) if dfd else None)))
        for _, arg, r in found:
            if r is not None and r.kind == DENIED:
                raise _refuse(r, arg)
        bridged = [r for _, _, r in found if r is not None and r.kind == BRIDGE]
        target = found[0][1] if found else None
        if not bridged:
            if any(r is not None and r.mapped for _, _, r in found):
                args, kwargs = list(args), dict(kwargs)
                for where, arg, r in found:
                    if r is not None and r.mapped:
                        (args if isinstance(where, int) else kwargs)[where] = _as_given(arg, r.path)
            return orig(*args, **kwargs)
        if len(bridged) != len(found):
            raise os_error("EXDEV", target, "one path is in the sandbox and the other is served by the bridge")
        if bridge is None:
            raise not_supported(name, target)
        try:
            return bridge(ctx, [r.path for r in bridged], args, kwargs)
        except ChannelError as e:
            raise from_channel(e, target) from None

    return wrapper


def _install(name, wrapper):
    orig = getattr(os, name)
    _orig[name] = orig
    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = orig.__doc__
    wrapper.__wrapped__ = orig
    setattr(os, name, wrapper)
    if orig in os.supports_follow_symlinks:
        os.supports_follow_symlinks.add(wrapper)


def _patch(name, params=((0, "path", "dir_fd"),), write=False, bridge=None):
    if hasattr(os, name):
        _install(name, _intercept(name, getattr(os, name), params, write, bridge))


def _arg(args, kwargs, i, kw, default=None):
    return args[i] if i < len(args) else kwargs.get(kw, default)


# ---- bridge implementations -------------------------------------------------------------------

def _stat(follow_default):
    return lambda ctx, p, a, k: bridgefs.stat(ctx, p[0], k.get("follow_symlinks", follow_default))


def _listdir(ctx, p, a, k):
    names = [e["name"] for e in bridgefs.list_dir(ctx, p[0])]
    return [os.fsencode(n) for n in names] if isinstance(os.fspath(_arg(a, k, 0, "path")), bytes) else names


def _scandir(ctx, p, a, k):
    return bridgefs.scandir(ctx, _arg(a, k, 0, "path"), p[0])


def _mkdir(ctx, p, a, k):
    mode = _arg(a, k, 1, "mode", 0o777)
    ctx.op(op="fs.mkdir", path=p[0], recursive=False, fileMode=mode & 0o777 & ~bridgefs.UMASK)


def _unlink(ctx, p, a, k):
    if bridgefs.stat(ctx, p[0], False).st_mode & 0o170000 == 0o040000:
        raise os_error("EISDIR", _arg(a, k, 0, "path"))
    ctx.op(op="fs.rm", path=p[0], recursive=False, force=False)


def _rmdir(ctx, p, a, k):
    target = _arg(a, k, 0, "path")
    if bridgefs.stat(ctx, p[0], False).st_mode & 0o170000 != 0o040000:
        raise os_error("ENOTDIR", target)
    if bridgefs.list_dir(ctx, p[0]):
        raise os_error("ENOTEMPTY", target)
    ctx.op(op="fs.rm", path=p[0], recursive=True, force=False)


def _rename(ctx, p, a, k):
    ctx.op(op="fs.rename", **{"from": p[0], "to": p[1]})


def _readlink(ctx, p, a, k):
    target = ctx.op(op="fs.readlink", path=p[0])["target"]
    return os.fsencode(target) if isinstance(os.fspath(_arg(a, k, 0, "path")), bytes) else target


def _truncate(ctx, p, a, k):
    length = _arg(a, k, 1, "length")
    data = bridgefs.read_all(ctx, p[0])
    bridgefs.write_all(ctx, p[0], data[:length] + b"\0" * max(0, length - len(data)), "overwrite")


def _os_open_write(a, k):
    flags = _arg(a, k, 1, "flags", 0)
    return (flags & os.O_ACCMODE) != os.O_RDONLY or bool(flags & (os.O_CREAT | os.O_TRUNC | os.O_APPEND))


def _os_open(ctx, p, a, k):
    return bridgefs.open_fd(ctx, p[0], _arg(a, k, 1, "flags", 0), _arg(a, k, 2, "mode", 0o777))


def _os_close(fd):
    f = bridgefs.open_file(fd)
    if f is None:
        return _orig["close"](fd)
    try:
        bridgefs.sync_and_forget(context.get(), fd, f.path)
    finally:
        _orig["close"](fd)


def _access(path, mode, *, dir_fd=None, effective_ids=False, follow_symlinks=True):
    ctx = context.get()
    r = _route(ctx, path, bool(mode & os.W_OK), dir_fd)
    if r is None or r.kind == NATIVE:
        p = _as_given(path, r.path) if r is not None and r.mapped else path
        return _orig["access"](p, mode, dir_fd=dir_fd, effective_ids=effective_ids, follow_symlinks=follow_symlinks)
    if r.kind == DENIED:
        return False
    try:
        st = bridgefs.stat(ctx, r.path, follow_symlinks)
    except (ChannelError, OSError):
        return False
    if mode & os.X_OK and not st.st_mode & 0o111:
        return False
    return not (mode & os.W_OK) or ctx.router.writable_path(r.path)


# ---- open() -------------------------------------------------------------------------------------

_FLAGS = {
    "r": os.O_RDONLY,
    "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
    "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND,
    "x": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
}


def _parse_mode(mode):
    """(kind r/w/a/x, updating, binary), or None for a mode open() itself must reject."""
    if not isinstance(mode, str):
        return None
    chars = set(mode)
    kinds = [c for c in "rwax" if c in chars]
    if chars - set("rwaxb+t") or len(chars) != len(mode) or len(kinds) != 1 or {"b", "t"} <= chars:
        return None
    return kinds[0], "+" in chars, "b" in chars


class _BridgeFileIO(io.FileIO):
    """The raw layer of a bridge file: a memfd whose changes go to the bridge on flush and close."""

    def flush(self):
        super().flush()
        if self.writable():
            bridgefs._call(lambda: bridgefs.sync_fd(context.get(), self.fileno()), self.name)

    def close(self):
        if self.closed:
            return
        try:
            if self.closefd:
                bridgefs.sync_and_forget(context.get(), self.fileno(), self.name)
            elif self.writable():
                self.flush()
        finally:
            super().close()


def _syncing(base):
    class Buffered(base):
        # Buffered layers do not pass flush() on to their raw file; this one does.
        def flush(self):
            super().flush()
            self.raw.flush()

    Buffered.__name__ = Buffered.__qualname__ = base.__name__
    return Buffered


_BufferedWriter = _syncing(io.BufferedWriter)
_BufferedRandom = _syncing(io.BufferedRandom)


def _stream(fd, parsed, mode, buffering, encoding, errors, newline, closefd, name):
    """What io.open builds on a descriptor, with layers that send writes to the bridge."""
    kind, updating, binary = parsed
    if binary and (encoding is not None or errors is not None or newline is not None):
        raise ValueError("binary mode doesn't take an encoding, errors or newline argument")
    raw = _BridgeFileIO(fd, kind + ("+" if updating else ""), closefd=closefd)
    raw.name = name
    line_buffering = buffering == 1
    if buffering in (1, -1) or buffering is None:
        buffering = io.DEFAULT_BUFFER_SIZE
    if buffering == 0:
        if binary:
            return raw
        raw.close()
        raise ValueError("can't have unbuffered text I/O")
    cls = _BufferedRandom if updating else io.BufferedReader if kind == "r" else _BufferedWriter
    buffer = cls(raw, buffering)
    if binary:
        return buffer
    text = io.TextIOWrapper(buffer, encoding, errors, newline, line_buffering)
    text.mode = mode
    return text


def _open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True, opener=None):
    orig = _orig["io.open"]
    parsed = _parse_mode(mode)
    if isinstance(file, int):
        if parsed is not None and bridgefs.open_file(file) is not None:
            return _stream(file, parsed, mode, buffering, encoding, errors, newline, closefd, file)
        return orig(file, mode, buffering, encoding, errors, newline, closefd, opener)
    ctx = context.get()
    r = _route(ctx, file, parsed is None or parsed[0] != "r" or parsed[1])
    if r is None or r.kind == NATIVE:
        f = _as_given(file, r.path) if r is not None and r.mapped else file
        return orig(f, mode, buffering, encoding, errors, newline, closefd, opener)
    if r.kind == DENIED:
        raise _refuse(r, file)
    if parsed is None:  # let io.open say what is wrong with the mode
        return orig(file, mode, buffering, encoding, errors, newline, closefd, opener)
    if opener is not None or not closefd:
        raise os_error("ENOTSUP", file, "open() with opener= or closefd=False is not supported on bridge-served paths")
    flags = _FLAGS[parsed[0]]
    if parsed[1]:
        flags = (flags & ~os.O_ACCMODE) | os.O_RDWR
    try:
        fd = bridgefs.open_fd(ctx, r.path, flags, 0o666)
    except ChannelError as e:
        raise from_channel(e, file) from None
    try:
        return _stream(fd, parsed, mode, buffering, encoding, errors, newline, True, file)
    except BaseException:
        bridgefs.forget_fd(fd)
        _orig["close"](fd)
        raise


def install():
    _orig["io.open"] = io.open
    _open.__name__ = _open.__qualname__ = "open"
    _open.__doc__ = io.open.__doc__
    _open.__wrapped__ = io.open
    builtins.open = io.open = _open
    one = ((0, "path", "dir_fd"),)
    two = ((0, "src", "src_dir_fd"), (1, "dst", "dst_dir_fd"))
    _patch("stat", one, False, _stat(True))
    _patch("lstat", one, False, _stat(False))
    _patch("listdir", ((0, "path", None),), False, _listdir)
    _patch("scandir", ((0, "path", None),), False, _scandir)
    _patch("mkdir", one, True, _mkdir)
    _patch("rmdir", one, True, _rmdir)
    _patch("remove", one, True, _unlink)
    _patch("unlink", one, True, _unlink)
    _patch("rename", two, True, _rename)
    _patch("replace", two, True, _rename)
    _patch("readlink", one, False, _readlink)
    _patch("truncate", ((0, "path", None),), True, _truncate)
    _patch("open", one, _os_open_write, _os_open)
    for name in ("chmod", "chown", "lchown", "utime", "mkfifo", "mknod", "chdir", "chroot"):
        _patch(name, ((0, "path", "dir_fd"),), name != "chdir")
    _patch("link", two, True)
    _patch("symlink", ((1, "dst", "dir_fd"),), True)
    for name in ("statvfs", "pathconf", "listxattr", "getxattr"):
        _patch(name, ((0, "path", None),), False)
    for name in ("setxattr", "removexattr"):
        _patch(name, ((0, "path", None),), True)
    _install("access", _access)
    _install("close", _os_close)
    # A shutil imported before us (a .pth file can do that) chose rmtree's fd-based form from the
    # original functions; that form cannot walk bridge directories.
    shutil = sys.modules.get("shutil")
    if shutil is not None and hasattr(shutil, "_use_fd_functions"):
        shutil._use_fd_functions = False
