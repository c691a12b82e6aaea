import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { basename, dirname, join } from "node:path";
import type { Duplex } from "node:stream";
import t from "tap";
import type { Op } from "../../protocol/ops.js";
import { Policy } from "../../protocol/policy.js";
import type { AuditInput } from "../../server/audit-log.js";
import { configureSandbox, prepareSandbox } from "../../wrapper/launcher.js";
import { findExecutableOrNull } from "../../native/find-executable.js";
import { sandboxWorkspace, tempDir } from "../helpers/server.js";

/**
 * The channel tells sandboxes apart: only the sandbox's own processes may use its channel.sock and
 * its tunnel sockets. Reaching the socket is not enough (mcpw and the sandbox's uid reach it, as
 * any process of that uid on the host does, and landlock does not mediate unix connect): a
 * process of the host, or of another sandbox (another pid namespace), that connects is refused
 * before anything it sends is read, and mcpw audits it. No other local user reaches it at all.
 */

/** Speaks the channel (mode byte 'R', then [u32 length][u8 kind 0][JSON]) as an attacker would. */
const CLIENT = String.raw`
import json, socket, struct, sys

def rpc(path, method, params):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(path)
        s.sendall(b"R")
        body = json.dumps({"v": 1, "kind": "req", "id": "a1", "method": method, "params": params}).encode()
        s.sendall(struct.pack(">I", len(body) + 1) + b"\0" + body)
        head = read(s, 5)
        if head is None:
            return {"answered": False, "detail": "closed without an answer"}
        reply = read(s, struct.unpack(">I", head[:4])[0] - 1)
        return {"answered": True, "reply": json.loads(reply)}
    except OSError as e:
        return {"answered": False, "detail": str(e)}
    finally:
        s.close()

def tunnel(path, data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(path)
        s.sendall(data.encode())
        got = b""
        while len(got) < len(data) + 5:
            c = s.recv(100)
            if not c:
                break
            got += c
        return {"answered": bool(got), "reply": got.decode(errors="replace")}
    except OSError as e:
        return {"answered": False, "detail": str(e)}
    finally:
        s.close()

def read(s, n):
    buf = b""
    while len(buf) < n:
        c = s.recv(n - len(buf))
        if not c:
            return None
        buf += c
    return buf

def say(x):
    print(json.dumps(x), flush=True)

mode = sys.argv[1]
if mode == "rpc":
    say(rpc(sys.argv[2], "sandbox.op", {"op": {"op": "fs.stat", "path": sys.argv[3]}}))
elif mode == "tunnel":
    say(tunnel(sys.argv[2], sys.argv[3]))
else:  # inside the sandbox: its own request, a tunnel ticket, then (on a line of stdin) the tunnel
    import os
    d = os.environ["MCPW_CHANNEL_DIR"]
    say(rpc(d + "/channel.sock", "sandbox.op", {"op": {"op": "fs.stat", "path": sys.argv[2]}}))
    opened = rpc(d + "/channel.sock", "tunnel.open", {"host": "echo.test", "port": 7})
    say(opened)
    sys.stdin.readline()
    say(tunnel("%s/t-%s.sock" % (d, opened["reply"]["result"]["ticket"]), "inside"))
`;

interface Said {
  answered: boolean;
  reply?: any;
  detail?: string;
}

function run(argv: string[]): Promise<Said> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", () => {
      try {
        resolve(JSON.parse(out.trim().split("\n").pop()!));
      } catch {
        reject(new Error(`${argv.join(" ")}: no answer; stdout ${out}; stderr ${err}`));
      }
    });
  });
}

const SYSTEM_PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const BWRAP = findExecutableOrNull("bwrap", ["/usr/bin", "/bin", "/usr/local/bin"]);

for (const isolated of [true, false]) {
t.test(`only the sandbox's own processes may use its channel and tunnel sockets (${isolated ? "bubblewrap: its pid namespace" : "best-effort, no bubblewrap: its process tree"})`, { skip: !BWRAP && "needs bubblewrap" }, async (t) => {
  if (!isolated) {
    const saved = process.env.MCPW_BWRAP;
    process.env.MCPW_BWRAP = "/nonexistent/bwrap";
    t.teardown(() => (saved === undefined ? delete process.env.MCPW_BWRAP : (process.env.MCPW_BWRAP = saved)));
  }
  const secretDir = tempDir("mcpw-channel-auth-", "/var/tmp");
  t.teardown(() => rmSync(secretDir, { recursive: true, force: true }));
  const secret = join(secretDir, "only-for-sandbox-a");
  writeFileSync(secret, "a's secret\n");
  const served: { origin: unknown; op: Op }[] = [];
  const audit: AuditInput[] = [];
  const callOp = async (origin: unknown, op: Op, opts: { stream?: Duplex }) => {
    served.push({ origin, op });
    if (op.op === "net.connect") {
      opts.stream!.on("data", (d: Buffer) => opts.stream!.write(Buffer.concat([Buffer.from("ECHO:"), d])));
      return { remoteAddress: "192.0.2.7", remotePort: 7 };
    }
    return { served: op.op };
  };
  const prepared = prepareSandbox({
    id: "sb-chanauth",
    // Without bubblewrap nothing is staged: a python under /root is out of reach of uid 65534.
    command: [SYSTEM_PYTHON, "-c", CLIENT, "inside", secret],
    workspace: sandboxWorkspace(),
    cwd: process.cwd(),
    hostEnv: process.env,
    stdio: ["pipe", "pipe", "pipe"],
    isolation: isolated ? "strict" : "best-effort",
  });
  t.equal(prepared.isolated, isolated);
  const launched = await configureSandbox(prepared, {
    policy: Policy.parse({ filesystem: { readonly: [secretDir] }, isolation: isolated ? "strict" : "best-effort" }),
    hostEnv: process.env,
    channel: { callOp: callOp as never, audit: (e) => audit.push(e) },
  });
  t.teardown(async () => {
    await launched.process.stop(0);
    launched.dispose();
  });
  const lines: Said[] = [];
  let buf = "";
  let stderr = "";
  launched.child.stderr!.on("data", (d) => (stderr += d));
  launched.child.stdout!.on("data", (d) => {
    buf += d;
    for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
      lines.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
    }
  });
  for (let i = 0; i < 200 && lines.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(lines.length, 2, `the sandbox made its requests (stderr: ${stderr})`);
  const [own, opened] = lines as [Said, Said];
  t.ok(own.answered && own.reply.ok, `the sandbox's own request is served: ${JSON.stringify(own)}`);
  const ticket: string = opened.reply?.result?.ticket;
  t.match(ticket, /^[0-9a-f]{32}$/, "and its tunnel.open gets a ticket");
  const servedBefore = served.length;

  // The run dir, from the host, as an attacker that found it would reach it.
  const runDir = prepared.runDir;
  const channel = join(runDir, "channel.sock");
  const fromHost = await run(["python3", "-c", CLIENT, "rpc", channel, secret]);
  t.notOk(fromHost.answered, `a host process is refused: ${JSON.stringify(fromHost)}`);
  // Another sandbox: a process in another pid namespace that can reach the socket.
  const otherNs = ["--dev-bind", "/", "/", "--unshare-pid", "--proc", "/proc", "--"];
  const fromOther = await run([BWRAP!, ...otherNs, "python3", "-c", CLIENT, "rpc", channel, secret]);
  t.notOk(fromOther.answered, `a process in another pid namespace is refused: ${JSON.stringify(fromOther)}`);
  const stolen = await run([BWRAP!, ...otherNs, "python3", "-c", CLIENT, "tunnel", join(runDir, `t-${ticket}.sock`), "thief"]);
  t.notOk(stolen.answered, `and cannot take the sandbox's tunnel: ${JSON.stringify(stolen)}`);
  t.equal(served.length, servedBefore, "nothing they sent reached the bridge");

  launched.child.stdin!.write("go\n");
  for (let i = 0; i < 200 && lines.length < 3; i++) await new Promise((r) => setTimeout(r, 50));
  t.same(lines[2], { answered: true, reply: "ECHO:inside" }, "the ticket was not used up: the sandbox gets its tunnel");
  const refused = audit.filter((e) => e.event === "channel.refused");
  t.equal(refused.length, 3, "each refusal is audited");
  t.ok(refused.every((e) => e.verdict === "deny" && e.sandbox === "sb-chanauth" && typeof e.pid === "number"), JSON.stringify(refused));
});
}

t.test("a run dir reaches only the sandbox's uid, and refused connections cannot flood the audit log", { skip: !BWRAP && "needs bubblewrap" }, async (t) => {
  const audit: AuditInput[] = [];
  const prepared = prepareSandbox({
    id: "sb-rundir",
    command: [process.execPath, "-e", "process.stdin.resume()"],
    workspace: sandboxWorkspace(),
    cwd: process.cwd(),
    hostEnv: process.env,
    stdio: ["pipe", "pipe", "pipe"],
    isolation: "strict",
  });
  const launched = await configureSandbox(prepared, {
    policy: Policy.parse({}),
    hostEnv: process.env,
    channel: { callOp: (async () => ({})) as never, audit: (e) => audit.push(e) },
  });
  t.teardown(async () => {
    await launched.process.stop(0);
    launched.dispose();
  });
  const runDir = prepared.runDir;
  const parent = dirname(runDir);
  t.match(basename(parent), /^mcpw-run-/, "one parent per mcpw process, in the temp dir");
  t.match(basename(runDir), /^[A-Za-z0-9_-]{22}$/, "the run dir's own name is 128 random bits");
  const asRoot = process.getuid?.() === 0;
  const mode = (p: string) => statSync(p).mode & 0o7777;
  // As root, the run dir's group is the sandbox's own run group (sandbox-identity.ts), not its
  // gid 65534, which nogroup daemons and every other sandbox share.
  const runGroup = prepared.identity?.runGroup;
  if (asRoot) {
    t.ok(runGroup !== undefined && runGroup >= 0x70000000 && runGroup < 0x7fffffff, `run group ${runGroup} is in the sandbox range`);
    t.not(runGroup, 65534, "the run group is not nogroup");
  }
  const want = asRoot ? { dir: 0o710, file: 0o640, sock: 0o660, gid: runGroup } : { dir: 0o700, file: 0o600, sock: 0o600, gid: process.getgid!() };
  for (const d of [parent, runDir]) {
    t.equal(mode(d), want.dir, `${d}: ${want.dir.toString(8)}`);
    t.equal(statSync(d).gid, want.gid, `${d}: group ${want.gid}`);
  }
  for (const f of ["config.json", "passwd", "group"]) {
    t.equal(mode(join(runDir, f)), want.file, `${f}: ${want.file.toString(8)}, not readable by every user`);
    t.equal(statSync(join(runDir, f)).gid, want.gid, `${f}: group ${want.gid}`);
  }
  t.equal(mode(join(runDir, "channel.sock")), want.sock, `channel.sock: ${want.sock.toString(8)}, not 0666`);
  t.equal(statSync(join(runDir, "channel.sock")).gid, want.gid, `channel.sock: group ${want.gid}`);

  if (asRoot) {
    // Another local user cannot list or pass through the parent, so cannot read the config or
    // reach channel.sock, even knowing the run dir's name: neither one in a group of its own, nor
    // one running with the sandbox's gid 65534 (a daemon as nobody:nogroup, another sandbox).
    for (const [who, gid] of [["uid 1000", "1000"], ["uid 1000 with group nogroup", "65534"]] as const) {
      const other = ["setpriv", "--reuid", "1000", "--regid", gid, "--clear-groups", "--"];
      const tryAs = (code: string) => spawnSync(other[0]!, [...other.slice(1), process.execPath, "-e", code, runDir], { encoding: "utf8" });
      const listed = tryAs("try { require('fs').readdirSync(require('path').dirname(process.argv[1])); console.log('LISTED') } catch (e) { console.log(e.code) }");
      t.equal(listed.stdout.trim(), "EACCES", `${who} cannot list ${parent}`);
      const read = tryAs("try { require('fs').readFileSync(process.argv[1] + '/config.json'); console.log('READ') } catch (e) { console.log(e.code) }");
      t.equal(read.stdout.trim(), "EACCES", `${who} cannot read config.json`);
      const conn = tryAs("require('net').connect(process.argv[1] + '/channel.sock').on('connect', () => { console.log('CONNECTED'); process.exit() }).on('error', (e) => console.log(e.code))");
      t.equal(conn.stdout.trim(), "EACCES", `${who} cannot connect to channel.sock`);
    }
  }

  // mcpw itself (root, or the same uid) can connect: a flood of refused connections is audited
  // as the first 20, then one summary line when the supervisor closes (or the minute ends).
  const flood = 300;
  await Promise.all(
    Array.from({ length: flood }, () => new Promise<void>((res) => connect(join(runDir, "channel.sock")).on("close", () => res()).on("error", () => undefined))),
  );
  for (let i = 0; i < 100 && audit.filter((e) => e.event === "channel.refused").length < 20; i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 200));
  t.equal(audit.filter((e) => e.event === "channel.refused").length, 20, "20 refusals audited one by one");
  launched.dispose();
  const refused = audit.filter((e) => e.event === "channel.refused");
  t.equal(refused.length, 21, "then one summary line");
  t.equal(refused.at(-1)!.suppressed, flood - 20, "counting the rest");
  t.match(refused.at(-1)!.reason, /280 more connection\(s\) refused within 60 s/);
  t.notOk(existsSync(parent), "the parent goes with its last run dir");
});

t.test("fds a sandbox passes over its channel (SCM_RIGHTS) never reach mcpw", { skip: !BWRAP && "needs bubblewrap" }, async (t) => {
  // The supervisor reads the channel with read(2) (libuv, a non-IPC pipe), not recvmsg: the kernel
  // then installs no passed fd in mcpw and drops the references. The request after them is served.
  const passFds = String.raw`
import json, os, socket, struct
fd = os.open("/mount/passed-marker", os.O_RDWR | os.O_CREAT, 0o600)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["MCPW_CHANNEL_DIR"] + "/channel.sock")
socket.send_fds(s, [b"R"], [fd, fd, 0, 1, 2])
body = json.dumps({"v": 1, "kind": "req", "id": "f1", "method": "sandbox.op", "params": {"op": {"op": "fs.stat", "path": os.environ["SHARED_DIR"]}}}).encode()
socket.send_fds(s, [struct.pack(">I", len(body) + 1) + b"\0" + body], [fd])
head = b""
while len(head) < 5:
    head += s.recv(5 - len(head))
n = struct.unpack(">I", head[:4])[0] - 1
reply = b""
while len(reply) < n:
    reply += s.recv(n - len(reply))
print(json.dumps(json.loads(reply)), flush=True)
`;
  const ws = sandboxWorkspace();
  const shared = tempDir("mcpw-channel-fds-", "/var/tmp");
  t.teardown(() => rmSync(shared, { recursive: true, force: true }));
  const fdsOfMcpw = () =>
    readdirSync("/proc/self/fd").map((n) => {
      try {
        return readlinkSync(`/proc/self/fd/${n}`);
      } catch {
        return "";
      }
    });
  const before = fdsOfMcpw().length;
  const prepared = prepareSandbox({ id: "sb-fds", command: [SYSTEM_PYTHON, "-c", passFds], workspace: ws, cwd: process.cwd(), hostEnv: process.env, stdio: ["pipe", "pipe", "pipe"], isolation: "strict" });
  const launched = await configureSandbox(prepared, {
    policy: Policy.parse({ filesystem: { readonly: [shared] }, env: { set: { SHARED_DIR: shared } } }),
    hostEnv: process.env,
    channel: { callOp: (async (_o: unknown, op: Op) => ({ served: op.op })) as never, audit: () => undefined },
  });
  t.teardown(async () => {
    await launched.process.stop(0);
    launched.dispose();
  });
  let out = "";
  let err = "";
  launched.child.stdout!.on("data", (d) => (out += d));
  launched.child.stderr!.on("data", (d) => (err += d));
  await launched.process.exited;
  const reply = JSON.parse(out.trim() || "null");
  t.match(reply, { id: "f1", ok: true, result: { served: "fs.stat" } }, `the request sent with the fds is served: ${JSON.stringify(reply)} (stderr: ${err})`);
  const marker = join(ws, "passed-marker");
  t.ok(existsSync(marker), "the sandbox opened the file it passed");
  t.notOk(fdsOfMcpw().some((l) => l === marker), "mcpw holds no fd of it");
  t.ok(fdsOfMcpw().length <= before + 8, `and gained no pile of fds (${before} before, ${fdsOfMcpw().length} after)`);
});
