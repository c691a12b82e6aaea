"""Escape probes: other processes (the parent, the host's), programs, terminals, namespaces."""
import ctypes
import os
import signal

from _probe import Blocked, check, libc, main, raw_open, raw_read, syscall

PTRACE_SEIZE = 0x4206


def parent_environ(t):
    """The process that started us has a secret in its environment (mcpw's own, inside: whatever
    /proc shows). Look at the parent's environ, then at every process /proc lists."""
    canary = t["canary"].encode()
    pids = [os.getppid()] + [int(p) for p in os.listdir("/proc") if p.isdigit()]
    seen = []
    for pid in pids:
        try:
            data = raw_read(raw_open("/proc/%d/environ" % pid), 1 << 20)
        except OSError as e:
            seen.append("%d:%s" % (pid, os.strerror(e.errno)))
            continue
        seen.append(str(pid))
        if canary in data:
            return "found the canary in /proc/%d/environ" % pid
    raise Blocked("CANARY_NOT_FOUND", "looked at /proc/<pid>/environ of %s" % ", ".join(seen))


def ptrace_parent(t):
    ppid = os.getppid()
    check(libc.ptrace(PTRACE_SEIZE, ppid, None, None), "ptrace(PTRACE_SEIZE, %d)" % ppid)
    return "ptrace-seized the parent, pid %d (released when we exit)" % ppid


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def vm_readv_parent(t):
    """Reads the parent's argv straight out of its memory (address from /proc/<ppid>/stat)."""
    ppid = os.getppid()
    stat = raw_read(raw_open("/proc/%d/stat" % ppid)).decode()
    arg_start = int(stat.rsplit(")", 1)[1].split()[45])  # field 48: arg_start
    buf = ctypes.create_string_buffer(64)
    local, remote = IoVec(ctypes.cast(buf, ctypes.c_void_p), 64), IoVec(arg_start, 64)
    n = syscall("process_vm_readv", ppid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    return "read %d bytes of the parent's memory: %r" % (n, buf.raw[:n].split(b"\0")[0])


def kill_host(t):
    check(libc.kill(t["pid"], signal.SIGTERM), "kill(%d)" % t["pid"])
    return "sent SIGTERM to host pid %d" % t["pid"]


def see_host_process(t):
    cmdline = raw_read(raw_open("/proc/%d/cmdline" % t["pid"])).replace(b"\0", b" ").decode(errors="replace")
    if t["marker"] not in cmdline:
        raise Blocked("OTHER_PROCESS", "pid %d is %r, not the host's process" % (t["pid"], cmdline[:60]))
    return "saw the host's process %d: %s" % (t["pid"], cmdline.strip())


def list_host_pids(t):
    """Walks /proc looking for the host's process by what its command line says."""
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    for pid in pids:
        try:
            args = raw_read(raw_open("/proc/%s/cmdline" % pid)).split(b"\0")
        except OSError:
            continue
        # The marker as a whole argument: our own argv holds it only inside the targets' JSON.
        if t["marker"].encode() in args:
            return "found the host's process %s among %d pids in /proc" % (pid, len(pids))
    raise Blocked("NOT_LISTED", "%d pids in /proc, none of them the host's process" % len(pids))


def setns_host(t):
    fd = raw_open("/proc/%d/ns/mnt" % t["pid"])
    check(libc.setns(fd, 0), "setns(/proc/%d/ns/mnt)" % t["pid"])
    return "entered the mount namespace of pid %d" % t["pid"]


def spawn_shell(t):
    import subprocess

    out = subprocess.run(["/bin/sh", "-c", "echo shell-ran"], capture_output=True, timeout=30).stdout
    if b"shell-ran" not in out:
        raise Blocked("NO_OUTPUT", "the shell printed %r" % out[:60])
    return "subprocess ran /bin/sh"


def execve_shell(t):
    """fork, then execve(/bin/sh) through libc: no interceptor sees it. The child reports on a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 1)
        argv = (ctypes.c_char_p * 4)(b"sh", b"-c", b"echo shell-ran", None)
        envp = (ctypes.c_char_p * 1)(None)
        libc.execve(b"/bin/sh", argv, envp)
        os.write(w, b"execve-failed %d" % ctypes.get_errno())
        os._exit(1)
    os.close(w)
    out = os.read(r, 4096)
    os.waitpid(pid, 0)
    if out.startswith(b"execve-failed"):
        code = int(out.split()[1])
        raise OSError(code, "execve(/bin/sh): %s" % os.strerror(code))
    if b"shell-ran" not in out:
        raise Blocked("NO_OUTPUT", "the child printed %r" % out[:60])
    return "execve(/bin/sh) through ctypes ran a shell"


main(
    {
        "parent-environ": parent_environ,
        "ptrace-parent": ptrace_parent,
        "vm-readv-parent": vm_readv_parent,
        "kill-host": kill_host,
        "see-host-process": see_host_process,
        "setns-host": setns_host,
        "spawn-shell": spawn_shell,
        "execve-shell": execve_shell,
        "list-host-pids": list_host_pids,
    }
)
