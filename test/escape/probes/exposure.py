"""
Escape probes: what `mcpw run` exposes around the program itself. Unlike the other probes this file
imports nothing of its own: the test copies it where the attack needs it (directly into /tmp, into a
folder with no package marker, into a project with one), and under mcpw run only the file itself, or
its package with mcpw's workspaces and shared folders hidden, is there. Same output as _probe.py:

    python3 <copy>.py <attack>[,<attack>...] '<targets as JSON>'
    {"attack": ..., "result": "ESCAPED" | "BLOCKED", "code": errno name or observation, "detail": ...}

Only the standard library, through libc (ctypes), so no interceptor is in the way.
"""
import ctypes
import errno
import json
import os
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
AF_UNIX, SOCK_STREAM = 1, 1


class Blocked(Exception):
    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code


def check(ret, what):
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))
    return ret


def read_file(path, expected):
    fd = check(libc.open(path.encode(), os.O_RDONLY), "open(%s)" % path)
    buf = ctypes.create_string_buffer(4096)
    n = check(libc.read(fd, buf, 4096), "read")
    libc.close(fd)
    data = buf.raw[:n].decode(errors="replace").strip()
    if data != expected:
        raise Blocked("WRONG_CONTENT", "read %r from %s" % (data[:40], path))
    return "read %r through %s" % (data[:12] + "...", path)


def host_socket(t):
    """A unix socket directly in the host's /tmp (as another sandbox's channel.sock, an ssh-agent's)."""
    path = t["tmpSocket"]
    fd = check(libc.socket(AF_UNIX, SOCK_STREAM, 0), "socket")
    addr = struct.pack("<H", AF_UNIX) + path.encode() + b"\0"
    check(libc.connect(fd, addr, len(addr)), "connect(%s)" % path)
    payload = b"exposure-probe"
    check(libc.send(fd, payload, len(payload), 0), "send")
    buf = ctypes.create_string_buffer(256)
    n = check(libc.recv(fd, buf, 256, 0), "recv")
    libc.close(fd)
    if buf.raw[:n] != b"ECHO:" + payload:
        raise Blocked("WRONG_REPLY", "%s answered %r" % (path, buf.raw[:n]))
    return "the host's unix socket %s echoed our bytes" % path


def sibling(t):
    """A file next to the script, in a folder that is not a package (/tmp, ~/Downloads)."""
    return read_file(t["sibling"], t["token"])


def other_workspace(t):
    """Another sandbox's workspace under <project>/mount, beside ours."""
    return read_file(t["otherWorkspaceFile"], t["token"])


def shared_folder(t):
    """A world-writable, sticky folder inside the project, where other users can put things."""
    return read_file(t["sharedFile"], t["token"])


ATTACKS = {
    "lone-script-tmp-socket": host_socket,
    "lone-script-tmp-sibling": sibling,
    "lone-script-sibling": sibling,
    "package-other-workspace": other_workspace,
    "package-shared-folder": shared_folder,
    # The same read, with the program given as the project's folder (python3 . runs __main__.py).
    "package-folder-other-workspace": other_workspace,
    # Another sandbox's workspace in the package's ./mount, run from a subfolder (../server.py);
    # and in a subfolder's ./mount, run from the package.
    "package-parent-other-workspace": other_workspace,
    "package-subfolder-other-workspace": other_workspace,
    # A program in a per-user prefix (~/.local/bin): another application's data in that prefix.
    "per-user-tree-data": lambda t: read_file(t["userData"], t["token"]),
}


def emit(attack, result, code=None, detail=""):
    print(json.dumps({"attack": attack, "result": result, "code": code, "detail": str(detail)[:500]}), flush=True)


def main():
    names = sys.argv[1].split(",")
    targets = json.loads(sys.argv[2])
    for name in names:
        try:
            emit(name, "ESCAPED", None, ATTACKS[name](targets))
        except OSError as e:
            emit(name, "BLOCKED", errno.errorcode.get(e.errno, str(e.errno)), e)
        except Blocked as b:
            emit(name, "BLOCKED", b.code, b)
        except KeyError:
            emit(name, "ERROR", "UNKNOWN_ATTACK", "no attack %r" % name)


main()
