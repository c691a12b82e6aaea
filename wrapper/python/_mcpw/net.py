"""
Network interceptors. The sandbox has no route out and no resolver, so:

Names. socket.getaddrinfo (and gethostbyname & co) never resolve a remote name: each name gets a
synthetic address from 198.18.0.0/15 (RFC 2544's benchmarking range, never a real destination),
remembered in a table. connect() maps it back, and the bridge gets the NAME: it resolves it itself
and checks the network policy after resolution (an IP literal would be refused by denyIpLiterals).
IP literals and localhost resolve natively, as they need no resolver.

Connections. connect()/connect_ex() of a TCP socket to anything but the sandbox's own loopback
(loopback addresses the policy names, e.g. 127.0.0.1:8080, are the host's) asks the supervisor
for a tunnel (tunnel.open: the bridge connects, policy checked there), connects a unix socket to
the one-shot socket the supervisor offers it on, and dup2()s that onto the program's socket fd.
The socket object, its fd number, and everything holding either (selectors, asyncio, an ssl
object) stay valid; TLS runs end to end over the tunnel with the real name for SNI and
verification. The tunnel is open when connect returns, so a non-blocking connect simply succeeds
at once, which POSIX allows (asyncio, selectors and connect_ex callers all handle it). The cost:
the tunnel.open round trip blocks the calling thread, an event loop's included.
"""
import _socket
import _thread
import errno
import os

from . import context
from .channel import DEFAULT_TIMEOUT
from .errors import ChannelError, from_channel, os_error

FAKE_BASE = (198 << 24) | (18 << 16)
FAKE_SIZE = 1 << 17
_MAPPED = "::ffff:"


class FakeNames:
    """name ⇄ synthetic address; one address per name for the life of the process."""

    def __init__(self):
        self._lock = _thread.allocate_lock()
        self._by_name = {}
        self._by_address = {}

    def address(self, name):
        with self._lock:
            a = self._by_name.get(name)
            if a is None:
                n = len(self._by_name) + 1
                if n >= FAKE_SIZE - 1:
                    raise _socket.gaierror(_socket.EAI_MEMORY, "mcpw: too many distinct host names")
                a = _socket.inet_ntoa((FAKE_BASE + n).to_bytes(4, "big"))
                self._by_name[name] = a
                self._by_address[a] = name
            return a

    def name(self, address):
        return self._by_address.get(address)


names = FakeNames()
_orig = {}
# Tunnelled sockets, by the inode of their unix socket (dup()ed fds share it): (address, port).
_tunnels = {}
_options = {}


def ip_family(host):
    h = host.split("%", 1)[0]
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, h)
            return family
        except (OSError, ValueError):
            pass
    return None


def is_loopback(host):
    """The same set as net-intercept.ts's LOOPBACK: localhost, 127/8, ::1, 0.0.0.0 and ::."""
    h = host.lower()
    if h == "localhost":
        return True
    family = ip_family(h)
    if family is None:
        return False
    packed = _socket.inet_pton(family, h.split("%", 1)[0])
    if family == _socket.AF_INET:
        return packed[0] == 127 or packed == bytes(4)
    return packed in (bytes(15) + b"\1", bytes(16))


def tunnel_host(host, port, host_loopback):
    """Where a connection to host:port goes, as net-intercept.ts's tunnelHost decides: None to stay
    on the sandbox's own loopback, else the host to ask the bridge for. A loopback destination is
    the host's when the policy names a loopback host for that port, asked for by the name the
    policy gives (exactly that name first), so 127.0.0.1:8080 and localhost:8080 serve each other."""
    if not is_loopback(host):
        return host
    h = host.lower().strip("[]")
    for_port = [eh for eh, ep in host_loopback if ep is None or ep == port]
    if h in for_port:
        return h
    return for_port[0] if for_port else None


def routes_to_host(host, port, host_loopback):
    """Does host:port leave the sandbox (rather than stay on its own loopback)?"""
    return tunnel_host(host, port, host_loopback) is not None


def _own_hostname():
    try:
        return _socket.gethostname().lower()
    except OSError:
        return None


def _remote_name(host, port):
    """The name to hand out a synthetic address for, or None to resolve natively."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return None
    h = host.lower().rstrip(".")
    if not h or h.startswith("[") or ip_family(h) is not None or h == _own_hostname():
        return None
    if h == "localhost":
        # The host's loopback, reached by name, when the policy names it (--allow-net localhost:PORT);
        # else localhost resolves natively, and connect() decides about the address (tunnel_host).
        listed = any(eh == "localhost" and (ep is None or ep == port) for eh, ep in context.get().host_loopback)
        return h if listed else None
    return h if h.isascii() else h.encode("idna").decode("ascii")


def _port_number(port, socktype):
    if port is None:
        return 0
    if isinstance(port, bytes):
        port = port.decode("ascii", "replace")
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    try:
        return _socket.getservbyname(port, "udp" if socktype == _socket.SOCK_DGRAM else "tcp")
    except (OSError, TypeError):
        raise _socket.gaierror(_socket.EAI_SERVICE, "Servname not supported for ai_socktype") from None


def _numeric_port(port):
    try:
        return _port_number(port, 0)
    except OSError:
        return None


_KINDS = ((_socket.SOCK_STREAM, _socket.IPPROTO_TCP), (_socket.SOCK_DGRAM, _socket.IPPROTO_UDP), (_socket.SOCK_RAW, 0))


def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    name = _remote_name(host, _numeric_port(port))
    if name is None:
        return _orig["getaddrinfo"](host, port, family, type, proto, flags)
    if flags & _socket.AI_NUMERICHOST:
        raise _socket.gaierror(_socket.EAI_NONAME, "Name or service not known")
    if family not in (_socket.AF_UNSPEC, _socket.AF_INET, _socket.AF_INET6):
        raise _socket.gaierror(_socket.EAI_FAMILY, "ai_family not supported")
    number = _port_number(port, type)
    address = names.address(name)
    if family == _socket.AF_INET6:
        family, sockaddr = _socket.AF_INET6, (_MAPPED + address, number, 0, 0)
    else:
        family, sockaddr = _socket.AF_INET, (address, number)
    kinds = [(t, p) for t, p in _KINDS if (not type or t == type) and (not proto or p in (0, proto))] or [(type, proto)]
    canon = name if flags & _socket.AI_CANONNAME else ""
    sm = _orig["module"]
    return [(sm.AddressFamily(family), sm.SocketKind(t), p, canon, sockaddr) for t, p in kinds]


def gethostbyname(host):
    name = _remote_name(host, None)
    return _orig["gethostbyname"](host) if name is None else names.address(name)


def gethostbyname_ex(host):
    name = _remote_name(host, None)
    return _orig["gethostbyname_ex"](host) if name is None else (name, [], [names.address(name)])


def gethostbyaddr(ip):
    name = names.name(ip) if isinstance(ip, str) else None
    return _orig["gethostbyaddr"](ip) if name is None else (name, [], [ip])


def getnameinfo(sockaddr, flags):
    name = names.name(sockaddr[0]) if isinstance(sockaddr, tuple) and sockaddr and isinstance(sockaddr[0], str) else None
    if name is None or flags & _socket.NI_NUMERICHOST:
        return _orig["getnameinfo"](sockaddr, flags)
    return name, str(sockaddr[1])


# ---- connections ------------------------------------------------------------------------------

def _destination(sock, address):
    """None (native, untouched), ("native", other address) or ("tunnel", host, port)."""
    if sock.family not in (_socket.AF_INET, _socket.AF_INET6) or sock.type != _socket.SOCK_STREAM:
        return None
    if not isinstance(address, tuple) or len(address) < 2 or not isinstance(address[0], str) or not isinstance(address[1], int):
        return None  # let the native call raise its own TypeError
    host, port = address[0].lower(), address[1]
    if host.startswith(_MAPPED) and "." in host:
        host = host[len(_MAPPED) :]
    if host in ("", "<broadcast>"):
        return None
    ctx = context.get()
    name = names.name(host)
    if name is not None:
        target = tunnel_host(name, port, ctx.host_loopback)
        if target is not None:
            return ("tunnel", target, port)
        local = "127.0.0.1" if sock.family == _socket.AF_INET else "::1"
        return ("native", (local,) + tuple(address[1:]))
    if is_loopback(host):
        target = tunnel_host(host, port, ctx.host_loopback)
        return ("tunnel", target, port) if target is not None else None
    if ip_family(host) is None:
        # A name given straight to connect(): the C resolver would fail here, the bridge will not.
        host = host.rstrip(".")
        if host == _own_hostname():
            return None
    return ("tunnel", host, port)


def _inode(sock):
    try:
        return os.fstat(sock.fileno()).st_ino
    except (OSError, ValueError):
        return None


def _tunnel_of(sock):
    ino = _inode(sock)
    return None if ino is None else _tunnels.get(ino)


def _connect_error(err, host, port):
    body = err.body
    detail = "%s:%s: %s" % (host, port, body.get("message"))
    code = body.get("errno")
    if body.get("code") == "policy_denied" or code == "EACCES":
        return os_error("ECONNREFUSED", None, detail)
    if code in ("ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "ENODATA"):
        return _socket.gaierror(_socket.EAI_NONAME, "Name or service not known (mcpw: %s)" % detail)
    if body.get("code") == "timeout" or code == "ETIMEDOUT":
        return _socket.timeout("timed out (mcpw: %s)" % detail)
    e = from_channel(err)
    return os_error(e.errno, None, detail) if e.errno else e


def _open_tunnel(sock, host, port):
    fd = sock.fileno()
    if fd < 0:
        raise os_error("EBADF")
    if _tunnel_of(sock) is not None:
        raise os_error("EISCONN")
    ctx = context.get()
    timeout = sock.gettimeout()
    try:
        r = ctx.channel.call("tunnel.open", {"host": host, "port": port}, timeout=timeout or DEFAULT_TIMEOUT)
    except ChannelError as e:
        raise _connect_error(e, host, port) from None
    unix = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        unix.settimeout(10.0)
        unix.connect(ctx.channel.tunnel_path(r["ticket"]))
        os.dup2(unix.fileno(), fd, inheritable=os.get_inheritable(fd))
    finally:
        unix.close()
    # The fd is a new open file description: give it the blocking mode the socket object expects.
    sock.settimeout(timeout)
    _tunnels[os.fstat(fd).st_ino] = (r.get("remoteAddress") or host, r.get("remotePort") or port)


def connect(self, address):
    dest = _destination(self, address)
    if dest is None:
        try:
            return _orig["connect"](self, address)
        except ConnectionRefusedError as e:
            raise _local_refusal(self, address, e) from None
    if dest[0] == "native":
        return _orig["connect"](self, dest[1])
    _open_tunnel(self, dest[1], dest[2])


def _local_refusal(sock, address, err):
    """Nothing listens on the sandbox's own loopback: say how the host's would be reached."""
    if not _is_inet(sock) or not isinstance(address, tuple) or not is_loopback(str(address[0])):
        return err
    where = "%s:%s" % tuple(address[:2]) if ":" not in str(address[0]) else "[%s]:%s" % tuple(address[:2])
    return os_error(
        "ECONNREFUSED",
        None,
        "nothing listens on %s inside the sandbox; the host's loopback is reached only where the policy's "
        "network.allowedDomains names it (e.g. --allow-net %s)" % (where, where),
    )


def connect_ex(self, address):
    dest = _destination(self, address)
    if dest is None:
        return _orig["connect_ex"](self, address)
    if dest[0] == "native":
        return _orig["connect_ex"](self, dest[1])
    try:
        _open_tunnel(self, dest[1], dest[2])
    except _socket.gaierror:
        raise  # as the native connect_ex does: name errors are raised, not returned
    except OSError as e:
        return e.errno or errno.ETIMEDOUT
    return 0


def _inet_address(sock, address, port):
    if sock.family == _socket.AF_INET6:
        return (_MAPPED + address if ip_family(address) == _socket.AF_INET else address, port, 0, 0)
    return (address, port)


def _is_inet(sock):
    return sock.family in (_socket.AF_INET, _socket.AF_INET6)


def getpeername(self):
    r = _orig["getpeername"](self)
    if not isinstance(r, tuple) and _is_inet(self):  # a unix address behind an INET socket: a tunnel
        info = _tunnel_of(self)
        if info is not None:
            return _inet_address(self, info[0], info[1])
    return r


def getsockname(self):
    r = _orig["getsockname"](self)
    if not isinstance(r, tuple) and _is_inet(self):
        return _inet_address(self, "0.0.0.0" if self.family == _socket.AF_INET else "::", 0)
    return r


_IP_LEVELS = (_socket.IPPROTO_TCP, _socket.IPPROTO_IP, _socket.IPPROTO_IPV6)


def _kept_option(sock, level, optname):
    """
    Where a TCP/IP-level option of a tunnelled socket is kept, or None for any other socket or
    level. Such options (TCP_NODELAY, keep-alive timers) mean nothing on the unix end of a tunnel;
    the bridge's own connection has TCP_NODELAY set.
    """
    return (_inode(sock), level, optname) if level in _IP_LEVELS and _tunnel_of(sock) is not None else None


def _keep(key, value):
    _options[key] = value[0] if value else None


def _kept(key, buflen):
    v = _options.get(key, 0)
    if buflen:
        return v if isinstance(v, bytes) else int(v or 0).to_bytes(4, "little")[: buflen[0]]
    return v if isinstance(v, int) else 0


def _option_method(name, on_tunnel):
    def method(self, level, optname, *rest):
        try:
            return _orig[name](self, level, optname, *rest)
        except OSError:
            key = _kept_option(self, level, optname)
            if key is None:
                raise
        return on_tunnel(key, rest)

    method.__name__ = method.__qualname__ = name
    return method


setsockopt = _option_method("setsockopt", _keep)
getsockopt = _option_method("getsockopt", _kept)


def install(module):
    cls = module.socket
    _orig["module"] = module
    for name, fn in (("connect", connect), ("connect_ex", connect_ex), ("getpeername", getpeername), ("getsockname", getsockname), ("setsockopt", setsockopt), ("getsockopt", getsockopt)):
        _orig[name] = getattr(cls, name)
        fn.__doc__ = _orig[name].__doc__
        setattr(cls, name, fn)
    for name, fn in (("getaddrinfo", getaddrinfo), ("gethostbyname", gethostbyname), ("gethostbyname_ex", gethostbyname_ex), ("gethostbyaddr", gethostbyaddr), ("getnameinfo", getnameinfo)):
        _orig[name] = getattr(module, name)
        fn.__doc__ = _orig[name].__doc__
        setattr(module, name, fn)
