"""
Shared by the Python escape probes. A probe file maps attack names to functions:

    python3 <file>.py <attack>[,<attack>...] '<targets as JSON>'

The function tries the attack once. It returns a sentence saying what it observed when the attack
worked (the secret's content, bytes echoed by a host listener, a syscall's success): the probe
prints ESCAPED. It raises OSError (the errno of the call that failed) or Blocked (an observation
without an errno, e.g. NO_REPLY) when it did not: BLOCKED. One JSON line goes to stdout:

    {"attack": ..., "result": "ESCAPED" | "BLOCKED", "code": errno name or observation, "detail": ...}

Only the standard library; the kernel is reached through ctypes calling libc (and syscall(2) for
calls libc has no wrapper for), so the sandbox's interceptors are not in the way unless a probe
means to go through them.
"""
import ctypes
import errno
import json
import os
import platform
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

# The syscalls probes call by number: [x86_64, aarch64].
SYSCALLS = {
    "io_uring_setup": (425, 425),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "add_key": (248, 217),
    "keyctl": (250, 219),
    "clone": (56, 220),
    "process_vm_readv": (310, 270),
    "userfaultfd": (323, 282),
}
ARCH = 0 if platform.machine() == "x86_64" else 1


class Blocked(Exception):
    """The attack did not work, seen otherwise than through an errno."""

    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code


def fail(what):
    """Raises the OSError for the errno of the libc call that just failed."""
    e = ctypes.get_errno()
    raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def check(ret, what):
    """A libc call's result, or the OSError of its errno when it returned -1."""
    if ret == -1 or (ret is not None and ret < 0):
        fail(what)
    return ret


def syscall(name, *args):
    return check(libc.syscall(SYSCALLS[name][ARCH], *args), name)


def raw_open(path, flags=os.O_RDONLY, mode=0o600):
    return check(libc.open(path.encode() if isinstance(path, str) else path, flags, mode), "open(%s)" % path)


def raw_read(fd, size=4096):
    buf = ctypes.create_string_buffer(size)
    n = check(libc.read(fd, buf, size), "read")
    return buf.raw[:n]


def raw_write(fd, data):
    return check(libc.write(fd, data, len(data)), "write")


def read_secret(path, expected):
    """Reads `path` through libc; returns the escape sentence when it holds the secret."""
    fd = raw_open(path)
    try:
        data = raw_read(fd).decode(errors="replace").strip()
    finally:
        libc.close(fd)
    if data != expected:
        raise Blocked("WRONG_CONTENT", "read %r from %s, not the secret" % (data[:40], path))
    return "read the secret %r through %s" % (data[:12] + "...", path)


def errno_name(code):
    return errno.errorcode.get(code, str(code))


def emit(attack, result, code=None, detail=""):
    print(json.dumps({"attack": attack, "result": result, "code": code, "detail": str(detail)[:500]}), flush=True)


def run_one(name, attack, targets, fatal):
    try:
        detail = attack(targets)
    except OSError as e:
        emit(name, "BLOCKED", errno_name(e.errno) if e.errno else type(e).__name__, e)
        if fatal:
            raise
        return
    except Blocked as b:
        emit(name, "BLOCKED", b.code, b)
        return
    except MemoryError:
        emit(name, "BLOCKED", "ENOMEM", "MemoryError")
        if fatal:
            raise
        return
    emit(name, "ESCAPED", None, detail)


def main(attacks, fatal=()):
    """Runs the attacks named (comma-separated) by argv[1], one line each. An attack in `fatal` (a
    bomb) runs alone: its error is reported and then raised again, so the process dies of it as a
    real bomb would, and the sandbox's exit reason has to name the limit."""
    names = sys.argv[1].split(",")
    targets = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    for name in names:
        if name not in attacks:
            emit(name, "ERROR", "UNKNOWN_ATTACK", "no attack %r in %s" % (name, sys.argv[0]))
            sys.exit(2)
    for name in names:
        run_one(name, attacks[name], targets, name in fatal and len(names) == 1)
