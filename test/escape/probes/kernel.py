"""Escape probes: kernel interfaces a sandbox must not reach (each call is harmless on its own)."""
import ctypes
import os
import struct

from _probe import check, libc, main, syscall

CLONE_NEWUSER = 0x10000000
AF_INET, AF_NETLINK, AF_PACKET = 2, 16, 17
NETLINK_AUDIT = 9
ADDR_NO_RANDOMIZE = 0x0040000
TIOCSTI = 0x5412
SOCK_RAW = 3
IPPROTO_ICMP = 1
ETH_P_ALL_BE = 0x0300  # htons(ETH_P_ALL)


def mount_tmpfs(t):
    libc.mkdir(b"mnt", 0o755)
    check(libc.mount(b"none", b"mnt", b"tmpfs", 0, None), "mount(tmpfs)")
    libc.umount2(b"mnt", 0)
    return "mounted a tmpfs (and unmounted it)"


def unshare_userns(t):
    check(libc.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
    return "made a new user namespace (all capabilities inside it)"


def closed(fd, what):
    """Every fd an attack gets is closed at once: the call succeeding is the escape."""
    libc.close(fd)
    return "%s gave fd %d (closed)" % (what, fd)


def raw_socket(t):
    return closed(check(libc.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), "socket(AF_INET, SOCK_RAW)"), "socket(AF_INET, SOCK_RAW)")


def packet_socket(t):
    return closed(check(libc.socket(AF_PACKET, SOCK_RAW, ETH_P_ALL_BE), "socket(AF_PACKET, SOCK_RAW)"), "socket(AF_PACKET) (every frame on the interfaces)")


def netlink_audit(t):
    """Netlink families other than NETLINK_ROUTE talk to kernel subsystems (audit, uevents, xfrm)."""
    return closed(check(libc.socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT), "socket(AF_NETLINK, NETLINK_AUDIT)"), "socket(AF_NETLINK, NETLINK_AUDIT)")


def io_uring(t):
    params = ctypes.create_string_buffer(120)
    return closed(syscall("io_uring_setup", 4, params), "io_uring_setup")


def bpf_map(t):
    # BPF_MAP_CREATE of a one-entry BPF_MAP_TYPE_ARRAY.
    attr = ctypes.create_string_buffer(struct.pack("<IIII", 2, 4, 4, 1), 128)
    return closed(syscall("bpf", 0, attr, 128), "bpf(BPF_MAP_CREATE)")


def perf_event(t):
    # PERF_TYPE_SOFTWARE / PERF_COUNT_SW_CPU_CLOCK on ourselves, user space only.
    attr = struct.pack("<IIQQQQQ", 1, 112, 0, 0, 0, 0, 1 | 1 << 5 | 1 << 6).ljust(112, b"\0")
    return closed(syscall("perf_event_open", ctypes.create_string_buffer(attr, 112), 0, -1, -1, 0), "perf_event_open")


def keyring(t):
    # add_key("user", ..., KEY_SPEC_PROCESS_KEYRING): keyrings are not namespaced. The process
    # keyring goes away with the probe, so an unsandboxed run leaves nothing behind.
    payload = b"mcpw-escape"
    key = syscall("add_key", b"user", b"mcpw-escape-probe", payload, len(payload), -2)
    return "added key %d to a kernel keyring (add_key)" % key


def userfaultfd(t):
    """userfaultfd stalls the kernel at a page fault of our choosing: a classic exploit helper."""
    return closed(syscall("userfaultfd", os.O_CLOEXEC), "userfaultfd")


def personality(t):
    """ADDR_NO_RANDOMIZE turns ASLR off for what we run next."""
    libc.personality.restype = ctypes.c_int
    before = check(libc.personality(0xFFFFFFFF), "personality(query)")
    check(libc.personality(ADDR_NO_RANDOMIZE), "personality(ADDR_NO_RANDOMIZE)")
    libc.personality(before)
    return "personality(ADDR_NO_RANDOMIZE) turned ASLR off (and back)"


def tiocsti(t):
    """Pushes a byte into a terminal's input, as if its user typed it (here a new pty's)."""
    master, slave = os.openpty()
    try:
        check(libc.ioctl(slave, TIOCSTI, ctypes.c_char_p(b"#")), "ioctl(TIOCSTI)")
        return "TIOCSTI pushed a byte into a terminal's input (%s)" % os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


main(
    {
        "mount": mount_tmpfs,
        "unshare-userns": unshare_userns,
        "raw-socket": raw_socket,
        "packet-socket": packet_socket,
        "io-uring": io_uring,
        "bpf": bpf_map,
        "perf-event-open": perf_event,
        "keyctl": keyring,
        "netlink-audit": netlink_audit,
        "userfaultfd": userfaultfd,
        "personality": personality,
        "tiocsti": tiocsti,
    }
)
