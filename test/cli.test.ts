import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { MCPW_BIN, mcpw, mcpwDaemon } from "./helpers/cli.js";
import { tempDir } from "./helpers/server.js";

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

  const sb = await mcpw(["sandbox", "create", "--name", "talker", ...common, "--", "node", "-e", "console.error('hi from the sandbox'); setInterval(() => {}, 1000)"], { env });
  t.equal(sb.code, 0, sb.stderr);
  const sbId = /^id\s+(sb-[a-z0-9]{8})$/m.exec(sb.stdout)![1]!;
  let logs = "";
  for (let i = 0; i < 50 && !logs.includes("hi from the sandbox"); i++) {
    logs = (await mcpw(["sandbox", "logs", sbId, ...common], { env })).stdout;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.match(logs, /hi from the sandbox/);
  t.match((await mcpw(["sandbox", "list", ...common], { env })).stdout, new RegExp(`${sbId}\\s+talker\\s+running`));
  const stopped = await mcpw(["sandbox", "stop", sbId, ...common], { env });
  t.match(stopped.stdout, /state\s+exited \(stopped by request\)/);

  const revoked = await mcpw(["token", "revoke", id, ...common], { env });
  t.match(revoked.stdout, new RegExp(`revoked ${id} \\(ci-bridge\\); 1 connection\\(s\\) closed`));
  t.equal(await bridgeExit, 1, "a bridge whose token is revoked stops with an error");
  t.match(bridge.stderr(), /revoked/);
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
  const kept = existsSync(join(cwd, "mount")) ? readdirSync(join(cwd, "mount")) : [];
  t.equal(kept.length, 1, "a workspace with something in it is kept");
  t.ok(kept.length === 1 && existsSync(join(cwd, "mount", kept[0]!, "kept")));
  const empty = await mcpw(["run", "-q", "--", "node", "-e", "1"], { cwd });
  t.equal(empty.code, 0);
  t.same(readdirSync(join(cwd, "mount")), kept, "an empty one beside it is removed, and ./mount, which holds one, stays");
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
