import { createServer, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import t from "tap";
import { StreamMux } from "../../protocol/streams.js";
import { makeBridge } from "./fixtures/bridge.js";
import { listen, rejects, tableResolver, type TapLike } from "./fixtures/harness.js";

/**
 * Two StreamMux instances wired back to back stand in for the link: the bridge opens its end of a
 * stream with `openStream`, the requester holds the other end.
 */
function muxPair() {
  let bridgeSide: StreamMux;
  const requesterSide = new StreamMux((buf) => setImmediate(() => bridgeSide.handle(buf)), 2);
  bridgeSide = new StreamMux((buf) => setImmediate(() => requesterSide.handle(buf)), 1);
  const opened: number[] = [];
  const ctx = {
    openStream: (id: number): Duplex => {
      opened.push(id);
      return bridgeSide.open(id);
    },
  };
  return { requesterSide, ctx, opened };
}

function readAll(stream: Duplex): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    stream.on("data", (c: Buffer) => (text += c.toString()));
    stream.on("end", () => resolve(text));
    stream.on("error", reject);
  });
}

/** A server that reads until the client's END, then answers with what it read, upper-cased, and ends. */
async function shoutServer(t: TapLike, host = "127.0.0.1") {
  const seen: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    seen.push(sock);
    let got = "";
    sock.on("data", (c: Buffer) => (got += c.toString()));
    sock.on("end", () => sock.end(got.toUpperCase()));
  });
  const port = await listen(t, server, host);
  return { port, seen };
}

const policy = { network: { allowedDomains: ["echo.test", "127.0.0.1", "::1"], allowedCidrs: ["127.0.0.0/8"] } };

t.test("net.connect tunnels bytes both ways and keeps half-close", async (t) => {
  const { port } = await shoutServer(t);
  const resolver = tableResolver({ "echo.test": ["127.0.0.1"] });
  const { perform, audit } = makeBridge(policy, { resolver });
  const { requesterSide, ctx, opened } = muxPair();
  const id = requesterSide.allocateId();
  const client = requesterSide.open(id);
  const result = await perform({ op: "net.connect", host: "echo.test", port, stream: id }, undefined, ctx);
  t.same(result, { stream: id, remoteAddress: "127.0.0.1", remotePort: port });
  t.same(opened, [id], "the bridge opened exactly the requested stream");
  const answer = readAll(client);
  client.write("hello, ");
  client.end("world");
  // The server answers only after our END: if END had closed both directions, nothing would come back.
  t.equal(await answer, "HELLO, WORLD");
  t.match(audit, [{ verdict: "allow", op: "net.connect", target: `echo.test:${port}` }]);
});

t.test("the server's half-close leaves our direction open", async (t) => {
  let received = "";
  const done = new Promise<void>((resolve) => {
    const server = createServer({ allowHalfOpen: true }, (sock) => {
      sock.end("bye"); // server: no more from me, but keep listening
      sock.on("data", (c: Buffer) => (received += c.toString()));
      sock.on("end", () => resolve());
    });
    void listen(t, server).then(async (port) => {
      const { perform } = makeBridge(policy);
      const { requesterSide, ctx } = muxPair();
      const id = requesterSide.allocateId();
      const client = requesterSide.open(id);
      await perform({ op: "net.connect", host: "127.0.0.1", port, stream: id }, undefined, ctx);
      t.equal(await readAll(client), "bye");
      client.end("still here");
    });
  });
  await done;
  t.equal(received, "still here", "data sent after the server's FIN arrives");
});

t.test("a reset on either side tears the other down", async (t) => {
  const server = createServer((sock) => sock.once("data", () => sock.resetAndDestroy()));
  const port = await listen(t, server);
  const { perform } = makeBridge(policy);
  const { requesterSide, ctx } = muxPair();
  const id = requesterSide.allocateId();
  const client = requesterSide.open(id);
  await perform({ op: "net.connect", host: "127.0.0.1", port, stream: id }, undefined, ctx);
  const failed = new Promise<Error>((resolve) => client.on("error", resolve));
  client.write("trigger");
  t.match(await failed, { errno: "ECONNRESET" }, "the requester sees the reset");

  let serverSock: Socket | undefined;
  const closed = new Promise<void>((resolve) => {
    const s2 = createServer((sock) => {
      serverSock = sock;
      sock.on("error", () => undefined);
      sock.on("close", () => resolve());
    });
    void listen(t, s2).then(async (port2) => {
      const id2 = requesterSide.allocateId();
      const client2 = requesterSide.open(id2);
      await perform({ op: "net.connect", host: "127.0.0.1", port: port2, stream: id2 }, undefined, ctx);
      client2.on("error", () => undefined);
      client2.destroy(new Error("requester gave up"));
    });
  });
  await closed;
  t.ok(serverSock, "the server's socket closed when the requester reset the stream");
});

t.test("IPv6 loopback", async (t) => {
  const { port } = await shoutServer(t, "::1");
  const { perform, audit } = makeBridge(policy);
  const { requesterSide, ctx } = muxPair();
  const id = requesterSide.allocateId();
  const client = requesterSide.open(id);
  const result = await perform({ op: "net.connect", host: "[0:0::1]", port, stream: id }, undefined, ctx);
  t.match(result, { remoteAddress: "::1" });
  t.match(audit, [{ verdict: "allow", target: `[0:0::1]:${port}` }], "the audit names the host as asked");
  const answer = readAll(client);
  client.end("six");
  t.equal(await answer, "SIX");
});

t.test("refused destinations never connect and never open a stream", async (t) => {
  const { port, seen } = await shoutServer(t);
  const resolver = tableResolver({ "evil.test": ["127.0.0.1"], "rebind.test": ["127.0.0.1"] });
  const { perform, audit } = makeBridge({ network: { allowedDomains: ["echo.test", "rebind.test"] } }, { resolver });
  const { ctx, opened } = muxPair();
  await rejects(t, perform({ op: "net.connect", host: "evil.test", port, stream: 2 }, undefined, ctx), { code: "policy_denied", rule: "network.allowedDomains" }, "a denied host");
  await rejects(t, perform({ op: "net.connect", host: "rebind.test", port, stream: 4 }, undefined, ctx), { code: "policy_denied", rule: "network.blockPrivateRanges" }, "a name that resolves to loopback");
  await rejects(t, perform({ op: "net.connect", host: "127.0.0.1", port, stream: 6 }, undefined, ctx), { code: "policy_denied", rule: "network.denyIpLiterals" }, "an IP literal");
  await rejects(t, perform({ op: "net.connect", host: "0x7f.1", port, stream: 8 }, undefined, ctx), { code: "policy_denied", rule: "network.denyIpLiterals" }, "an IP literal spelled as a number");
  await new Promise((r) => setTimeout(r, 50));
  t.equal(seen.length, 0, "the server saw no connection");
  t.same(opened, [], "no stream was opened");
  t.same(audit.map((e) => e.verdict), ["deny", "deny", "deny", "deny"]);
});

t.test("the requester's restrict.network narrows the bridge's", async (t) => {
  const { port, seen } = await shoutServer(t);
  const { perform } = makeBridge(policy);
  const { ctx } = muxPair();
  await rejects(t, perform({ op: "net.connect", host: "127.0.0.1", port, stream: 2 }, { allowedDomains: ["example.com"] }, ctx), { code: "policy_denied", rule: "restrict.network.denyIpLiterals" }, "restricted");
  t.equal(seen.length, 0);
});

t.test("connection errors are io_error", async (t) => {
  const server = createServer();
  const port = await listen(t, server);
  await new Promise<void>((r) => server.close(() => r()));
  const { perform } = makeBridge(policy);
  const { ctx, opened } = muxPair();
  await rejects(t, perform({ op: "net.connect", host: "127.0.0.1", port, stream: 2 }, undefined, ctx), { code: "io_error", errno: "ECONNREFUSED" }, "nothing listening");
  t.same(opened, []);
});

t.test("the connect time limit covers name resolution too", async (t) => {
  const hanging = async (): Promise<never> => new Promise<never>(() => undefined);
  const { perform } = makeBridge({ network: { allowedDomains: ["slow.test"] } }, { resolver: hanging, connectTimeoutMs: 200 });
  const { ctx, opened } = muxPair();
  const started = Date.now();
  await rejects(t, perform({ op: "net.connect", host: "slow.test", port: 80, stream: 2 }, undefined, ctx), { code: "timeout", message: /connecting to slow\.test:80 timed out after 200 ms/ }, "a resolver that never answers");
  t.ok(Date.now() - started < 2000);
  t.same(opened, []);
});

t.test("net.resolve returns only vetted addresses", async (t) => {
  const resolver = tableResolver({ "echo.test": ["127.0.0.1", "::1"], "evil.test": ["93.184.216.34"] });
  const { perform } = makeBridge({ network: { allowedDomains: ["echo.test"], allowedCidrs: ["127.0.0.0/8", "::1/128"] } }, { resolver });
  t.same(await perform({ op: "net.resolve", host: "echo.test" }), { addresses: [{ address: "127.0.0.1", family: 4 }, { address: "::1", family: 6 }] });
  t.same(await perform({ op: "net.resolve", host: "echo.test", family: 6 }), { addresses: [{ address: "::1", family: 6 }] });
  await rejects(t, perform({ op: "net.resolve", host: "evil.test" }), { code: "policy_denied", rule: "network.allowedDomains" }, "a denied name");
  t.equal(resolver.asked["evil.test"], undefined, "a denied name is not even resolved");
});
