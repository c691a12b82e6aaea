"""
`python -S mcpw_exec.py <command> [args...]`, run inside the sandbox in place of a program the policy
lists under exec.viaBridge (mirrors wrapper/node/exec-shim.ts): asks the bridge to run it on the
host, writes its output, and exits with its exit status, so the caller gets an ordinary child.
Its stdin is forwarded only when MCPW_EXEC_STDIN=1 (the caller gave the child a stdin of its own).
"""
import binascii
import os
import sys

from _mcpw.channel import Channel, ChannelError


def main(argv):
    if not argv:
        sys.stderr.write("usage: mcpw_exec.py <command> [args...]\n")
        return 2
    command, args = argv[0], argv[1:]
    op = {"op": "exec", "command": command, "args": args}
    if os.environ.get("MCPW_EXEC_STDIN") == "1":
        op["stdin"] = binascii.b2a_base64(sys.stdin.buffer.read(), newline=False).decode("ascii")
    channel = Channel(os.environ.get("MCPW_CHANNEL_DIR") or "/run/mcpw")
    try:
        r = channel.call("sandbox.op", {"op": op}, timeout=None)
    except ChannelError as e:
        sys.stderr.write("mcpw: %s: %s\n" % (command, e.body.get("message")))
        return 126
    for stream, key in ((sys.stdout, "stdout"), (sys.stderr, "stderr")):
        stream.buffer.write(binascii.a2b_base64(r.get(key) or ""))
        stream.flush()
    if r.get("truncated"):
        sys.stderr.write("mcpw: %s: output was cut at the bridge's limit\n" % command)
    if r.get("timedOut"):
        sys.stderr.write("mcpw: %s was stopped by the bridge's time limit\n" % command)
    if r.get("exitCode") is not None:
        return r["exitCode"]
    import signal

    sig = getattr(signal, str(r.get("signal")), signal.SIGKILL)
    signal.signal(sig, signal.SIG_DFL)
    os.kill(os.getpid(), sig)  # the caller sees the same signal the program died of
    return 128 + sig


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
