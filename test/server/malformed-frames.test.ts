import t from "tap";
import { startTestServer } from "../helpers/server.js";

t.test("malformed frames get structured errors naming the problem; connection and server survive", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const raw = await ts.raw();
  const authed = await raw.request("auth", { role: "client", token: ts.adminToken });
  t.equal(authed.ok, true);

  const cases: [string, string | Buffer, (a: Record<string, any>) => void][] = [
    ["not JSON", "{this is not json", (a) => (t.equal(a.error.code, "bad_frame"), t.match(a.error.message, /not valid JSON/))],
    ["a JSON array", "[1,2,3]", (a) => (t.equal(a.error.code, "bad_frame"), t.match(a.error.message, /must be a JSON object/))],
    ["a JSON string", '"hello"', (a) => t.equal(a.error.code, "bad_frame")],
    ["missing version", JSON.stringify({ kind: "req", id: "a1", method: "token.list" }), (a) => (t.equal(a.error.code, "unsupported_version"), t.equal(a.id, "a1"))],
    ["wrong version", JSON.stringify({ v: 99, kind: "req", id: "a2", method: "token.list" }), (a) => (t.equal(a.error.field, "v"), t.match(a.error.message, /version 99 is not supported/))],
    ["unknown kind", JSON.stringify({ v: 1, kind: "shout", id: "a3" }), (a) => (t.equal(a.error.code, "bad_frame"), t.equal(a.error.field, "kind"))],
    ["method of the wrong type", JSON.stringify({ v: 1, kind: "req", id: "a4", method: 42 }), (a) => (t.equal(a.error.field, "method"), t.match(a.error.message, /expected string, got number/))],
    ["id of the wrong type", JSON.stringify({ v: 1, kind: "req", id: { x: 1 }, method: "token.list" }), (a) => (t.equal(a.error.field, "id"), t.equal(a.id, null))],
    ["an extra envelope field", JSON.stringify({ v: 1, kind: "req", id: "a5", method: "token.list", sneaky: true }), (a) => (t.equal(a.error.field, "sneaky"), t.match(a.error.message, /unknown field "sneaky"/))],
    ["unknown method", JSON.stringify({ v: 1, kind: "req", id: "a6", method: "rm.everything" }), (a) => (t.equal(a.error.code, "unknown_method"), t.match(a.error.message, /unknown method "rm.everything"/), t.equal(a.id, "a6"))],
    ["a server-only method", JSON.stringify({ v: 1, kind: "req", id: "a7", method: "bridge.op", params: {} }), (a) => t.equal(a.error.code, "unknown_method")],
    ["params of the wrong type", JSON.stringify({ v: 1, kind: "req", id: "a8", method: "token.create", params: { env: 7, name: "x" } }), (a) => (t.equal(a.error.code, "bad_params"), t.equal(a.error.field, "params.env"), t.match(a.error.message, /params\.env: expected string, got number/))],
    ["a missing param", JSON.stringify({ v: 1, kind: "req", id: "a9", method: "token.create", params: { env: "dev" } }), (a) => (t.equal(a.error.field, "params.name"), t.match(a.error.message, /missing/))],
    ["a bad environment name", JSON.stringify({ v: 1, kind: "req", id: "b1", method: "token.create", params: { env: "../prod", name: "x" } }), (a) => (t.equal(a.error.field, "params.env"), t.match(a.error.message, /environment names/))],
    ["an unknown param", JSON.stringify({ v: 1, kind: "req", id: "b2", method: "token.list", params: { all: true } }), (a) => t.equal(a.error.field, "params.all")],
    ["a response nobody asked for", JSON.stringify({ v: 1, kind: "res", id: "zz", ok: true, result: 1 }), () => undefined],
    ["a huge frame (9 MiB)", JSON.stringify({ v: 1, kind: "req", id: "big", method: "token.list", params: { pad: "x".repeat(9 * 1024 * 1024) } }), (a) => (t.equal(a.error.code, "too_large"), t.match(a.error.message, /exceeds the 8388608-byte limit/))],
  ];
  for (const [name, frame, check] of cases) {
    raw.send(frame);
    if (name === "a response nobody asked for") continue; // silently ignored: nothing to answer
    const answer = await raw.next();
    t.equal(answer.ok, false, `${name}: answered with an error`);
    check(answer);
    // After every bad frame the same connection still works.
    const ok = await raw.request("server.status", {});
    t.equal(ok.ok, true, `${name}: connection still serves requests`);
  }

  // Binary garbage (not a stream frame): dropped; the connection stays.
  raw.send(Buffer.from([0xff, 0, 1]), true);
  raw.send(Buffer.from([9, 0, 0, 0, 1, 1, 2, 3]), true);
  const still = await raw.request("server.status", {});
  t.equal(still.ok, true, "binary garbage does not break the connection");

  // Beyond the hard limit the WebSocket layer closes this one connection (1009); the server stays.
  const flood = await ts.raw();
  flood.send("x".repeat(40 * 1024 * 1024));
  await flood.next(10_000).catch(() => undefined);
  t.equal(flood.closed?.code, 1009, "a 40 MiB frame closes only that connection, with 1009 (message too big)");
  const again = await ts.admin();
  t.equal((await again.call("server.status")).env, "dev", "the server still answers new connections");
});

t.test("frame limits count bytes, binary frames too, and are small until the connection authenticates", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const raw = await ts.raw();

  // Before auth: 64 KiB. An unauthenticated peer cannot make the server parse megabytes of JSON.
  raw.send(JSON.stringify({ v: 1, kind: "req", id: "pre", method: "auth", params: { role: "client", token: ts.adminToken, pad: "x".repeat(100 * 1024) } }));
  const pre = await raw.next();
  t.equal(pre.error?.code, "too_large", "a 100 KiB frame before auth is too large");
  t.match(pre.error?.message, /^frame of 102\d{3} bytes exceeds the 65536-byte limit before authentication$/);
  t.equal((await raw.request("auth", { role: "client", token: ts.adminToken })).ok, true, "the connection still authenticates");
  const after = await raw.request("server.status", { pad: "x".repeat(100 * 1024) });
  t.equal(after.error?.code, "bad_params", "after auth a 100 KiB frame is read (and its unknown field refused)");

  // 12 MiB of two-byte characters is 6 Mi characters: counted in characters it passed the 8 MiB limit.
  const wide = JSON.stringify({ v: 1, kind: "req", id: "wide", method: "server.status", params: { pad: "é".repeat(6 * 1024 * 1024) } });
  t.ok(wide.length < 8 * 1024 * 1024 && Buffer.byteLength(wide) > 12 * 1024 * 1024, "fewer than 8 Mi characters, more than 12 MiB");
  raw.send(wide);
  const w = await raw.next(20_000);
  t.equal(w.error?.code, "too_large", "12 MiB of two-byte characters is too large");
  t.match(w.error?.message, /^frame of \d+ bytes exceeds the 8388608-byte limit$/);

  raw.send(Buffer.alloc(9 * 1024 * 1024, 1), true);
  const b = await raw.next(20_000);
  t.equal(b.error?.code, "too_large", "a 9 MiB binary frame gets too_large, as for text");
  t.match(b.error?.message, /^binary frame of 9437184 bytes exceeds the 8388608-byte limit$/);
  t.equal((await raw.request("server.status", {})).ok, true, "and the connection still serves requests");
});

t.test("a browser page cannot open the WebSocket", async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  const { default: WebSocket } = await import("ws");
  const status = await new Promise<number>((resolve) => {
    const ws = new WebSocket(ts.url, { headers: { origin: "https://evil.example" } });
    ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    ws.on("open", () => resolve(101));
    ws.on("error", () => undefined);
  });
  t.equal(status, 403);
});
