import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import { join } from "node:path";
import { redirectChain } from "../helpers/web-routes.js";
import t from "tap";
import { makeBridge } from "./fixtures/bridge.js";
import { b64, listen, rejects, tableResolver, tempDir, type TapLike, unb64 } from "./fixtures/harness.js";

/** A loopback HTTP server with a few routes; counts the requests it served. */
async function webServer(t: TapLike) {
  const served: string[] = [];
  let port = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    served.push(req.url ?? "");
    const url = new URL(req.url ?? "/", "http://x");
    if (redirectChain(url.pathname, res)) return;
    switch (url.pathname) {
      case "/hello":
        res.setHeader("set-cookie", ["a=1", "b=2"]);
        res.setHeader("x-multi", ["one", "two"]);
        res.setHeader("keep-alive", "timeout=5");
        res.writeHead(200, "Fine Thanks", { "content-type": "text/plain" });
        return res.end("hi");
      case "/echo": {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => res.end(JSON.stringify({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() })));
        return;
      }
      case "/to-denied":
        res.writeHead(302, { location: `http://evil.test:${port}/hello` });
        return res.end();
      case "/to-metadata":
        res.writeHead(307, { location: `http://meta.test:${port}/latest/meta-data/` });
        return res.end();
      case "/post-then-303":
        res.writeHead(303, { location: "/echo" });
        return res.end();
      case "/to-other-origin":
        res.writeHead(307, { location: `http://other.test:${port}/echo` });
        return res.end();
      case "/big":
        return res.end("x".repeat(2000));
      case "/big-chunked":
        res.write("x".repeat(800));
        return setTimeout(() => res.end("x".repeat(800)), 10);
      case "/slow":
        return; // never answers
      default:
        res.writeHead(404);
        return res.end("no such route");
    }
  });
  port = await listen(t, server);
  return { port, served };
}

const resolver = tableResolver({
  "web.test": ["127.0.0.1"],
  "other.test": ["127.0.0.1"],
  "evil.test": ["127.0.0.1"],
  "meta.test": ["169.254.169.254"],
  "secure.test": ["127.0.0.1"],
  "wrong.test": ["127.0.0.1"],
});
const policy = (network: object = {}) => ({
  network: { allowedDomains: ["web.test", "other.test", "meta.test", "secure.test", "wrong.test"], allowedCidrs: ["127.0.0.0/8"], ...network },
});

t.test("an allowed request", async (t) => {
  const { port } = await webServer(t);
  const { perform, audit } = makeBridge(policy(), { resolver });
  const r = await perform({ op: "http.request", url: `http://web.test:${port}/hello?token=s3cret` });
  t.match(r, { status: 200, statusText: "Fine Thanks", url: `http://web.test:${port}/hello?token=s3cret`, redirects: 0 });
  t.equal(unb64(r.body), "hi");
  t.equal(r.headers["set-cookie"], "a=1, b=2", "multiple values joined with ', '");
  t.equal(r.headers["x-multi"], "one, two");
  t.equal(r.headers["content-type"], "text/plain", "names are lower case");
  t.notOk("keep-alive" in r.headers || "connection" in r.headers || "transfer-encoding" in r.headers, "hop-by-hop response headers are dropped");
  t.equal(audit.length, 1);
  t.match(audit[0], { verdict: "allow", op: "http.request", target: `GET http://web.test:${port}/hello?…` });
  t.notMatch(JSON.stringify(audit), /s3cret/, "the query string (which may hold keys) is not audited");
});

t.test("request headers and body", async (t) => {
  const { port } = await webServer(t);
  const { perform } = makeBridge(policy(), { resolver });
  const r = await perform({
    op: "http.request",
    url: `http://web.test:${port}/echo`,
    method: "POST",
    body: b64("payload"),
    headers: { Host: "evil.test", Connection: "x-hop", "X-Hop": "1", "Keep-Alive": "300", "Transfer-Encoding": "chunked", "X-Fine": "yes", "Content-Length": "999" },
  });
  const echoed = JSON.parse(unb64(r.body));
  t.equal(echoed.method, "POST");
  t.equal(echoed.body, "payload");
  t.equal(echoed.headers.host, `web.test:${port}`, "Host comes from the URL, not from the caller");
  t.equal(echoed.headers["content-length"], "7", "Content-Length comes from the body");
  t.equal(echoed.headers["x-fine"], "yes");
  t.notOk("x-hop" in echoed.headers, "headers named in Connection are dropped");
  t.notOk("keep-alive" in echoed.headers || "transfer-encoding" in echoed.headers, "hop-by-hop headers are dropped");
  await rejects(t, perform({ op: "http.request", url: `http://web.test:${port}/echo`, headers: { "x-bad": "a\r\nInjected: 1" } }), { code: "bad_params", field: "op.headers.x-bad" }, "header injection");
});

t.test("a denied host is refused before any request", async (t) => {
  const { port, served } = await webServer(t);
  const { perform, audit } = makeBridge(policy(), { resolver });
  await rejects(t, perform({ op: "http.request", url: `http://evil.test:${port}/hello` }), { code: "policy_denied", rule: "network.allowedDomains", message: /evil\.test/ }, "evil.test");
  await rejects(t, perform({ op: "http.request", url: `http://127.0.0.1:${port}/hello` }), { code: "policy_denied", rule: "network.denyIpLiterals" }, "an IP literal URL");
  await rejects(t, perform({ op: "http.request", url: `http://[::ffff:127.0.0.1]:${port}/hello` }), { code: "policy_denied", rule: "network.denyIpLiterals" }, "an IPv4-mapped literal URL");
  await rejects(t, perform({ op: "http.request", url: `file:///etc/passwd` }), { code: "bad_params", field: "op.url" }, "a file: URL");
  await rejects(t, perform({ op: "http.request", url: `http://user:pw@web.test:${port}/` }), { code: "bad_params", field: "op.url" }, "credentials in the URL");
  t.same(served, [], "the server saw nothing");
  t.same(audit.map((e) => e.verdict), ["deny", "deny", "deny", "error", "error"]);
});

t.test("redirects", async (t) => {
  const { port, served } = await webServer(t);
  const { perform } = makeBridge(policy({ maxRedirects: 3 }), { resolver });
  const asked = resolver.asked["web.test"] ?? 0;
  const ok = await perform({ op: "http.request", url: `http://web.test:${port}/redirect/3` });
  t.match(ok, { status: 200, redirects: 3, url: `http://web.test:${port}/redirect/0` });
  t.equal(unb64(ok.body), "arrived");
  t.equal(resolver.asked["web.test"], asked + 4, "each hop's destination is checked (and resolved) again");
  served.length = 0;
  await rejects(t, perform({ op: "http.request", url: `http://web.test:${port}/redirect/4` }), { code: "policy_denied", rule: "network.maxRedirects", message: /at most 3 redirects/ }, "one past the policy's limit");
  t.equal(served.length, 4, "the fourth redirect was not followed");
  await rejects(t, perform({ op: "http.request", url: `http://web.test:${port}/redirect/2`, maxRedirects: 1 }), { code: "policy_denied", rule: "network.maxRedirects" }, "the op's narrower limit");
  await rejects(t, perform({ op: "http.request", url: `http://web.test:${port}/redirect/1`, maxRedirects: 9 }, { allowedDomains: ["web.test"], allowedCidrs: ["127.0.0.0/8"], maxRedirects: 0 }), { code: "policy_denied", rule: "network.maxRedirects" }, "the requester's narrower limit");
  served.length = 0;
  await rejects(t, perform({ op: "http.request", url: `http://web.test:${port}/to-denied` }), { code: "policy_denied", rule: "network.allowedDomains", message: /evil\.test/ }, "a redirect to a denied host");
  await rejects(t, perform({ op: "http.request", url: `http://web.test:${port}/to-metadata` }), { code: "policy_denied", rule: "network.blockPrivateRanges", message: /169\.254\.169\.254/ }, "a redirect to a name that resolves to the metadata address");
  t.same(served, ["/to-denied", "/to-metadata"], "no request reached the forbidden hops");
});

t.test("redirect semantics: 303 turns POST into GET, credentials stay with their origin", async (t) => {
  const { port } = await webServer(t);
  const { perform } = makeBridge(policy(), { resolver });
  const r = await perform({ op: "http.request", url: `http://web.test:${port}/post-then-303`, method: "POST", body: b64("data"), headers: { "content-type": "text/plain" } });
  t.match(JSON.parse(unb64(r.body)), { method: "GET", body: "" });
  const cross = await perform({ op: "http.request", url: `http://web.test:${port}/to-other-origin`, headers: { authorization: "Bearer secret", cookie: "s=1", "x-keep": "1" } });
  const headers = JSON.parse(unb64(cross.body)).headers;
  t.notOk("authorization" in headers || "cookie" in headers, "credentials are not sent to another origin");
  t.equal(headers["x-keep"], "1");
  t.equal(headers.host, `other.test:${port}`);
});

t.test("response bodies are capped", async (t) => {
  const { port } = await webServer(t);
  const { perform } = makeBridge(policy({ maxBodyBytes: 1000 }), { resolver });
  await rejects(t, perform({ op: "http.request", url: `http://web.test:${port}/big` }), { code: "too_large", message: /maxBodyBytes \(1000 bytes\)/ }, "past the policy's limit (declared length)");
  await rejects(t, perform({ op: "http.request", url: `http://web.test:${port}/big-chunked` }), { code: "too_large" }, "past the limit (chunked)");
  await rejects(t, perform({ op: "http.request", url: `http://web.test:${port}/hello`, maxBodyBytes: 1 }), { code: "too_large", message: /\(1 bytes\)/ }, "the op's narrower limit");
  t.equal(unb64((await perform({ op: "http.request", url: `http://web.test:${port}/hello` })).body), "hi", "under the limit");
});

t.test("timeouts", async (t) => {
  const { port } = await webServer(t);
  const { perform, audit } = makeBridge(policy(), { resolver });
  const started = Date.now();
  await rejects(t, perform({ op: "http.request", url: `http://web.test:${port}/slow`, timeoutMs: 300 }), { code: "timeout", message: /300 ms/ }, "a server that never answers");
  t.ok(Date.now() - started < 3000, "gave up in time");
  t.match(audit, [{ verdict: "error", code: "timeout" }]);
});

t.test("https: certificates are verified against the URL's host name, at the vetted address", async (t) => {
  const dir = tempDir(t);
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=secure.test", "-addext", "subjectAltName=DNS:secure.test"], { stdio: "ignore" });
  const server = createTlsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.end("over tls"));
  const port = await listen(t, server);

  const untrusting = makeBridge(policy(), { resolver });
  await rejects(t, untrusting.perform({ op: "http.request", url: `https://secure.test:${port}/` }), { code: "io_error", errno: /SELF_SIGNED|UNABLE_TO_VERIFY/, message: /certificate/i }, "a self-signed certificate is refused");

  const trusting = makeBridge(policy(), { resolver, httpsCa: readFileSync(cert) });
  const ok = await trusting.perform({ op: "http.request", url: `https://secure.test:${port}/` });
  t.equal(unb64(ok.body), "over tls", "with its CA trusted, the same server works (so SNI and verification used secure.test)");
  await rejects(t, trusting.perform({ op: "http.request", url: `https://wrong.test:${port}/` }), { code: "io_error", errno: "ERR_TLS_CERT_ALTNAME_INVALID" }, "the same address under another name fails verification");
});
