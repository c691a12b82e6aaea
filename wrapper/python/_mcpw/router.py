"""
Where a path is served, decided exactly as wrapper/node/path-router.ts decides it: paths the policy
lists (filesystem.writable / filesystem.readonly; the deepest listed root decides whether a path
may be written) by the bridge, seen at the same path; /mount and
the sandbox's own view natively; anything else nowhere (EACCES, naming the rule).
"""
import os
import posixpath

MOUNT = "/mount"
NATIVE, BRIDGE, DENIED = "native", "bridge", "denied"
OUTSIDE = "outside /mount and not in policy filesystem.readonly or filesystem.writable"


def within(p, root):
    return p == root or p.startswith(root if root == "/" else root + "/")


def _roots(paths):
    return tuple(r.rstrip("/") or "/" for r in paths or ())


class Route:
    __slots__ = ("kind", "path", "code", "detail", "mapped")

    def __init__(self, kind, path, code=None, detail=None, mapped=False):
        self.kind, self.path, self.code, self.detail = kind, path, code, detail
        # True when a native path is not the one asked for (/mount mapped onto the workspace).
        self.mapped = mapped


class PathRouter:
    def __init__(self, config):
        self.isolated = bool(config.get("isolated", True))
        self.workspace = config.get("workspace") or MOUNT
        self.view = _roots(config.get("view"))
        self.readonly = _roots(config.get("readonly"))
        self.writable = _roots(config.get("writable"))

    @staticmethod
    def absolute(p):
        """Absolute, normalised form of a str path; None when the native call should judge it."""
        if "\0" in p:
            return None
        if not p.startswith("/"):
            try:
                p = os.getcwd() + "/" + p
            except OSError:
                return None
        p = posixpath.normpath(p)
        return "/" + p.lstrip("/") if p.startswith("//") else p

    def route(self, p, write):
        """Route for a str path, or None when the path is not ours to judge."""
        abs_path = self.absolute(p)
        if abs_path is None:
            return None
        rule = self.rule(abs_path)
        if rule == "writable":
            return Route(BRIDGE, abs_path)
        if rule == "readonly":
            if write:
                return Route(DENIED, abs_path, "EROFS", "%s is read-only (filesystem.readonly)" % abs_path)
            return Route(BRIDGE, abs_path)
        if not self.isolated and within(abs_path, MOUNT):
            return Route(NATIVE, self.workspace + abs_path[len(MOUNT):], mapped=True)
        if abs_path == "/" or any(within(abs_path, r) for r in self.view):
            return Route(NATIVE, abs_path)
        return Route(DENIED, abs_path, "EACCES", OUTSIDE)

    def rule(self, abs_path):
        """"readonly", "writable" or None: the deepest listed root containing the path decides (the
        same path listed both ways is read-only), as wrapper/path-rules.ts decides it."""
        best, depth = None, -1
        for kind, roots in (("readonly", self.readonly), ("writable", self.writable)):
            for r in roots:
                if within(abs_path, r) and len(r) > depth:
                    best, depth = kind, len(r)
        return best

    def writable_path(self, abs_path):
        return self.rule(abs_path) == "writable"
