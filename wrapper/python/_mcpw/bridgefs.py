"""
File operations on bridge-served paths (policy filesystem.readonly / filesystem.writable), each a
few `sandbox.op` requests, plus the descriptors that files opened there live in.

A bridge file is read whole when it is opened (unless it is opened only to be replaced or appended
to) into an anonymous in-memory file (memfd), so the program gets a real descriptor: read, seek,
mmap, fileno(), os.fstat and sendfile all work. What the program wrote is sent back on flush() and
close(): the whole content (overwrite), or only the new bytes for files opened to append.
"""
import binascii
import os
import stat as _stat
import zlib

from .errors import ChannelError, from_channel, os_error

CHUNK = 1024 * 1024
# Files are created as the sandbox's usual umask would leave them (the bridge sets the mode as given).
UMASK = 0o022

_TYPE_BITS = {"file": _stat.S_IFREG, "dir": _stat.S_IFDIR, "symlink": _stat.S_IFLNK}


def _b64(data):
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def to_stat_result(r):
    mode = _TYPE_BITS.get(r["type"], _stat.S_IFMT(r["mode"])) | (r["mode"] & 0o7777)
    size = int(r["size"])
    times = [r["atimeMs"] / 1000.0, r["mtimeMs"] / 1000.0, r["ctimeMs"] / 1000.0]
    fields = (mode, int(r["ino"]), int(r["dev"]), int(r["nlink"]), int(r["uid"]), int(r["gid"]), size) + tuple(int(t) for t in times)
    extra = {"st_blksize": 4096, "st_blocks": (size + 511) // 512, "st_rdev": 0}
    for name, t, ms in zip(("atime", "mtime", "ctime"), times, (r["atimeMs"], r["mtimeMs"], r["ctimeMs"])):
        extra["st_" + name] = t
        extra["st_%s_ns" % name] = int(round(ms * 1e6))
    return os.stat_result(fields, extra)


def stat(ctx, path, follow=True):
    return to_stat_result(ctx.op(op="fs.stat", path=path, follow=follow))


def read_all(ctx, path):
    chunks, offset = [], 0
    while True:
        r = ctx.op(op="fs.read", path=path, offset=offset, length=CHUNK)
        data = binascii.a2b_base64(r["data"])
        chunks.append(data)
        offset += len(data)
        if r.get("eof") or not data:
            return b"".join(chunks)


def write_all(ctx, path, data, mode, file_mode=0o644):
    """The first chunk sets the mode (overwrite, append, create); the rest append."""
    view = memoryview(data)
    offset, first = 0, True
    while first or offset < len(view):
        part = view[offset : offset + CHUNK]
        ctx.op(op="fs.write", path=path, data=_b64(part), mode=mode if first else "append", fileMode=file_mode)
        offset += len(part)
        first = False


def list_dir(ctx, path):
    return ctx.op(op="fs.list", path=path)["entries"]


class DirEntry:
    """What os.scandir yields for a bridge directory (os.DirEntry cannot be made from Python)."""

    __slots__ = ("name", "path", "_type", "_abs", "_ctx", "_stat", "_lstat")

    def __init__(self, ctx, parent_arg, parent_abs, name, type_):
        if isinstance(parent_arg, bytes):
            self.name = os.fsencode(name)
            self.path = os.path.join(parent_arg, self.name)
        else:
            self.name = name
            self.path = os.path.join(parent_arg, name)
        self._abs = parent_abs.rstrip("/") + "/" + name
        self._type, self._ctx, self._stat, self._lstat = type_, ctx, None, None

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return "<DirEntry %r>" % (self.name,)

    def stat(self, *, follow_symlinks=True):
        if follow_symlinks and self._type == "symlink":
            if self._stat is None:
                self._stat = _call(lambda: stat(self._ctx, self._abs, True), self.path)
            return self._stat
        if self._lstat is None:
            self._lstat = _call(lambda: stat(self._ctx, self._abs, False), self.path)
        return self._lstat

    def inode(self):
        return self.stat(follow_symlinks=False).st_ino

    def is_dir(self, *, follow_symlinks=True):
        return self._is(_stat.S_ISDIR, "dir", follow_symlinks)

    def is_file(self, *, follow_symlinks=True):
        return self._is(_stat.S_ISREG, "file", follow_symlinks)

    def is_symlink(self):
        return self._type == "symlink"

    def is_junction(self):
        return False

    def _is(self, test, type_, follow_symlinks):
        if self._type != "symlink" or not follow_symlinks:
            return self._type == type_
        try:
            return test(self.stat().st_mode)
        except OSError:
            return False


class ScandirIterator:
    def __init__(self, entries):
        self._it = iter(entries)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._it = iter(())


def scandir(ctx, path_arg, abs_path):
    return ScandirIterator([DirEntry(ctx, path_arg, abs_path, e["name"], e["type"]) for e in list_dir(ctx, abs_path)])


def _call(fn, target):
    try:
        return fn()
    except ChannelError as e:
        raise from_channel(e, target) from None


# ---- descriptors of open bridge files -------------------------------------------------------

class _OpenFile:
    __slots__ = ("path", "writable", "append", "ino", "sent", "signature")

    def __init__(self, path, writable, append, ino, sent, signature):
        self.path, self.writable, self.append, self.ino = path, writable, append, ino
        self.sent = sent  # append mode: bytes of the memfd the bridge already has
        self.signature = signature  # otherwise: (size, crc32) of the content the bridge has


_open_files = {}


def _anonymous_file(path):
    try:
        return os.memfd_create("mcpw:" + os.path.basename(path)[:200], os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        return os.open("/tmp", os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)


def _signature(data):
    return (len(data), zlib.crc32(data))


def _contents(fd, offset=0):
    size = os.fstat(fd).st_size
    parts = []
    while offset < size:
        part = os.pread(fd, min(size - offset, 16 * CHUNK), offset)
        if not part:
            break
        parts.append(part)
        offset += len(part)
    return b"".join(parts)


def open_fd(ctx, path, flags, mode=0o666):
    """os.open semantics for a bridge path; returns a real descriptor (memfd) holding the file."""
    acc = flags & os.O_ACCMODE
    readable = acc in (os.O_RDONLY, os.O_RDWR)
    writable = acc in (os.O_WRONLY, os.O_RDWR)
    append = bool(flags & os.O_APPEND) and writable
    file_mode = mode & 0o777 & ~UMASK
    content = None
    if flags & os.O_CREAT and flags & os.O_EXCL:
        write_all(ctx, path, b"", "create", file_mode)
        content = b""
    elif flags & os.O_TRUNC and writable:
        write_all(ctx, path, b"", "overwrite", file_mode)
        content = b""
    elif flags & os.O_CREAT:
        write_all(ctx, path, b"", "append", file_mode)  # creates it if missing, changes nothing else
    if content is None and (readable or not append):
        content = read_all(ctx, path)  # a directory answers EISDIR
    fd = _anonymous_file(path)
    try:
        if content:
            view, offset = memoryview(content), 0
            while offset < len(view):
                offset += os.write(fd, view[offset:])
            os.lseek(fd, 0, os.SEEK_SET)
        # Opened only to append: the file is not read, but the memfd gets its length (a hole, no
        # memory), so tell() and seek(0, 2) give the file's size, as they would natively.
        kept = len(content) if content is not None else stat(ctx, path).st_size
        if append:
            import fcntl

            os.ftruncate(fd, kept)
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
        if writable:
            _open_files[fd] = _OpenFile(path, True, append, os.fstat(fd).st_ino, kept, _signature(content or b""))
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(fd):
    """The writable bridge file behind a descriptor, if it is one (checked by inode: fds are reused)."""
    f = _open_files.get(fd)
    if f is None:
        return None
    try:
        if os.fstat(fd).st_ino == f.ino:
            return f
    except OSError:
        pass
    _open_files.pop(fd, None)
    return None


def sync_fd(ctx, fd):
    """Sends what changed in a writable bridge file to the bridge."""
    f = open_file(fd)
    if f is None:
        return
    if f.append:
        new = _contents(fd, f.sent)  # only what was added: never the hole before it
        if new:
            write_all(ctx, f.path, new, "append")
            f.sent += len(new)
        return
    data = _contents(fd)
    sig = _signature(data)
    if sig != f.signature:
        write_all(ctx, f.path, data, "overwrite")
        f.signature = sig


def forget_fd(fd):
    _open_files.pop(fd, None)


def sync_and_forget(ctx, fd, target):
    """For close(): the last sync, then the descriptor is no longer a bridge file."""
    try:
        _call(lambda: sync_fd(ctx, fd), target)
    finally:
        forget_fd(fd)
