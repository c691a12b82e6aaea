"""
Escape probes: resource bombs. Each goes to twice the policy limit it is given: getting there is
the escape. A bomb does not handle the error that stops it; it reports it and dies of it, as a
real one would, so the sandbox's exit reason has to name the limit.
"""
import os
import signal
import time

from _probe import main

MiB = 1 << 20


def fork_bomb(t):
    children = []
    try:
        for _ in range(2 * t["maxProcs"]):
            pid = os.fork()
            if pid == 0:
                time.sleep(120)
                os._exit(0)
            children.append(pid)
        return "started %d processes (maxProcs=%d)" % (len(children), t["maxProcs"])
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def memory_bomb(t):
    hoard = [bytearray(16 * MiB) for _ in range(2 * t["memMb"] // 16)]
    return "allocated %d MiB (memMb=%d)" % (16 * len(hoard), t["memMb"])


def huge_file(t):
    fd = os.open("huge.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        chunk = b"\0" * MiB
        for _ in range(2 * t["maxFileMb"]):
            os.write(fd, chunk)
        return "wrote a %d MiB file (maxFileMb=%d)" % (os.fstat(fd).st_size // MiB, t["maxFileMb"])
    finally:
        os.close(fd)
        os.unlink("huge.bin")


def cpu_loop(t):
    budget = 2 * t["cpuSeconds"]
    while time.process_time() < budget:
        pass
    return "used %.1f CPU seconds (cpuSeconds=%d)" % (time.process_time(), t["cpuSeconds"])


def open_files(t):
    fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(2 * t["openFiles"])]
    return "opened %d files (openFiles=%d)" % (len(fds), t["openFiles"])


main(
    {"fork-bomb": fork_bomb, "memory-bomb": memory_bomb, "huge-file": huge_file, "cpu-loop": cpu_loop, "open-files": open_files},
    fatal={"fork-bomb", "memory-bomb", "huge-file", "open-files"},
)
