"""
Start-up cost of mcpw's Python interceptors, measured inside a sandbox:

    node bin/mcpw.js run -q -- python3 bench/python-startup.py [runs]

Starts the interpreter running this script over and over, with and without PYTHONPATH pointing at
/opt/mcpw/python (the interceptors; without it, nothing of mcpw loads), alternating the two so
noise hits both alike. Prints one JSON line per case: medians and minimums in milliseconds.
"""
import json
import os
import statistics
import sys
import time

# The interceptors' own posix_spawn would fix PYTHONPATH back into the child's env; the original
# does not. (Only the interceptor is bypassed here: the sandbox's kernel layer still applies.)
spawn = getattr(os.posix_spawn, "__wrapped__", os.posix_spawn)

CASES = [
    ("-c pass", ["-c", "pass"]),
    ("-S -c pass (no site: control)", ["-S", "-c", "pass"]),
    ("first intercepted call (config load)", ["-c", "import os; os.stat('/mount')"]),
    ("import socket, subprocess (patched on import)", ["-c", "import socket, subprocess"]),
]


def once(env, args):
    start = time.perf_counter()
    pid = spawn(sys.executable, [sys.executable] + args, env)
    os.waitpid(pid, 0)
    return (time.perf_counter() - start) * 1000


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    without = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with_lib = dict(without, PYTHONPATH=os.environ.get("PYTHONPATH", "/opt/mcpw/python"))
    for name, args in CASES:
        a, b = [], []
        for _ in range(runs):
            a.append(once(without, args))
            b.append(once(with_lib, args))
        print(json.dumps({
            "bench": "python-startup", "case": name, "python": sys.version.split()[0], "runs": runs,
            "without_ms": round(statistics.median(a), 2), "with_ms": round(statistics.median(b), 2),
            "delta_ms": round(statistics.median(b) - statistics.median(a), 2),
            "min_without_ms": round(min(a), 2), "min_with_ms": round(min(b), 2),
        }))


if __name__ == "__main__":
    main()
