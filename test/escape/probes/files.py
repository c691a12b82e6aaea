"""Escape probes: host files, through libc (ctypes), around the sandbox's Python interceptors."""
import os

from _probe import Blocked, check, libc, main, raw_open, raw_read, raw_write, read_secret

O_DIRECTORY = 0o200000
MARKER = b"written by an mcpw escape probe\n"


def secret_abs(t):
    return read_secret(t["secret"], t["token"])


def secret_dotdot(t):
    # Enough ../ to climb from any working directory up to /, then down to the secret.
    return read_secret("../" * 32 + t["secret"].lstrip("/"), t["token"])


def read_through_link(t, make, name):
    """Makes a link (libc.symlink or libc.link) to the secret in the cwd, reads the secret through it."""
    check(make(t["secret"].encode(), name.encode()), make.__name__)
    try:
        return read_secret(name, t["token"])
    finally:
        libc.unlink(name.encode())


def secret_symlink_made(t):
    return read_through_link(t, libc.symlink, "made-link")


def secret_symlink_planted(t):
    # The harness planted this link in the workspace, pointing at the secret's host path.
    return read_secret(t["plantedLink"], t["token"])


def secret_hardlink(t):
    return read_through_link(t, libc.link, "hard-link")


def secret_proc_self_root(t):
    return read_secret("/proc/self/root" + t["secret"], t["token"])


def secret_proc_pid_root(t):
    """The root of pid 1 (the host's init, when /proc is the host's), then of a host process the
    test owns (pid 1 may be out of reach even on the host, e.g. in a container)."""
    tried = []
    for pid in (1, t["rootPid"]):
        try:
            return read_secret("/proc/%d/root%s" % (pid, t["secret"]), t["token"])
        except (OSError, Blocked) as e:
            tried.append("%d: %s" % (pid, e))
    raise Blocked("NO_ROOT", "; ".join(tried))


def leaked_fd(t):
    """A directory fd inherited from the process that started us leads back out of any root."""
    tried = {}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd < 3:
            continue
        try:
            tried[fd] = os.readlink("/proc/self/fd/%d" % fd)
        except OSError as e:
            tried[fd] = str(e)
            continue
        got = libc.openat(fd, t["secretName"].encode(), os.O_RDONLY)
        if got >= 0:
            data = raw_read(got).decode(errors="replace").strip()
            if data == t["token"]:
                return "read the secret through inherited fd %d (%s)" % (fd, tried[fd])
    raise Blocked("NO_LEAKED_FD", "no inherited fd leads to the secret; fds from 3: %s" % tried)


def reopen_stdin_write(t):
    """stdin is a host file opened read-only; /proc/self/fd/0 reopens it, asking for write access."""
    fd = raw_open("/proc/self/fd/0", os.O_WRONLY | os.O_APPEND)
    raw_write(fd, MARKER)
    return "appended to stdin's file %s through /proc/self/fd/0" % os.readlink("/proc/self/fd/0")


def chroot_escape(t):
    """The classic: chroot into a subdirectory while the cwd stays outside it, climb, chroot back."""
    libc.mkdir(b"jail", 0o755)
    check(libc.chroot(b"jail"), "chroot(jail)")
    for _ in range(64):
        libc.chdir(b"..")
    check(libc.chroot(b"."), "chroot(.)")
    return read_secret(t["secret"], t["token"])


def create_in(directory):
    fd = raw_open(os.path.join(directory, "pwned-by-probe"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    raw_write(fd, MARKER)
    libc.close(fd)
    return "created %s/pwned-by-probe" % directory


def write_host_abs(t):
    return create_in(t["hostDir"])


def write_run_dir(t):
    # Inside, /run/mcpw is a host directory (the channel's): mcpw's (0710 root:65534 as root), bound read-only.
    return create_in(t["runDir"])


def chmod_run_dir(t):
    """Landlock does not mediate chmod: a run dir the sandbox could chmod 0777 would let every local
    user reach its channel. The mode is put back at once."""
    path = t["runDir"]
    before = os.stat(path).st_mode & 0o7777
    check(libc.chmod(path.encode(), 0o777), "chmod(%s)" % path)
    after = os.stat(path).st_mode & 0o7777
    libc.chmod(path.encode(), before)
    return "changed the mode of %s from %o to %o (and back)" % (path, before, after)


def planted_setid(name, what):
    """The file `name` in the cwd (the workspace: a host folder) has S_ISUID or S_ISGID: on the host
    it is a set-id program (nosuid binds only the sandbox's view). Removed at once."""
    try:
        mode = os.stat(name).st_mode
        if mode & 0o6000 == 0:
            raise Blocked("NOT_SETID", "%s has mode %o: no set-id bit" % (name, mode & 0o7777))
        st = os.stat(name)
        return "%s: %s has mode %o, owner uid %d (a set-id program on the host)" % (what, name, mode & 0o7777, st.st_uid)
    finally:
        os.unlink(name)


def setuid_copy_chmod(t):
    """Copy a program into the workspace, chmod 6755."""
    with open("/usr/bin/id", "rb") as src, open("planted-id", "wb") as dst:
        dst.write(src.read())
    try:
        check(libc.chmod(b"planted-id", 0o6755), "chmod(planted-id, 6755)")
    except OSError:
        os.unlink("planted-id")
        raise
    return planted_setid("planted-id", "copied /usr/bin/id and chmod 6755")


def setuid_create(t):
    """Create a file with mode 4755 directly (open O_CREAT), without chmod."""
    fd = check(libc.open(b"planted-create", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o4755), "open(planted-create, O_CREAT, 4755)")
    libc.close(fd)
    return planted_setid("planted-create", "open(O_CREAT, 4755)")


def open_for_write(path):
    """Opens a kernel control file for writing and closes it without writing a byte: the open is the
    escape (it needs root's access to the host kernel's file), and nothing on the host changes."""
    fd = raw_open(path, os.O_WRONLY)
    libc.close(fd)
    return "opened %s for writing (closed without writing)" % path


def core_pattern(t):
    """Root's /proc/sys is the host kernel's: core_pattern runs a program as root on every crash."""
    return open_for_write(t.get("corePattern", "/proc/sys/kernel/core_pattern"))


def sysrq_trigger(t):
    """/proc/sysrq-trigger: one byte reboots or crashes the host."""
    return open_for_write(t.get("sysrqTrigger", "/proc/sysrq-trigger"))


def secret_posix_open(t):
    """The posix module's open, under os.open and builtins.open (which an interceptor may wrap)."""
    import posix

    fd = posix.open(t["secret"], posix.O_RDONLY)
    try:
        data = posix.read(fd, 4096).decode(errors="replace").strip()
    finally:
        posix.close(fd)
    if data != t["token"]:
        raise Blocked("WRONG_CONTENT", "posix.open gave %r" % data[:40])
    return "read the secret with posix.open"


main(
    {
        "secret-abs": secret_abs,
        "secret-dotdot": secret_dotdot,
        "secret-symlink-made": secret_symlink_made,
        "secret-symlink-planted": secret_symlink_planted,
        "secret-hardlink": secret_hardlink,
        "secret-proc-self-root": secret_proc_self_root,
        "secret-proc-pid-root": secret_proc_pid_root,
        "leaked-fd": leaked_fd,
        "reopen-stdin-write": reopen_stdin_write,
        "chroot-escape": chroot_escape,
        "write-host-abs": write_host_abs,
        "write-run-dir": write_run_dir,
        "chmod-run-dir": chmod_run_dir,
        "setuid-copy-chmod": setuid_copy_chmod,
        "setuid-create": setuid_create,
        "core-pattern": core_pattern,
        "sysrq-trigger": sysrq_trigger,
        "secret-posix-open": secret_posix_open,
    }
)
