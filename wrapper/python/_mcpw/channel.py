"""
The in-sandbox end of the mcpw channel (see protocol/channel.ts): a unix socket in the channel
directory, bound into the sandbox at /run/mcpw. A connection starts with the byte 'R', then carries
frames `[u32 big-endian length][u8 kind: 0 text][UTF-8 JSON]` (length counts kind + payload).

One connection per process, one request at a time under a lock (thread safe). A forked child
drops the connection it inherited and opens its own. Only C-level modules are imported here
(JSON through _json, see jsonc.py), so loading this costs next to nothing.
"""
import _socket
import _thread
import os

from . import jsonc
from .errors import ChannelError

MODE_RPC = b"R"
MAX_FRAME = 8 * 1024 * 1024 + 1
DEFAULT_TIMEOUT = 120.0


class ChannelBroken(ChannelError):
    """The connection itself failed (refused, reset, timed out): its state is unknown."""


class Channel:
    def __init__(self, directory):
        self.directory = directory
        self.socket_path = os.path.join(directory, "channel.sock")
        self._lock = _thread.allocate_lock()
        self._owner = None  # the thread with a request in flight on the shared connection
        self._sock = None
        self._pid = os.getpid()
        self._seq = 0

    def tunnel_path(self, ticket):
        return os.path.join(self.directory, "t-%s.sock" % ticket)

    def after_fork_in_child(self):
        """The parent's connection is not ours to use: frames would interleave."""
        self._lock = _thread.allocate_lock()
        self._owner = None
        self._drop()
        self._pid = os.getpid()

    def call(self, method, params, timeout=DEFAULT_TIMEOUT):
        """Sends one request and waits for its answer; raises ChannelError on refusal or failure."""
        me = _thread.get_ident()
        if self._owner == me:
            # Re-entered by this very thread while its request is in flight: a finalizer the
            # garbage collector ran (an unclosed bridge file), or a signal handler. Waiting for the
            # lock would deadlock and sharing the connection would mix up answers: use a new one.
            sock = None
            try:
                sock = self._open()
                return self._exchange(sock, method, params, timeout)
            finally:
                if sock is not None:
                    sock.close()
        with self._lock:
            self._owner = me
            try:
                if self._pid != os.getpid():  # forked without the at-fork hook (os.fork from C code)
                    self._sock = None
                    self._pid = os.getpid()
                if self._sock is None:
                    self._sock = self._open()
                return self._exchange(self._sock, method, params, timeout)
            except ChannelBroken:
                self._drop()  # a late answer may still come on it
                raise
            finally:
                self._owner = None

    def _open(self):
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.settimeout(10.0)
            sock.connect(self.socket_path)
            sock.sendall(MODE_RPC)
        except OSError as e:
            sock.close()
            raise self._failure(e, "connect") from None
        return sock

    def _exchange(self, sock, method, params, timeout):
        self._seq += 1
        rid = "p%d" % self._seq
        payload = jsonc.dumps({"v": 1, "kind": "req", "id": rid, "method": method, "params": params}).encode()
        try:
            sock.settimeout(timeout)
            sock.sendall((len(payload) + 1).to_bytes(4, "big") + b"\0" + payload)
            while True:
                text = _read_frame(sock)
                if text is None:
                    continue
                msg = jsonc.loads(text)
                if msg.get("kind") == "res" and (msg.get("id") == rid or (msg.get("id") is None and msg.get("ok") is False)):
                    break
        except OSError as e:
            raise self._failure(e, method, timeout) from None
        if msg.get("ok"):
            return msg.get("result")
        raise ChannelError(msg.get("error") or {"code": "internal", "message": "malformed error answer"})

    def _failure(self, err, what, timeout=None):
        timed_out = isinstance(err, _socket.timeout)
        reason = "no answer to %s within %ss" % (what, timeout) if timed_out else "%s: %s" % (what, err)
        return ChannelBroken({"code": "timeout" if timed_out else "internal", "message": "mcpw channel %s: %s" % (self.socket_path, reason), "errno": "ETIMEDOUT" if timed_out else "EIO"})

    def _drop(self):
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def _read_frame(sock):
    """One frame's text, or None for a binary frame (not used on this channel)."""
    head = _read_exact(sock, 5)
    length = int.from_bytes(head[:4], "big")
    if length < 1 or length > MAX_FRAME:
        raise OSError("frame length %d is outside 1..%d" % (length, MAX_FRAME))
    body = _read_exact(sock, length - 1)
    return body.decode("utf-8") if head[4] == 0 else None


def _read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionResetError("the supervisor closed the channel")
        buf += chunk
    return bytes(buf)
