import { mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import t from "tap";
import { McpwError } from "../../protocol/errors.js";
import { QuickJsPool } from "../../wrapper/snippets/quickjs-pool.js";
import { runQuickJs } from "../../wrapper/snippets/quickjs-runner.js";
import type { SnippetHost } from "../../wrapper/snippets/snippet-host.js";
import { tempDir } from "../helpers/server.js";
import { snippetService, webServer } from "./fixtures.js";

t.test("run_js: values, output, process, and a fresh runtime per call", async (t) => {
  const { service } = await snippetService(t, { limits: { timeoutMs: 5000, memMb: 64 } });
  const r = await service.runJs({ code: "console.log('hi', {a: 1}); console.error('warn'); process.argv.slice(2).concat(process.env.X, process.stdin.read())", args: ["a"], env: { X: "x" }, stdin: "in" });
  t.match(r, { stdout: 'hi {"a":1}\n', stderr: "warn\n", exitCode: 0, value: ["a", "x", "in"] });
  t.match(r.capsule, /^[a-f0-9]{64}$/, "names the capsule that ran");
  t.match(await service.runJs({ code: "(async () => { await null; return 42 })()" }), { value: 42 }, "a promise is awaited");
  t.match(await service.runJs({ code: "process.exit(3)" }), { exitCode: 3 });
  t.match(await service.runJs({ code: "throw new TypeError('bad')" }), { exitCode: 1, stderr: /Uncaught TypeError: bad/ });
  await service.runJs({ code: "globalThis.leak = 1; Object.prototype.polluted = true; Array.prototype.map = null" });
  t.match(await service.runJs({ code: "[typeof leak, ({}).polluted, typeof [].map]" }), { value: ["undefined", undefined, "function"] }, "nothing of the previous call is seen");
});

t.test("run_js: every limit is hit and reported", async (t) => {
  const { service } = await snippetService(t, { limits: { timeoutMs: 5000, memMb: 64, stdoutBytes: 1000 } });
  const loop = await service.runJs({ code: "while (true) {}", policy: { limits: { timeoutMs: 300 } } });
  t.match(loop, { reason: "timeout", exitCode: 124, stderr: /stopped after 300 ms \(limits\.timeoutMs\)/ }, "infinite loop");
  const alloc = await service.runJs({ code: "const a = []; for (;;) a.push(new Uint8Array(1 << 20))" });
  t.match(alloc, { reason: "memory", exitCode: 137, stderr: /out of memory \(limits\.memMb=64\)/ }, "allocation loop");
  const flood = await service.runJs({ code: "for (;;) console.log('flood')" });
  t.match(flood, { reason: "output", exitCode: 141 }, "output flood");
  t.ok(flood.stdout.length <= 1100 && flood.stdout.endsWith("[mcpw: stdout cut at 1000 bytes (limits.stdoutBytes)]\n"), "the output is cut at the limit with a marker");
  const deep = await service.runJs({ code: "function f(n) { return f(n + 1) + 1 } f(0)" });
  t.match(deep, { reason: "stack", stderr: /stack overflow/ }, "deep recursion");
  t.match(await service.runJs({ code: "1 + 1" }), { value: 2, exitCode: 0 }, "the next call runs normally");
});

t.test("run_js: values JSON cannot carry", async (t) => {
  const { service } = await snippetService(t, { limits: { timeoutMs: 5000 } });
  t.match(await service.runJs({ code: "console.log('kept'); 2n ** 70n" }), { stdout: "kept\n", exitCode: 0, value: "1180591620717411303424" }, "a BigInt: its decimal string");
  t.same((await service.runJs({ code: "({ a: 1n, b: [2n, 3] })" })).value, { a: "1", b: ["2", 3] }, "BigInts inside an object");
  t.same((await service.runJs({ code: "[NaN, 1]" })).value, [null, 1], "NaN inside an array: null, as JSON.stringify gives it");
  t.equal((await service.runJs({ code: "0 / 0" })).value, "NaN", "NaN itself: its name");
  t.match((await service.runJs({ code: "new Error('x')" })).value, { name: "Error", message: "x" }, "an Error: its name and message");
});

t.test("run_js: network rules at the bridge, against loopback servers", async (t) => {
  const { port } = await webServer(t);
  const { port: deniedPort, served: deniedServed } = await webServer(t);
  const { service, embedded } = await snippetService(t, {
    network: { allowedDomains: ["localhost", "*"], deniedDomains: [`localhost:${deniedPort}`], allowedCidrs: ["127.0.0.0/8"], maxRedirects: 3, maxBodyBytes: 1000 },
  });
  const get = async (url: string, policy: object = {}) =>
    (await service.runJs({ code: `fetch(${JSON.stringify(url)}).then(async (r) => [r.status, await r.text()], (e) => 'refused: ' + e.message)`, policy })).value as unknown;
  t.same(await get(`http://localhost:${port}/hello`), [200, "hello from loopback"], "an allowed host");
  t.match(await get(`http://localhost:${deniedPort}/hello`), /refused: .*network\.deniedDomains/, "a denied host");
  t.same(deniedServed, [], "the denied server saw nothing");
  t.match(await get(`http://127.0.0.1:${port}/hello`), /refused: .*network\.denyIpLiterals/, "an IP literal");
  // A name that only '*' allows and that resolves to 127.0.0.1 is refused without a CIDR for it;
  // an entry naming localhost is what opens the host's loopback (bridge/destination-check.ts).
  t.match(await get(`http://localhost:${port}/hello`, { network: { allowedDomains: ["*"], allowedCidrs: [] } }), /refused: .*resolved to 127\.0\.0\.1.*restrict\.network\.blockPrivateRanges/, "a name that resolves to 127.0.0.1, under blockPrivateRanges");
  t.same(await get(`http://localhost:${port}/hello`, { network: { allowedDomains: ["localhost"], allowedCidrs: [] } }), [200, "hello from loopback"], "an entry naming localhost reaches the host's loopback without a CIDR");
  t.same(await get(`http://localhost:${port}/redirect/3`), [200, "arrived"], "redirects up to the limit");
  t.match(await get(`http://localhost:${port}/redirect/4`), /refused: .*at most 3 redirects/, "a redirect chain past maxRedirects");
  t.match(await get(`http://localhost:${port}/redirect/2`, { network: { maxRedirects: 1 } }), /refused: .*at most 1 redirect/, "the call's narrower maxRedirects");
  t.match(await get(`http://localhost:${port}/big`), /refused: .*larger than maxBodyBytes \(1000 bytes\)/, "a body past maxBodyBytes");
  t.match(await get(`http://localhost:${port}/hello`, { network: { deniedDomains: ["localhost"] } }), /refused: .*restrict\.network\.deniedDomains/, "the call's own deniedDomains");
  const ops = embedded.server.audit.tail(100, (e) => e.event === "op" && (e.origin as { id?: string } | undefined)?.id?.startsWith("js-") === true);
  t.ok(ops.some((e) => e.verdict === "deny") && ops.some((e) => e.verdict === "allow"), "each request is audited with its verdict");
  const runs = embedded.server.audit.tail(100, (e) => e.event === "snippet.run");
  t.ok(runs.length >= 9 && runs.every((e) => e.tool === "run_js" && typeof e.capsule === "string"), "each run is audited with its capsule");
});

t.test("run_js: the virtual file system", async (t) => {
  const workspace = tempDir("mcpw-snippets-ws-");
  const ro = tempDir("mcpw-snippets-ro-");
  writeFileSync(join(ro, "data.txt"), "read only data");
  writeFileSync(join(workspace, "in.txt"), "workspace data");
  const { service } = await snippetService(t, { filesystem: { readonly: [ro] } }, { workspace });
  const r = await service.runJs({
    code: `(async () => {
      await fs.writeFile("out.txt", "written");
      const seen = [await fs.readFile("/mount/in.txt", "utf8"), await fs.readFile(${JSON.stringify(join(ro, "data.txt"))}, "utf8")];
      const refused = [];
      for (const p of ["/etc/passwd", "/mount/../../etc/passwd", ${JSON.stringify(join(ro, "x.txt"))}]) {
        await (p.endsWith("x.txt") ? fs.writeFile(p, "no") : fs.readFile(p, "utf8")).then(() => refused.push("ALLOWED " + p), (e) => refused.push(e.code));
      }
      return { seen, refused, root: await fs.readdir("/") };
    })()`,
  });
  t.same(r.value, { seen: ["workspace data", "read only data"], refused: ["ENOENT", "ENOENT", "EROFS"], root: [ro.split("/")[1], "mount"].sort() });
  mkdirSync(join(workspace, "sub"));
  const outside = tempDir("mcpw-snippets-outside-");
  writeFileSync(join(outside, "secret.txt"), "host secret");
  symlinkSync(join(outside, "secret.txt"), join(workspace, "link"));
  symlinkSync(outside, join(ro, "dirlink"));
  for (const p of ["/mount/link", join(ro, "dirlink", "secret.txt")]) {
    const refused = (await service.runJs({ code: `fs.readFile(${JSON.stringify(p)}, "utf8").then(() => "ALLOWED", (e) => [e.code, e.message])` })).value as [string, string];
    t.match(refused, ["policy_denied", /refused: it leads to a place that is not under/], `reading through the symlink ${p} is refused`);
    t.notMatch(refused[1], outside, "without naming where the symlink leads on the host");
  }
  for (const cwd of ["/etc", "/mount/../etc", "/", "/mountain", "/mount/nonexistent", "/mount/in.txt", join(ro, "missing")]) {
    await t.rejects(service.runJs({ code: "process.cwd()", cwd }), { code: "bad_params", field: "cwd" }, `cwd ${cwd} is refused`);
  }
  t.equal((await service.runJs({ code: "process.cwd()", cwd: "/mount/sub/../sub/" })).value, "/mount/sub", "a cwd below /mount, normalised");
  t.equal((await service.runJs({ code: "process.cwd()", cwd: ro })).value, ro, "a policy path");
  // The prelude builds op texts with JSON.stringify; a snippet that replaces it writes any op.
  const forged = async (op: object) =>
    (await service.runJs({ code: `JSON.stringify = () => ${JSON.stringify(JSON.stringify(op))}; fs.stat("/mount/in.txt").then(() => "ALLOWED", (e) => [e.code, e.message])` })).value as [string, string];
  for (const op of [{ op: "exec", command: "id" }, { op: "exec", command: "id", path: ro }, { op: "http.request", url: "http://127.0.0.1:1/" }, { path: "/mount/in.txt" }]) {
    t.match(await forged(op), ["EINVAL", /is not a file operation/], `a forged ${JSON.stringify(op)} is refused by the file system`);
  }
  t.equal(readFileSync(join(workspace, "out.txt"), "utf8"), "written", "writes land in the workspace");
  const narrowed = await service.runJs({ code: `fs.readFile(${JSON.stringify(join(ro, "data.txt"))}, "utf8").catch((e) => e.code)`, policy: { filesystem: { readonly: [] } } });
  t.equal(narrowed.value, "ENOENT", "a call that narrows filesystem.readonly no longer sees the path");
});

t.test("run_js: what a run loads from the host is capped, and a value too large to build fails the call, not mcpw", async (t) => {
  // The reviewer's attack appended 33 x 16 MiB to /mount/big.txt and read it as text: the host's
  // Buffer -> string conversion threw ERR_STRING_TOO_LONG where the QuickJS value is built, the
  // rejection went unhandled and mcpw exited. A sparse file of the same size costs no disk.
  const workspace = tempDir("mcpw-snippets-big-");
  writeFileSync(join(workspace, "big.txt"), "");
  truncateSync(join(workspace, "big.txt"), 33 * 16 * 2 ** 20);
  writeFileSync(join(workspace, "mid.bin"), "");
  truncateSync(join(workspace, "mid.bin"), 40 * 2 ** 20);
  writeFileSync(join(workspace, "small.txt"), "small");
  const body = Buffer.alloc(2 ** 20, 120);
  const server = createServer((_req, res) => res.end(body));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => new Promise<void>((r) => (server.close(() => r()), server.closeAllConnections())));
  const port = (server.address() as AddressInfo).port;
  const { service } = await snippetService(t, { network: { allowedDomains: ["localhost"], allowedCidrs: ["127.0.0.0/8"] }, limits: { timeoutMs: 30_000 } }, { workspace });
  const refusal = (call: string) => `${call}.then((v) => "LOADED " + (v.length ?? v.byteLength), (e) => [e.code, e.message])`;

  const text = await service.runJs({ code: refusal(`fs.readFile("/mount/big.txt", "utf8")`) });
  t.match(text, { exitCode: 0, value: ["too_large", /big\.txt is 553648128 bytes, more than a run may load as text/] }, "a text read past a string's maximum length is refused (default memMb)");
  const bytes = await service.runJs({ code: refusal(`fs.readFile("/mount/mid.bin")`), policy: { limits: { memMb: 32 } } });
  t.match(bytes, { value: ["too_large", /mid\.bin is 41943040 bytes, more than a run may load \(limits\.memMb=32\)/] }, "a read past the run's memMb is refused");
  t.match(await service.runJs({ code: `(async () => [await fs.readFile("/mount/small.txt", "utf8"), (await fs.readFile("/mount/small.txt")).byteLength, await (await fetch("http://localhost:${port}/")).text().then((s) => s.length), (await (await fetch("http://localhost:${port}/")).arrayBuffer()).byteLength])()`, policy: { limits: { memMb: 64 } } }), { value: ["small", 5, 2 ** 20, 2 ** 20] }, "reads and bodies within the limit load as before");
  // (A body past memMb cannot come through the embedded bridge, whose frames stop at 8 MiB: the
  // runner is given one directly.)
  const pool = await QuickJsPool.create(1);
  t.teardown(() => pool.close());
  const host = { info: { args: [], env: {}, cwd: "/mount", stdin: "" }, fetch: async () => ({ status: 200, statusText: "OK", headers: {}, url: "http://x/", redirects: 0, body: Buffer.alloc(20 * 2 ** 20) }) } as unknown as SnippetHost;
  const fetched = await runQuickJs(pool, refusal(`fetch("http://x/")`), host, { timeoutMs: 10_000, memMb: 16, stdoutBytes: 1000 });
  t.match(fetched, { value: ["too_large", /response body is 20971520 bytes, more than a run may load \(limits\.memMb=16\)/] }, "a response body past the run's memMb is refused");
  // Building the value itself fails (here a header that throws when read): the snippet's promise
  // is rejected, and what was half built is freed (QuickJS aborts on a leak when the runtime goes).
  const throwing = { ...host, fetch: async () => ({ status: 200, statusText: "OK", url: "http://x/", redirects: 0, body: Buffer.from("x"), headers: Object.defineProperty({}, "x", { enumerable: true, get: () => { throw new RangeError("Cannot create a string longer than 0x1fffffe8 characters") } }) }) } as unknown as SnippetHost;
  t.match(await runQuickJs(pool, refusal(`fetch("http://x/")`), throwing, { timeoutMs: 10_000, memMb: 16, stdoutBytes: 1000 }), { exitCode: 0, value: ["internal", /Cannot create a string longer/] }, "a value that fails to build rejects the snippet's promise");
  t.match(await runQuickJs(pool, "6 * 7", host, { timeoutMs: 10_000, memMb: 16, stdoutBytes: 1000 }), { value: 42 }, "and QuickJS goes on");
  t.match(await service.runJs({ code: "1 + 1" }), { value: 2 }, "mcpw is still there");
});

t.test("malformed parameters and widening policies are refused, naming the field", async (t) => {
  const { service } = await snippetService(t, { network: { allowedDomains: ["*.example.com"], maxBodyBytes: 1000 }, limits: { timeoutMs: 5000 } });
  const refused = async (input: unknown) => {
    try {
      await service.runJs(input);
    } catch (e) {
      return e as McpwError;
    }
    throw new Error("expected a refusal");
  };
  t.match(await refused({}), { code: "bad_params", field: "code", message: /code: expected string, but it is missing/ });
  t.match(await refused({ code: 1 }), { field: "code" });
  t.match(await refused({ code: "1", args: "x" }), { field: "args" });
  t.match(await refused({ code: "1", colour: "red" }), { field: "colour", message: /unknown field/ });
  t.match(await refused({ code: "1", cwd: "relative" }), { field: "cwd" });
  t.match(await refused({ code: "1", npm: { dependencies: { "Bad Name": "1" } } }), { field: "npm.dependencies.Bad Name" });
  t.match(await refused({ code: "1", policy: { limits: { timeoutMs: 999999 } } }), { field: "policy.limits.timeoutMs", message: /more than the configured 5000/ });
  t.match(await refused({ code: "1", policy: { network: { allowedDomains: ["api.example.com", "evil.test"] } } }), { field: "policy.network.allowedDomains.1", message: /not within the configured allowedDomains/ });
  t.match(await refused({ code: "1", policy: { network: { denyIpLiterals: false } } }), { field: "policy.network.denyIpLiterals" });
  t.match(await refused({ code: "1", policy: { network: { maxBodyBytes: 5000 } } }), { field: "policy.network.maxBodyBytes" });
  t.match(await refused({ code: "1", policy: { filesystem: { writable: ["/etc"] } } }), { field: "policy.filesystem.writable.0" });
  t.match(await refused({ code: "1", policy: { exec: {} } }), { field: "policy.exec" });
  t.match(await service.runJs({ code: "1", policy: { network: { allowedDomains: ["api.example.com"] }, limits: { timeoutMs: 100 } } }), { value: 1 }, "a narrowing policy is accepted");
});

t.test("capsules: signed, content-addressed, verified before every run; a tampered one is refused", async (t) => {
  const { service, state } = await snippetService(t, {});
  const first = await service.runJs({ code: "6 * 7" });
  t.equal(first.value, 42);
  const dir = join(state, "cache", "capsules");
  t.ok(readdirSync(dir).includes(`${first.capsule}.json`), "cached on disk under its address");
  const file = join(dir, `${first.capsule}.json`);
  const stored = JSON.parse(readFileSync(file, "utf8")) as { content: string; signature: string };
  writeFileSync(file, JSON.stringify({ ...stored, content: stored.content.replace("6 * 7", "6 * 9") }));
  await t.rejects(service.runJs({ code: "6 * 7" }), { code: "policy_denied", rule: "capsule.integrity", message: /does not match its SHA-256 address; it was not run/ });
  writeFileSync(file, JSON.stringify({ ...stored, signature: Buffer.alloc(64).toString("base64") }));
  await t.rejects(service.runJs({ code: "6 * 7" }), { code: "policy_denied", message: /Ed25519 signature does not verify/ });
});
