"""
mcpw's entry point into every Python process in a sandbox (PYTHONPATH=/opt/mcpw/dist/sandbox/python). Outside a
sandbox (no $MCPW_CHANNEL_DIR/config.json) it does nothing at all but hand over to the
sitecustomize it shadows, if there is one. The interceptors themselves live in _mcpw/.
"""


def _mcpw_start():
    import os
    import sys

    # Found before the interceptors are in place (they would load their config to answer).
    shadowed = None
    for entry in sys.path:
        path = os.path.join(entry or ".", "sitecustomize.py")
        if os.path.isfile(path) and os.path.realpath(path) != os.path.realpath(__file__):
            shadowed = path
            break
    directory = os.environ.get("MCPW_CHANNEL_DIR") or "/run/mcpw"
    if os.path.isfile(os.path.join(directory, "config.json")):
        try:
            import _mcpw

            _mcpw.install(directory)
        except Exception as e:  # never stop the program from starting: the kernel layer still holds
            sys.stderr.write("mcpw: the Python interceptors could not be installed: %r\n" % (e,))
    if shadowed:  # the sitecustomize this one shadows (Debian's, a virtualenv's) still runs
        with open(shadowed, "rb") as f:
            code = compile(f.read(), shadowed, "exec")
        exec(code, {"__name__": "sitecustomize", "__file__": shadowed, "__builtins__": __builtins__})


_mcpw_start()
del _mcpw_start
