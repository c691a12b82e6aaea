import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttps } from "node:https";
import { createServer as createHttp } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import t from "tap";
import { mcpw } from "../helpers/cli.js";
import { sandboxWorkspace, tempDir } from "../helpers/server.js";

/** Runs `script` under `mcpw run` in node and returns what it printed as JSON on its last line. */
async function inSandbox(script: string, args: string[] = [], cwd = tempDir("mcpw-ic-")): Promise<Record<string, any>> {
  const r = await mcpw(["run", "-q", ...args, "--", "node", "-e", script], { cwd });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`no JSON from the sandbox (exit ${r.code}); stdout: ${r.stdout}; stderr: ${r.stderr}`);
  }
}

const PRELUDE = `
const fs = require("fs"), out = {};
const attempt = async (name, f) => { try { out[name] = await f(); } catch (e) { out[name] = { error: e.code, message: e.message }; } };
`;

t.test("fs: bridge-served paths in sync, callback, promise, stream and worker forms; refusals name the rule", async (t) => {
  const host = tempDir("mcpw-ic-host-");
  writeFileSync(join(host, "ro.txt"), "read-only data");
  mkdirSync(join(host, "rw"));
  writeFileSync(join(host, "rw", "existing.txt"), "old");
  // Not under /tmp: the sandbox has a /tmp of its own, so a host file there is merely absent.
  const secret = tempDir("mcpw-ic-secret-", "/var/tmp");
  writeFileSync(join(secret, "s.txt"), "nope");
  const ro = join(host, "ro.txt");
  const rw = join(host, "rw");
  const r = await inSandbox(
    `${PRELUDE}
    (async () => {
      await attempt("sync", () => fs.readFileSync(${JSON.stringify(ro)}, "utf8"));
      await attempt("callback", () => new Promise((res, rej) => fs.readFile(${JSON.stringify(ro)}, "utf8", (e, d) => (e ? rej(e) : res(d)))));
      await attempt("promise", () => fs.promises.readFile(${JSON.stringify(ro)}, "utf8"));
      await attempt("stream", () => new Promise((res, rej) => { let s = ""; fs.createReadStream(${JSON.stringify(ro)}, "utf8").on("data", (c) => (s += c)).on("end", () => res(s)).on("error", rej); }));
      await attempt("stat", () => fs.statSync(${JSON.stringify(ro)}).size);
      await attempt("worker", () => new Promise((res, rej) => { const { Worker } = require("worker_threads"); const w = new Worker("require('worker_threads').parentPort.postMessage(require('fs').readFileSync(${JSON.stringify(ro).replace(/"/g, "'")}, 'utf8'))", { eval: true }); w.on("message", res); w.on("error", rej); }));
      for (const [name, opts] of [["workerEnvEmpty", "{ env: {} }"], ["workerExecArgvEmpty", "{ execArgv: [] }"], ["workerBoth", "{ env: {}, execArgv: [] }"], ["workerNoNodeOptions", "(delete process.env.NODE_OPTIONS, {})"]]) {
        await attempt(name, () => new Promise((res, rej) => { const { Worker } = require("worker_threads"); const w = new Worker("const fs = require('fs'); let s; try { fs.readFileSync(${JSON.stringify(join(secret, "s.txt")).replace(/"/g, "'")}) } catch (e) { s = e.message } require('worker_threads').parentPort.postMessage([fs.readFileSync(${JSON.stringify(ro).replace(/"/g, "'")}, 'utf8'), s])", { eval: true, ...eval("(" + opts + ")") }); w.on("message", res); w.on("error", rej); }));
      }
      await attempt("writeReadOnly", () => fs.writeFileSync(${JSON.stringify(ro)}, "x"));
      await attempt("writeRw", () => (fs.writeFileSync(${JSON.stringify(join(rw, "new.txt"))}, "written in the sandbox"), "ok"));
      await attempt("appendRw", () => (fs.appendFileSync(${JSON.stringify(join(rw, "existing.txt"))}, "+more"), "ok"));
      await attempt("mkdirRw", () => (fs.mkdirSync(${JSON.stringify(join(rw, "d/e"))}, { recursive: true }), "ok"));
      await attempt("readdirRw", () => fs.readdirSync(${JSON.stringify(rw)}).sort());
      await attempt("renameRw", () => (fs.renameSync(${JSON.stringify(join(rw, "new.txt"))}, ${JSON.stringify(join(rw, "renamed.txt"))}), "ok"));
      await attempt("secret", () => fs.readFileSync(${JSON.stringify(join(secret, "s.txt"))}, "utf8"));
      await attempt("secretStat", () => fs.statSync(${JSON.stringify(secret)}));
      await attempt("mountWrite", () => (fs.writeFileSync("/mount/local.txt", "native"), fs.readFileSync("/mount/local.txt", "utf8")));
      console.log(JSON.stringify(out));
    })();`,
    ["--ro", ro, "--rw", rw],
  );
  t.equal(r.sync, "read-only data");
  t.equal(r.callback, "read-only data", JSON.stringify(r.callback));
  t.equal(r.promise, "read-only data");
  t.equal(r.stream, "read-only data");
  t.equal(r.stat, 14);
  t.equal(r.worker, "read-only data", "a worker thread is intercepted too");
  for (const name of ["workerEnvEmpty", "workerExecArgvEmpty", "workerBoth", "workerNoNodeOptions"]) {
    t.match(r[name], ["read-only data", /outside \/mount and not in policy filesystem\.readonly/], `${name}: a worker given an env or execArgv of its own is intercepted too`);
  }
  t.equal(r.writeReadOnly.error, "EROFS");
  t.match(r.writeReadOnly.message, /read-only \(filesystem\.readonly\)/);
  t.equal(r.writeRw, "ok");
  t.equal(readFileSync(join(rw, "renamed.txt"), "utf8"), "written in the sandbox", "the write and rename reached the host");
  t.equal(readFileSync(join(rw, "existing.txt"), "utf8"), "old+more", JSON.stringify(r.appendRw));
  t.same(r.readdirRw, ["d", "existing.txt", "new.txt"]);
  t.equal(r.secret.error, "EACCES");
  t.match(r.secret.message, /not in policy filesystem\.readonly or filesystem\.writable/);
  t.equal(r.secretStat.error, "EACCES");
  t.equal(r.mountWrite, "native");
});

t.test("fs: existence checks on a missing bridge path answer instead of throwing", async (t) => {
  const host = tempDir("mcpw-ic-exists-");
  writeFileSync(join(host, "there.txt"), "x");
  const r = await inSandbox(
    `${PRELUDE}
    (async () => {
      const p = (n) => ${JSON.stringify(host)} + "/" + n;
      await attempt("exists", () => fs.existsSync(p("there.txt")));
      await attempt("existsMissing", () => fs.existsSync(p("missing.txt")));
      await attempt("existsCallback", () => new Promise((res) => fs.exists(p("missing.txt"), res)));
      await attempt("statNoThrow", () => String(fs.statSync(p("missing.txt"), { throwIfNoEntry: false })));
      await attempt("lstatNoThrow", () => String(fs.lstatSync(p("missing.txt"), { throwIfNoEntry: false })));
      await attempt("statThrows", () => fs.statSync(p("missing.txt")));
      await attempt("statThere", () => fs.statSync(p("there.txt"), { throwIfNoEntry: false }).size);
      console.log(JSON.stringify(out));
    })();`,
    ["--ro", host],
  );
  t.equal(r.exists, true);
  t.equal(r.existsMissing, false, JSON.stringify(r.existsMissing));
  t.equal(r.existsCallback, false);
  t.equal(r.statNoThrow, "undefined", JSON.stringify(r.statNoThrow));
  t.equal(r.lstatNoThrow, "undefined", JSON.stringify(r.lstatNoThrow));
  t.equal(r.statThrows.error, "ENOENT");
  t.equal(r.statThere, 1);
});

t.test("fs: watch and watchFile refuse denied paths synchronously; promises.watch is an async iterator; watchFile polls bridge paths", async (t) => {
  const host = tempDir("mcpw-ic-watch-");
  writeFileSync(join(host, "f.txt"), "one");
  const secret = tempDir("mcpw-ic-watch-secret-", "/var/tmp");
  const r = await inSandbox(
    `${PRELUDE}
    const f = ${JSON.stringify(join(host, "f.txt"))};
    const secret = ${JSON.stringify(secret)};
    const sync = (fn) => { try { const w = fn(); if (w && typeof w.close === "function") w.close(); return typeof w; } catch (e) { return { error: e.code, message: e.message }; } };
    (async () => {
      out.watchDenied = sync(() => fs.watch(secret, () => { out.listenerCalled = true; }));
      out.watchBridge = sync(() => fs.watch(f));
      out.watchFileDenied = sync(() => fs.watchFile(secret, () => { out.listenerCalled = true; }));
      await attempt("promisesWatchDenied", async () => { for await (const e of fs.promises.watch(secret)) return e; });
      await attempt("promisesWatchMount", async () => {
        const ac = new AbortController();
        const it = fs.promises.watch("/mount", { signal: ac.signal });
        setTimeout(() => fs.writeFileSync("/mount/watched.txt", "w"), 200);
        for await (const e of it) { ac.abort(); return e.filename; }
      });
      // Another directory: libuv shares one inotify watch per path, and the last one's events may still be queued.
      fs.mkdirSync("/mount/sub");
      await attempt("watchMount", () => new Promise((res) => { const w = fs.watch("/mount/sub", (ev, name) => { w.close(); res(name); }); setTimeout(() => fs.writeFileSync("/mount/sub/cb.txt", "c"), 200); }));
      await attempt("watchFileBridge", () => new Promise((res) => {
        const w = fs.watchFile(f, { interval: 50 }, (cur, prev) => { fs.unwatchFile(f); res([typeof w.unref, prev.size, cur.size]); });
        setTimeout(() => fs.writeFileSync(f, "longer"), 300);
      }));
      console.log(JSON.stringify(out));
    })();`,
    ["--rw", host],
  );
  t.equal(r.watchDenied.error, "EACCES", JSON.stringify(r.watchDenied));
  t.match(r.watchDenied.message, /not in policy filesystem\.readonly or filesystem\.writable/);
  t.equal(r.watchBridge.error, "ENOTSUP", JSON.stringify(r.watchBridge));
  t.equal(r.watchFileDenied.error, "EACCES", JSON.stringify(r.watchFileDenied));
  t.notOk(r.listenerCalled, "the listener is a listener, never handed the error");
  t.equal(r.promisesWatchDenied.error, "EACCES", JSON.stringify(r.promisesWatchDenied));
  t.equal(r.promisesWatchMount, "watched.txt", JSON.stringify(r.promisesWatchMount));
  t.equal(r.watchMount, "cb.txt", JSON.stringify(r.watchMount));
  t.same(r.watchFileBridge, ["function", 3, 6], JSON.stringify(r.watchFileBridge));
});

t.test("fs: copyFile and cp read an --ro source and copy across the bridge/sandbox boundary", async (t) => {
  const host = tempDir("mcpw-ic-copy-");
  const ro = join(host, "ro");
  const rw = join(host, "rw");
  mkdirSync(join(ro, "tree", "deep"), { recursive: true });
  mkdirSync(rw);
  writeFileSync(join(ro, "f.txt"), "from ro");
  writeFileSync(join(ro, "tree", "a.txt"), "A");
  writeFileSync(join(ro, "tree", "deep", "b.txt"), "B");
  const r = await inSandbox(
    `${PRELUDE}
    const ro = ${JSON.stringify(ro)}, rw = ${JSON.stringify(rw)};
    (async () => {
      await attempt("roToMount", () => (fs.copyFileSync(ro + "/f.txt", "/mount/copy.txt"), fs.readFileSync("/mount/copy.txt", "utf8")));
      await attempt("roToRw", () => (fs.copyFileSync(ro + "/f.txt", rw + "/copy.txt"), fs.readFileSync(rw + "/copy.txt", "utf8")));
      await attempt("mountToRw", () => (fs.writeFileSync("/mount/m.txt", "from mount"), fs.copyFileSync("/mount/m.txt", rw + "/m.txt"), "ok"));
      await attempt("promiseRwToMount", () => fs.promises.copyFile(rw + "/m.txt", "/mount/back.txt").then(() => fs.readFileSync("/mount/back.txt", "utf8")));
      await attempt("callbackRoToMount", () => new Promise((res, rej) => fs.copyFile(ro + "/f.txt", "/mount/cb.txt", (e) => (e ? rej(e) : res(fs.readFileSync("/mount/cb.txt", "utf8"))))));
      await attempt("exclusive", () => fs.copyFileSync(ro + "/f.txt", "/mount/copy.txt", fs.constants.COPYFILE_EXCL));
      await attempt("intoRo", () => fs.copyFileSync("/mount/m.txt", ro + "/new.txt"));
      await attempt("cpTreeToMount", () => (fs.cpSync(ro + "/tree", "/mount/tree", { recursive: true }), [fs.readFileSync("/mount/tree/a.txt", "utf8"), fs.readFileSync("/mount/tree/deep/b.txt", "utf8")]));
      await attempt("cpTreeToRw", () => fs.promises.cp("/mount/tree", rw + "/tree", { recursive: true }).then(() => "ok"));
      await attempt("cpDirNotRecursive", () => fs.cpSync(ro + "/tree", "/mount/tree2"));
      await attempt("renameAcross", () => fs.renameSync(rw + "/m.txt", "/mount/moved.txt"));
      console.log(JSON.stringify(out));
    })();`,
    ["--ro", ro, "--rw", rw],
  );
  t.equal(r.roToMount, "from ro", JSON.stringify(r.roToMount));
  t.equal(r.roToRw, "from ro", JSON.stringify(r.roToRw));
  t.equal(r.mountToRw, "ok", JSON.stringify(r.mountToRw));
  t.equal(readFileSync(join(rw, "m.txt"), "utf8"), "from mount", "the copy reached the host");
  t.equal(r.promiseRwToMount, "from mount", JSON.stringify(r.promiseRwToMount));
  t.equal(r.callbackRoToMount, "from ro", JSON.stringify(r.callbackRoToMount));
  t.equal(r.exclusive.error, "EEXIST", JSON.stringify(r.exclusive));
  t.equal(r.intoRo.error, "EROFS", "the destination is still read-only");
  t.same(r.cpTreeToMount, ["A", "B"], JSON.stringify(r.cpTreeToMount));
  t.equal(r.cpTreeToRw, "ok", JSON.stringify(r.cpTreeToRw));
  t.equal(readFileSync(join(rw, "tree", "deep", "b.txt"), "utf8"), "B");
  t.equal(r.cpDirNotRecursive.error, "EISDIR", JSON.stringify(r.cpDirNotRecursive));
  t.equal(r.renameAcross.error, "EXDEV", "a rename across the boundary is still EXDEV, as across devices");
});

t.test("fs: an --ro path inside an --rw one is read-only (the deeper rule wins)", async (t) => {
  const rw = tempDir("mcpw-ic-nested-");
  const sub = join(rw, "sub");
  mkdirSync(sub);
  writeFileSync(join(sub, "kept.txt"), "kept");
  const r = await inSandbox(
    `${PRELUDE}
    const rw = ${JSON.stringify(rw)}, sub = ${JSON.stringify(sub)};
    (async () => {
      await attempt("writeSub", () => fs.writeFileSync(sub + "/new.txt", "x"));
      await attempt("overwriteSub", () => fs.writeFileSync(sub + "/kept.txt", "x"));
      await attempt("accessSub", () => fs.accessSync(sub + "/kept.txt", fs.constants.W_OK));
      await attempt("readSub", () => fs.readFileSync(sub + "/kept.txt", "utf8"));
      await attempt("writeRw", () => (fs.writeFileSync(rw + "/new.txt", "y"), "ok"));
      console.log(JSON.stringify(out));
    })();`,
    ["--rw", rw, "--ro", sub],
  );
  t.equal(r.writeSub.error, "EROFS", JSON.stringify(r.writeSub));
  t.equal(r.overwriteSub.error, "EROFS", JSON.stringify(r.overwriteSub));
  t.equal(r.accessSub.error, "EROFS", JSON.stringify(r.accessSub));
  t.equal(r.readSub, "kept");
  t.equal(r.writeRw, "ok");
  t.notOk(existsSync(join(sub, "new.txt")), "nothing was created under the --ro path");
  t.equal(readFileSync(join(sub, "kept.txt"), "utf8"), "kept");
});

t.test("fs: readdir {recursive: true} on a bridge path lists the whole tree, as Node lists it natively", async (t) => {
  const host = tempDir("mcpw-ic-rdir-");
  mkdirSync(join(host, "a", "b"), { recursive: true });
  for (const f of ["x.txt", "a/y.txt", "a/b/z.txt"]) writeFileSync(join(host, f), f);
  const r = await inSandbox(
    `${PRELUDE}
    const h = ${JSON.stringify(host)};
    (async () => {
      await attempt("sync", () => fs.readdirSync(h, { recursive: true }));
      await attempt("dirents", () => fs.readdirSync(h, { recursive: true, withFileTypes: true }).map((d) => [d.name, d.parentPath, d.isDirectory()]));
      await attempt("promise", () => fs.promises.readdir(h, { recursive: true }));
      console.log(JSON.stringify(out));
    })();`,
    ["--ro", host],
  );
  const { readdirSync } = await import("node:fs");
  const native = readdirSync(host, { recursive: true }) as string[];
  t.same(r.sync, native, JSON.stringify(r.sync));
  t.same(r.promise, native);
  t.same(r.dirents, readdirSync(host, { recursive: true, withFileTypes: true }).map((d) => [d.name, d.parentPath, d.isDirectory()]));
});

t.test("net: http, https (TLS end to end), fetch and raw TCP reach an allowed host; others are refused", async (t) => {
  const dir = tempDir("mcpw-ic-tls-");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { stdio: "ignore" });
  const https = createHttps({ key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) }, (req, res) => res.end(`tls ok ${req.url}`));
  const http = createHttp((req, res) => res.end(`plain ok ${req.url}`));
  await Promise.all([new Promise<void>((r) => https.listen(0, "127.0.0.1", r)), new Promise<void>((r) => http.listen(0, "127.0.0.1", r))]);
  t.teardown(() => (https.close(), http.close()));
  const hp = (https.address() as AddressInfo).port;
  const pp = (http.address() as AddressInfo).port;
  const ws = sandboxWorkspace("mcpw-ic-ws-");
  writeFileSync(join(ws, "ca.pem"), readFileSync(join(dir, "cert.pem")));
  const r = await inSandbox(
    `${PRELUDE}
    const get = (mod, url, opts = {}) => new Promise((res, rej) => require(mod).get(url, opts, (m) => { let d = ""; m.on("data", (c) => (d += c)); m.on("end", () => res(d)); }).on("error", rej));
    (async () => {
      await attempt("http", () => get("http", "http://127.0.0.1:${pp}/a"));
      await attempt("https", () => get("https", "https://localhost:${hp}/b"));
      await attempt("fetch", () => fetch("http://127.0.0.1:${pp}/c").then((x) => x.text()));
      await attempt("raw", () => new Promise((res, rej) => { const s = require("net").connect(${pp}, "127.0.0.1"); s.end("GET /d HTTP/1.0\\r\\n\\r\\n"); let d = ""; s.on("data", (c) => (d += c)); s.on("end", () => res(d.split("\\r\\n\\r\\n")[1])); s.on("error", rej); }));
      await attempt("otherPort", () => get("http", "http://127.0.0.1:${pp + 1}/"));
      await attempt("denied", () => fetch("http://example.com/").then((x) => x.status, (e) => { throw e.cause; }));
      await attempt("dns", () => require("dns").promises.lookup("example.com"));
      console.log(JSON.stringify(out));
    })();`,
    ["--mount", ws, "--allow-net", `127.0.0.1:${pp}`, "--allow-net", `localhost:${hp}`, "--set-env", "NODE_EXTRA_CA_CERTS=/mount/ca.pem"],
  );
  t.equal(r.http, "plain ok /a");
  t.equal(r.https, "tls ok /b", "TLS verified end to end against the server's certificate");
  t.equal(r.fetch, "plain ok /c");
  t.equal(r.raw, "plain ok /d");
  t.equal(r.otherPort.error, "ECONNREFUSED", "another port of the host's loopback is the sandbox's own loopback: nothing there");
  t.equal(r.denied.error, "ECONNREFUSED");
  t.match(r.denied.message, /host "example\.com:80" is not in network\.allowedDomains/);
  t.equal(r.dns.error, "ENOTFOUND");
  t.match(r.dns.message, /not in network\.allowedDomains/);
});

t.test("the sandbox cannot reach the host's loopback (the server's port) except what the policy names", async (t) => {
  const http = createHttp((_req, res) => res.end("host service"));
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  t.teardown(() => http.close());
  const port = (http.address() as AddressInfo).port;
  const r = await inSandbox(
    `${PRELUDE}
    (async () => {
      await attempt("node", () => new Promise((res, rej) => require("net").connect(${port}, "127.0.0.1").on("connect", () => res("connected")).on("error", rej)));
      await attempt("curlDirect", () => require("child_process").execFileSync("/usr/bin/curl", ["-s", "--noproxy", "*", "http://127.0.0.1:${port}/"]).toString());
      console.log(JSON.stringify(out));
    })();`,
    ["--policy", writePolicy({ exec: { allow: ["curl"] } })],
  );
  t.equal(r.node.error, "ECONNREFUSED", "Node's own connect stays in the sandbox's network namespace");
  t.ok(r.curlDirect.error || r.curlDirect.message, "a program that bypasses the interceptors finds nothing either");
});

t.test("net: the loopback names serve each other as in Python; a refusal on the sandbox's own loopback names the rule", async (t) => {
  const http = createHttp((req, res) => res.end(`host ${req.url}`));
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  t.teardown(() => http.close());
  const port = (http.address() as AddressInfo).port;
  const get = (url: string) => `fetch(${JSON.stringify(url)}).then((x) => x.text(), (e) => { throw e.cause ?? e; })`;
  const byName = await inSandbox(
    `${PRELUDE}
    (async () => {
      await attempt("byName", () => ${get(`http://localhost:${port}/by-name`)});
      await attempt("otherPort", () => new Promise((res, rej) => require("net").connect(${port + 1}, "127.0.0.1").on("connect", () => res("connected")).on("error", rej)));
      console.log(JSON.stringify(out));
    })();`,
    ["--allow-net", `127.0.0.1:${port}`],
  );
  t.equal(byName.byName, "host /by-name", JSON.stringify(byName.byName));
  t.equal(byName.otherPort.error, "ECONNREFUSED");
  t.match(byName.otherPort.message, new RegExp(`mcpw: nothing listens on 127\\.0\\.0\\.1:${port + 1} inside the sandbox.*network\\.allowedDomains.*--allow-net 127\\.0\\.0\\.1:${port + 1}`));
  const byAddress = await inSandbox(`${PRELUDE} (async () => { await attempt("byAddress", () => ${get(`http://127.0.0.1:${port}/by-address`)}); console.log(JSON.stringify(out)); })();`, ["--allow-net", `localhost:${port}`]);
  t.equal(byAddress.byAddress, "host /by-address", JSON.stringify(byAddress.byAddress));
});

t.test("programs: refused unless allowed; exec.allow runs inside, exec.viaBridge runs on the host", async (t) => {
  const host = tempDir("mcpw-ic-exec-");
  writeFileSync(join(host, "only-on-host"), "");
  const r = await inSandbox(
    `${PRELUDE}
    const cp = require("child_process");
    (async () => {
      await attempt("denied", () => cp.execFileSync("/usr/bin/id"));
      await attempt("deniedAsync", () => new Promise((res, rej) => cp.execFile("id", (e, so) => (e ? rej(e) : res(so)))));
      await attempt("inside", () => cp.execFileSync("ls", ["/"]).toString().split("\\n").filter(Boolean).sort());
      await attempt("viaBridge", () => cp.execFileSync("stat", ["-c", "%n", ${JSON.stringify(join(host, "only-on-host"))}]).toString().trim());
      console.log(JSON.stringify(out));
    })();`,
    ["--policy", writePolicy({ exec: { allow: ["ls"], viaBridge: ["stat"] } })],
  );
  t.equal(r.denied.error, "EACCES");
  t.match(r.denied.message, /"id" is not in policy exec\.allow or exec\.viaBridge/);
  t.equal(r.deniedAsync.error, "EACCES");
  t.ok(r.inside.includes("mount") && !r.inside.includes("home"), "ls ran inside: it sees /mount and no /home");
  t.equal(r.viaBridge, join(host, "only-on-host"), "stat ran on the host, through the bridge");
});

t.test("programs: a Node or Python child given its own env by a sync child_process form is intercepted too", async (t) => {
  const probe = `try { require("fs").readFileSync("/etc/shadow"); console.log("READ") } catch (e) { console.log(process.env.FOO, e.message) }`;
  const pyProbe = "import os\ntry: open('/etc/shadow')\nexcept OSError as e: print(os.environ.get('FOO'), e)";
  const r = await inSandbox(
    `${PRELUDE}
    const cp = require("child_process");
    const probe = ${JSON.stringify(probe)};
    (async () => {
      await attempt("execFileSync", () => cp.execFileSync("node", ["-e", probe], { env: { FOO: "1" } }).toString().trim());
      await attempt("spawnSync", () => cp.spawnSync(process.execPath, ["-e", probe], { env: { FOO: "2" } }).stdout.toString().trim());
      await attempt("execSync", () => cp.execSync(process.execPath + " -e '" + probe + "'", { env: { FOO: "3" } }).toString().trim());
      await attempt("python", () => cp.spawnSync("python3", ["-c", ${JSON.stringify(pyProbe)}], { env: { FOO: "4" } }).stdout.toString().trim());
      await attempt("async", () => new Promise((res, rej) => cp.execFile("node", ["-e", probe], { env: { FOO: "5" } }, (e, so) => (e ? rej(e) : res(so.trim())))));
      console.log(JSON.stringify(out));
    })();`,
    ["--policy", writePolicy({ exec: { allow: ["node", "python3", "sh"] } })],
  );
  for (const [form, foo] of [["execFileSync", "1"], ["spawnSync", "2"], ["execSync", "3"], ["python", "4"], ["async", "5"]] as const) {
    t.match(r[form], new RegExp(`^${foo} .*mcpw: .*not in policy filesystem`), `${form}: the child kept its own env and was intercepted: ${JSON.stringify(r[form])}`);
  }
});

t.test("the in-sandbox proxy gives programs that honour HTTP_PROXY / ALL_PROXY the same policy", async (t) => {
  const http = createHttp((req, res) => res.end(`via proxy ${req.url}`));
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  t.teardown(() => http.close());
  const port = (http.address() as AddressInfo).port;
  const cwd = tempDir("mcpw-ic-proxy-");
  const run = (args: string[]) => mcpw(["run", "-q", "--allow-net", `127.0.0.1:${port}`, "--", "/usr/bin/curl", "-s", "-S", ...args], { cwd });
  const viaHttpProxy = await run([`http://127.0.0.1:${port}/http-proxy`]);
  t.equal(viaHttpProxy.stdout, "via proxy /http-proxy", viaHttpProxy.stderr);
  const viaSocks = await run(["--proxy", "socks5h://127.0.0.1:17831", `http://127.0.0.1:${port}/socks`]);
  t.equal(viaSocks.stdout, "via proxy /socks", viaSocks.stderr);
  const refused = await run([`http://127.0.0.1:${port + 1}/`]);
  t.match(refused.stdout, /mcpw proxy: .*127\.0\.0\.1:\d+ is refused by network\.denyIpLiterals/, "refused by the same policy, with the reason");
  const connect = await run(["-p", `http://127.0.0.1:${port}/connect`]);
  t.equal(connect.stdout, "via proxy /connect", "CONNECT tunnelling works too");
});

function writePolicy(policy: object): string {
  const f = join(tempDir("mcpw-ic-policy-"), "policy.json");
  writeFileSync(f, JSON.stringify(policy));
  return f;
}
