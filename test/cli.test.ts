import { spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import t from "tap";
import { MCPW_BIN, mcpw, mcpwDaemon } from "./helpers/cli.js";
import { tempDir } from "./helpers/server.js";
import { WORKSPACES_MARK } from "../wrapper/workspace-mark.js";

t.test("help: the command list, and --help for every command", async (t) => {
  const top = await mcpw(["--help"]);
  t.equal(top.code, 0);
  for (const c of ["run", "serve", "bridge", "token", "sandbox", "doctor"]) t.match(top.stdout, new RegExp(`\\n  ${c} `), `lists ${c}`);
  const commands = ["run", "serve", "bridge", "token create", "token list", "token revoke", "sandbox create", "sandbox list", "sandbox start", "sandbox stop", "sandbox restart", "sandbox status", "sandbox rm", "sandbox logs", "doctor"];
  for (const c of commands) {
    const r = await mcpw([...c.split(" "), "--help"]);
    t.equal(r.code, 0, `mcpw ${c} --help exits 0`);
    t.match(r.stdout, new RegExp(`^mcpw ${c} — `), `mcpw ${c} --help describes it`);
  }
});

t.test("bad command lines say what is wrong and exit 2", async (t) => {
  const unknown = await mcpw(["frobnicate"]);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown command "frobnicate"/);
  const sub = await mcpw(["token", "mint"]);
  t.equal(sub.code, 2);
  t.match(sub.stderr, /unknown subcommand "mint" for mcpw token/);
  const opt = await mcpw(["token", "create", "--env", "dev", "--name", "x", "--colour", "red"]);
  t.equal(opt.code, 2);
  t.match(opt.stderr, /Unknown option '--colour'/);
  const missing = await mcpw(["token", "create", "--name", "x"]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /needs --env/);
  const dur = await mcpw(["token", "create", "--env", "dev", "--name", "x", "--expires", "soon", "--state-dir", tempDir("mcpw-cli-")]);
  t.match(dur.stderr, /no admin token at|--expires: expected a duration/);
});

t.test("a server that is not running is reported, not hung on", async (t) => {
  const state = tempDir("mcpw-cli-state-");
  writeFileSync(join(state, "admin.token"), `mcpw_${"a".repeat(43)}\n`);
  const r = await mcpw(["token", "list", "--server", "ws://127.0.0.1:1", "--state-dir", state]);
  t.equal(r.code, 1);
  t.match(r.stderr, /cannot reach the mcpw server at ws:\/\/127\.0\.0\.1:1: connection refused; is `mcpw serve` running\?/);
});

t.test("a group's --help lists its commands; a reader that closes stdout early gets no stack", async (t) => {
  for (const group of ["token", "sandbox"]) {
    const r = await mcpw([group, "--help"]);
    t.equal(r.code, 0, `mcpw ${group} --help exits 0`);
    t.match(r.stdout, new RegExp(`^mcpw ${group} — `));
    t.match(r.stdout, new RegExp(`\\n  mcpw ${group} list `), "and lists the subcommands");
    t.equal(r.stderr, "");
  }
  const bare = await mcpw(["token"]);
  t.equal(bare.code, 2, "without a subcommand it is still a usage error");
  const { spawn } = await import("node:child_process");
  const { MCPW_BIN } = await import("./helpers/cli.js");
  const piped = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [MCPW_BIN, "sandbox", "create", "--help"], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.destroy(); // like `| head -0`: the reader is gone before anything is written
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code, stderr }));
  });
  t.same(piped, { code: 0, stderr: "" }, "EPIPE: exit quietly");
});

t.test("config and policy files must hold a JSON object, and errors name the file", async (t) => {
  const dir = tempDir("mcpw-cli-files-");
  const state = tempDir("mcpw-cli-state-");
  writeFileSync(join(dir, "token"), `mcpw_${"b".repeat(43)}\n`);
  for (const [name, text, got] of [["null.json", "null", "null"], ["arr.json", "[]", "an array"], ["str.json", '"str"', "a string"]] as const) {
    const file = join(dir, name);
    writeFileSync(file, text);
    const serve = await mcpw(["serve", "--port", "0", "--config", file, "--state-dir", state]);
    t.equal(serve.code, 2, `serve --config ${text}`);
    t.equal(serve.stderr, `mcpw serve: server config ${file} must hold a JSON object, not ${got}\n`);
    const bridge = await mcpw(["bridge", "--env", "dev", "--token-file", join(dir, "token"), "--policy", file, "--state-dir", state, "--server", "ws://127.0.0.1:1"]);
    t.equal(bridge.code, 2, `bridge --policy ${text}`);
    t.equal(bridge.stderr, `mcpw bridge: bridge policy ${file} must hold a JSON object, not ${got}\n`);
  }
  writeFileSync(join(dir, "bad-port.json"), JSON.stringify({ port: "high" }));
  const port = await mcpw(["serve", "--config", join(dir, "bad-port.json"), "--state-dir", state]);
  t.equal(port.code, 2);
  t.match(port.stderr, new RegExp(`^mcpw serve: server config ${dir}/bad-port\\.json: port: expected number`));
  writeFileSync(join(dir, "bad-exec.json"), JSON.stringify({ exec: { allow: [5] } }));
  const exec = await mcpw(["bridge", "--env", "dev", "--token-file", join(dir, "token"), "--policy", join(dir, "bad-exec.json"), "--state-dir", state, "--server", "ws://127.0.0.1:1"]);
  t.equal(exec.code, 2);
  t.match(exec.stderr, new RegExp(`^mcpw bridge: bridge policy ${dir}/bad-exec\\.json: exec\\.allow\\.0: `));
  t.same(readdirSync(state), [], "nothing was left in the state dir: no admin token, no empty audit file");
});

t.test("serve on a port in use: one line, exit 1, no admin token written", async (t) => {
  const { createServer } = await import("node:net");
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
  t.teardown(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const state = tempDir("mcpw-cli-state-");
  const r = await mcpw(["serve", "--port", String(port), "--state-dir", state]);
  t.equal(r.code, 1);
  t.equal(r.stderr, `mcpw serve: port ${port} on 127.0.0.1 is in use\n`, "one clear line, no stack");
  t.notOk(existsSync(join(state, "admin.token")), "no admin token was written for a server that never listened");
});

t.test("serve, token create/list/revoke, bridge, sandbox create/list/logs/stop — through the CLI", async (t) => {
  const state = tempDir("mcpw-cli-state-");
  const env = { MCPW_STATE_DIR: state };
  const serve = await mcpwDaemon(["serve", "--port", "0"], /listening on (ws:\/\/127\.0\.0\.1:\d+)/, env);
  t.teardown(() => serve.child.kill("SIGTERM"));
  const url = serve.match[1]!;
  t.match(serve.stderr(), new RegExp(`admin token written to ${state}/admin\\.token \\(mode 0600\\)`), "the admin token path is printed on first start");
  t.equal(statSync(join(state, "admin.token")).mode & 0o777, 0o600);
  const common = ["--server", url];

  const created = await mcpw(["token", "create", "--env", "dev", "--name", "ci-bridge", ...common], { env });
  t.equal(created.code, 0, created.stderr);
  const token = created.stdout.trim();
  t.match(token, /^mcpw_[A-Za-z0-9_-]{43}$/, "stdout is exactly the token");
  t.match(created.stderr, /shown only this once/);

  const listed = await mcpw(["token", "list", ...common], { env });
  t.match(listed.stdout, /bridge\s+dev\s+ci-bridge\s+valid/);
  t.notOk(listed.stdout.includes(token.slice(5)), "the list never shows a token's value");
  const id = /(tok_[a-f0-9]{16})\s+bridge/.exec(listed.stdout)![1]!;

  const dir = tempDir("mcpw-cli-bridge-");
  writeFileSync(join(dir, "token"), `${token}\n`);
  writeFileSync(join(dir, "policy.json"), JSON.stringify({ filesystem: { readonly: [dir] } }));
  const bridge = await mcpwDaemon(["bridge", "--env", "dev", "--token-file", join(dir, "token"), "--policy", join(dir, "policy.json"), "--name", "cli-bridge", ...common], /active: serving environment "dev"/, env);
  const bridgeExit = new Promise<number | null>((r) => bridge.child.on("exit", r));

  // A refused registration (a dev token for prod): exit 1, and no empty audit file left behind.
  const wrongEnv = await mcpw(["bridge", "--env", "prod", "--token-file", join(dir, "token"), "--policy", join(dir, "policy.json"), ...common], { env });
  t.equal(wrongEnv.code, 1);
  t.match(wrongEnv.stderr, /this token is for environment "dev", not "prod"/);
  t.notOk(existsSync(join(state, "bridge-prod-audit.jsonl")), "a bridge that never registered leaves no audit file");

  const sb = await mcpw(["sandbox", "create", "--name", "talker", ...common, "--", "node", "-e", "console.error('hi from the sandbox'); console.error('\\x1b]0;owned\\x07\\x1b[31mred'); setInterval(() => {}, 1000)"], { env });
  t.equal(sb.code, 0, sb.stderr);
  const sbId = /^id\s+(sb-[a-z0-9]{8})$/m.exec(sb.stdout)![1]!;
  let logs = "";
  for (let i = 0; i < 50 && !logs.includes("hi from the sandbox"); i++) {
    logs = (await mcpw(["sandbox", "logs", sbId, ...common], { env })).stdout;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.match(logs, /hi from the sandbox/);
  for (let i = 0; i < 50 && !logs.includes("red"); i++) {
    logs = (await mcpw(["sandbox", "logs", sbId, ...common], { env })).stdout;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.match(logs, /\?\]0;owned\?\?\[31mred/, "terminal escapes in a sandbox's stderr are shown, defused");
  t.notOk(/[\x00-\x09\x0b-\x1f\x7f]/.test(logs), "no control character reaches the terminal (no OSC title change)");
  t.match((await mcpw(["sandbox", "list", ...common], { env })).stdout, new RegExp(`${sbId}\\s+talker\\s+running`));
  const stopped = await mcpw(["sandbox", "stop", sbId, ...common], { env });
  t.match(stopped.stdout, /state\s+exited \(stopped by request\)/);

  const adminId = /(tok_[a-f0-9]{16})\s+admin/.exec(listed.stdout)![1]!;
  const selfRevoke = await mcpw(["token", "revoke", adminId, ...common], { env });
  t.equal(selfRevoke.code, 1);
  t.match(selfRevoke.stderr, new RegExp(`^mcpw token revoke: ${adminId} is the server's admin token \\(${state}/admin\\.token\\)`), "the admin token in use is not revoked");
  t.equal(selfRevoke.stderr.trim().split("\n").length, 1, "one line");

  const revoked = await mcpw(["token", "revoke", id, ...common], { env });
  t.match(revoked.stdout, new RegExp(`revoked ${id} \\(ci-bridge\\); 1 connection\\(s\\) closed`));
  t.equal(await bridgeExit, 1, "a bridge whose token is revoked stops with an error");
  t.match(bridge.stderr(), /revoked/);
});

t.test("mcpw run leaves no run or staging dir behind when it ends normally", async (t) => {
  // A temp dir of this test's own (TMPDIR), searchable by the sandbox's uid, where mcpw makes them.
  const tmp = tempDir("mcpw-cli-tmp-");
  chmodSync(tmp, 0o755);
  const env = { TMPDIR: tmp };
  const cwd = tempDir("mcpw-cli-left-");
  const leftovers = () => readdirSync(tmp).filter((n) => /^mcpw-(run|stage)-/.test(n));
  t.equal((await mcpw(["run", "-q", "--", "node", "-e", "1"], { cwd, env })).code, 0);
  t.equal((await mcpw(["run", "-q", "--", "node", "-e", "process.exit(3)"], { cwd, env })).code, 3);
  writeFileSync(join(cwd, "limits.json"), JSON.stringify({ limits: { timeoutMs: 500 } }));
  t.not((await mcpw(["run", "-q", "--policy", join(cwd, "limits.json"), "--", "node", "-e", "setInterval(() => {}, 1000)"], { cwd, env })).code, 0);
  // A workspace in a folder the sandbox's uid cannot enter is staged (as root).
  const hidden = tempDir("mcpw-cli-hidden-");
  mkdirSync(join(hidden, "ws"));
  if (process.getuid?.() === 0) chownSync(join(hidden, "ws"), 65534, 65534);
  t.equal((await mcpw(["run", "-q", "--mount", join(hidden, "ws"), "--", "node", "-e", "1"], { cwd, env })).code, 0);
  t.same(leftovers(), [], "no mcpw-run-* or mcpw-stage-* left");
});

t.test("mcpw run: exit code and stdout pass through; bad input is one clear line with nothing left behind", async (t) => {
  const cwd = tempDir("mcpw-cli-run-");
  const ok = await mcpw(["run", "-q", "--", "node", "-e", "process.stdout.write('exact bytes\\n'); process.exit(7)"], { cwd });
  t.equal(ok.code, 7, "the child's exit code");
  t.equal(ok.stdout, "exact bytes\n", "stdout untouched");
  const echo = await mcpw(["run", "-q", "--", "node", "-e", "process.stdin.pipe(process.stdout)"], { cwd, input: '{"jsonrpc":"2.0","id":1}\n' });
  t.equal(echo.stdout, '{"jsonrpc":"2.0","id":1}\n', "stdin reaches the program");

  const before = readdirSync(cwd).length;
  const badRo = await mcpw(["run", "--ro", join(cwd, "no-such-path"), "--", "node", "-e", "1"], { cwd });
  t.equal(badRo.code, 2);
  t.match(badRo.stderr, /--ro .*no-such-path: no such file or directory/);
  const nocmd = await mcpw(["run", "--", "no-such-program-xyz"], { cwd });
  t.equal(nocmd.code, 2, "bad input exits 2");
  t.equal(nocmd.stderr.trim().split("\n").length, 1, "one line");
  t.match(nocmd.stderr, /command not found: no-such-program-xyz/);

  writeFileSync(join(cwd, "file"), "");
  const notdir = await mcpw(["run", "--mount", join(cwd, "file"), "--", "node", "-e", "1"], { cwd });
  t.equal(notdir.code, 2);
  t.match(notdir.stderr, /workspace .*\/file is not a directory/);
  const nodir = await mcpw(["run", "--mount", join(cwd, "no-such-dir"), "--", "node", "-e", "1"], { cwd });
  t.equal(nodir.code, 2, "a missing workspace is bad input too");
  t.match(nodir.stderr, /workspace .*\/no-such-dir does not exist/);
  const nopolicy = await mcpw(["run", "--policy", join(cwd, "no-such-policy.json"), "--", "node", "-e", "1"], { cwd });
  t.equal(nopolicy.code, 2, "so is a missing policy file");
  t.match(nopolicy.stderr, /cannot read policy file .*no-such-policy\.json: ENOENT/);

  writeFileSync(join(cwd, "bad-policy.json"), JSON.stringify({ network: { allowedDomains: ["not a host!"] } }));
  const badPolicy = await mcpw(["run", "--policy", join(cwd, "bad-policy.json"), "--", "node", "-e", "1"], { cwd });
  t.equal(badPolicy.code, 2);
  t.match(badPolicy.stderr, /network\.allowedDomains\.0: expected a host pattern/);
  writeFileSync(join(cwd, "broken.json"), "{ nope");
  const broken = await mcpw(["run", "--policy", join(cwd, "broken.json"), "--", "node", "-e", "1"], { cwd });
  t.equal(broken.code, 2);
  t.match(broken.stderr, /broken\.json is not valid JSON/);

  t.notOk(existsSync(join(cwd, "mount")), "the two runs that wrote nothing, and the failed starts, left no workspace and no ./mount behind");
  t.equal(readdirSync(cwd).length, before + 3, "nothing else was created (file, bad-policy.json, broken.json)");
  const wrote = await mcpw(["run", "-q", "--", "node", "-e", "require('fs').writeFileSync('/mount/kept', 'x')"], { cwd });
  t.equal(wrote.code, 0, wrote.stderr);
  // ./mount carries the mark that hides it from sandboxes started elsewhere (wrapper/workspace-mark.ts).
  const workspaces = () => readdirSync(join(cwd, "mount")).filter((n) => n !== WORKSPACES_MARK);
  const kept = existsSync(join(cwd, "mount")) ? workspaces() : [];
  t.equal(kept.length, 1, "a workspace with something in it is kept");
  t.ok(kept.length === 1 && existsSync(join(cwd, "mount", kept[0]!, "kept")));
  t.ok(existsSync(join(cwd, "mount", WORKSPACES_MARK)), "./mount is marked as a folder of workspaces");
  const empty = await mcpw(["run", "-q", "--", "node", "-e", "1"], { cwd });
  t.equal(empty.code, 0);
  t.same(workspaces(), kept, "an empty one beside it is removed, and ./mount, which holds one, stays");
  t.ok(existsSync(join(cwd, "mount", WORKSPACES_MARK)), "still marked");
  mkdirSync(join(cwd, "ws"));
  const mounted = await mcpw(["run", "-q", "--mount", join(cwd, "ws"), "--", "node", "-e", "require('fs').writeFileSync('/mount/out', 'x')"], { cwd });
  t.equal(mounted.code, 0);
  t.ok(existsSync(join(cwd, "ws", "out")), "--mount is the workspace");
});

/** Starts `mcpw run` on `command`, sends `sig` once the program has printed "ready", and collects the outcome. */
function signalledRun(command: string[], sig: NodeJS.Signals, opts: { group?: boolean } = {}): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    // group: mcpw leads its own process group, and the signal goes to the group, as a terminal's ^C does.
    const child = spawn(process.execPath, [MCPW_BIN, "run", "-q", "--", ...command], { cwd: tempDir("mcpw-cli-sig-"), stdio: ["pipe", "pipe", "pipe"], detached: opts.group === true });
    let stdout = "";
    let stderr = "";
    let sentAt = 0;
    const timer = setTimeout(() => (child.kill("SIGKILL"), reject(new Error(`no exit; stdout ${stdout}; stderr ${stderr}`))), 30_000);
    child.stdout.on("data", (d) => {
      stdout += d;
      if (!sentAt && stdout.includes("ready")) {
        sentAt = Date.now();
        if (opts.group) process.kill(-child.pid!, sig);
        else child.kill(sig);
      }
    });
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => (clearTimeout(timer), resolve({ code, stdout, stderr, ms: Date.now() - sentAt })));
  });
}

t.test("mcpw run passes SIGTERM, SIGINT and SIGHUP on to the program, and exits as it does", async (t) => {
  const trap = await signalledRun(["node", "-e", "process.on('SIGTERM', () => { console.log('got SIGTERM, cleaning up'); process.exit(3); }); console.log('ready'); setInterval(() => {}, 1000);"], "SIGTERM");
  t.match(trap.stdout, /got SIGTERM, cleaning up/, `the program's handler ran: ${trap.stderr}`);
  t.equal(trap.code, 3, "mcpw exits with the program's code");
  t.ok(trap.ms < 2000, `and at once, not after a kill (${trap.ms} ms)`);
  const plain = await signalledRun(["node", "-e", "console.log('ready'); setInterval(() => {}, 1000);"], "SIGHUP");
  t.equal(plain.code, 128 + 1, "a program the signal ends: 128 + the signal");
  t.ok(plain.ms < 2000, `(${plain.ms} ms)`);
  const py = await signalledRun(["python3", "-u", "-c", "import time\ntry:\n    print('ready')\n    time.sleep(30)\nexcept KeyboardInterrupt:\n    print('interrupted')"], "SIGINT");
  t.match(py.stdout, /interrupted/, `Python gets its KeyboardInterrupt: ${py.stderr}`);
  t.equal(py.code, 0);
  // ^C in a terminal signals mcpw's whole process group: the sandbox is not in it, and hears it from mcpw.
  const ctrlC = await signalledRun(["node", "-e", "process.on('SIGINT', () => { console.log('got SIGINT'); process.exit(4); }); console.log('ready'); setInterval(() => {}, 1000);"], "SIGINT", { group: true });
  t.match(ctrlC.stdout, /got SIGINT/, `a terminal's ^C reaches the program's handler: ${ctrlC.stderr}`);
  t.equal(ctrlC.code, 4);
});

/** The run dirs whose channel.sock the process `pid` listens on (from /proc/net/unix and its fds). */
function runDirsOf(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return readFileSync("/proc/net/unix", "utf8")
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && inodes.has(f[6]!) && f[7]!.endsWith("/channel.sock"))
    .map((f) => dirname(f[7]!));
}

t.test("mcpw serve stops its sandboxes and removes their run dirs on SIGHUP (a closed terminal), as on SIGTERM", async (t) => {
  const state = tempDir("mcpw-cli-state-");
  const env = { MCPW_STATE_DIR: state };
  const serve = await mcpwDaemon(["serve", "--port", "0"], /listening on (ws:\/\/127\.0\.0\.1:\d+)/, env);
  const exited = new Promise<number | null>((r) => serve.child.on("exit", r));
  t.teardown(() => serve.child.kill("SIGKILL"));
  const sb = await mcpw(["sandbox", "create", "--server", serve.match[1]!, "--workspace", tempDir("mcpw-cli-ws-"), "--", "node", "-e", "setInterval(() => {}, 1000)"], { env });
  t.equal(sb.code, 0, sb.stderr);
  // The sandbox's run dir, and those of the run_py pool's sandboxed Pyodide processes.
  let dirs: string[] = [];
  for (let i = 0; i < 100 && dirs.length < 2; i++) {
    dirs = runDirsOf(serve.child.pid!);
    await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(dirs.length >= 2, `the sandboxes have their run dirs: ${dirs.join(", ")}`);
  serve.child.kill("SIGHUP");
  t.equal(await exited, 0, "the server exits 0");
  t.match(serve.stderr(), /SIGHUP: stopping sandboxes and closing/);
  t.same(dirs.filter((d) => existsSync(d)), [], "every run dir is removed");
  t.notOk(existsSync(dirname(dirs[0]!)), "and their parent with them");
});
