"""
OSErrors shaped as Python's own (errno, strerror, filename), so `except FileNotFoundError` and
friends work, with the mcpw detail in the message, as wrapper/node/node-errors.ts does for Node:
    PermissionError: [Errno 13] Permission denied (mcpw: outside /mount and not in ...): '/etc/x'
"""
import errno as _errno
import os


class ChannelError(Exception):
    """A refused or failed request; `body` is the supervisor's error body (code, message, errno, rule)."""

    def __init__(self, body):
        self.body = body if isinstance(body, dict) else {"code": "internal", "message": str(body)}
        super().__init__(self.body.get("message", "mcpw channel error"))


def os_error(code, target=None, detail=None):
    """OSError(errno, message[, filename]); Python picks the subclass (PermissionError, ...)."""
    num = code if isinstance(code, int) else getattr(_errno, code, None)
    if num is None:
        num, detail = _errno.EIO, "%s: %s" % (code, detail) if detail else code
    message = os.strerror(num) + (" (mcpw: %s)" % detail if detail else "")
    return OSError(num, message) if target is None else OSError(num, message, target)


def from_channel(err, target=None):
    """Maps a supervisor/bridge error body onto the errno a program expects."""
    body = err.body
    kind = body.get("code")
    code = body.get("errno") or {"policy_denied": "EACCES", "timeout": "ETIMEDOUT"}.get(kind, "EIO")
    # A bridge's own errno message only restates the errno; keep the detail of everything else.
    known = isinstance(code, str) and hasattr(_errno, code)
    detail = None if kind == "io_error" and known else body.get("message")
    return os_error(code, target, detail)


def not_supported(name, target):
    return os_error("ENOTSUP", target, "%s is not supported on bridge-served paths" % name)
