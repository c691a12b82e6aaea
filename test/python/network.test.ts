import { join } from "node:path";
import t from "tap";
import { tempDir } from "../helpers/server.js";
import { auditLines, localhostCertificate, loopbackServer, loopbackTlsServer, probe, type Attempt } from "../helpers/python.js";

/**
 * Python networking in a real sandbox, against real servers on the host's loopback. The sandbox
 * has only its own loopback: the host's is reached through tunnels, when the policy names it.
 */

const fetchCode = (url: string) => `
import urllib.request
def get():
    with urllib.request.urlopen(${JSON.stringify(url)}, timeout=20) as r:
        return [r.status, r.read().decode()]
report(get=attempt(get))`;

t.test("urllib reaches a host loopback server the policy allows, and only that one", async (t) => {
  const allowed = await loopbackServer("allowed");
  const other = await loopbackServer("other");
  t.teardown(() => Promise.all([allowed.close(), other.close()]).then(() => undefined));

  const ok = await probe(fetchCode(`${allowed.url}/hello?x=1`), ["--allow-net", `127.0.0.1:${allowed.port}`]);
  t.same(ok.out.get.ok, [200, "hello from allowed /hello?x=1"], ok.run.stderr);
  t.same(allowed.requests.map((r) => r.url), ["/hello?x=1"], "the host server got the request");

  // The same request to a port the policy does not list: refused, saying how it would be allowed.
  const refused = await probe(fetchCode(`${other.url}/secret`), ["--allow-net", `127.0.0.1:${allowed.port}`]);
  const a = refused.out.get as Attempt;
  t.equal(a.error, "ConnectionRefusedError");
  t.equal(a.errno, 111);
  t.match(a.message, new RegExp(`nothing listens on 127\\.0\\.0\\.1:${other.port} inside the sandbox.*network\\.allowedDomains.*--allow-net 127\\.0\\.0\\.1:${other.port}`));
  t.same(other.requests, [], "the unlisted server saw nothing");

  // ... and it works once the policy lists it: the refusal above was the policy, not the server.
  const now = await probe(fetchCode(`${other.url}/secret`), ["--allow-net", `127.0.0.1:${other.port}`]);
  t.same(now.out.get.ok, [200, "hello from other /secret"]);
  t.same(other.requests.map((r) => r.url), ["/secret"]);
});

t.test("a remote name is refused by the bridge's policy, by name, with its rule", async (t) => {
  const allowed = await loopbackServer();
  t.teardown(() => allowed.close());
  const { out, run } = await probe(
    `
import socket, urllib.request
infos = socket.getaddrinfo("api.example.invalid", 443, type=socket.SOCK_STREAM)
s = socket.socket()
report(
    infos=[[int(i[0]), i[4]] for i in infos],
    again=socket.gethostbyname("api.example.invalid"),
    back=socket.gethostbyaddr(infos[0][4][0])[0],
    nameinfo=socket.getnameinfo(infos[0][4], 0),
    literal=socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)[0][4],
    urllib=attempt(lambda: urllib.request.urlopen("http://api.example.invalid/", timeout=20)),
    raw=attempt(lambda: s.connect(infos[0][4])),
    connect_ex=socket.socket().connect_ex(("api.example.invalid", 443)),
)`,
    ["--allow-net", `127.0.0.1:${allowed.port}`],
  );
  t.equal(run.code, 0, run.stderr);
  const [family, [address, port]] = out.infos[0];
  t.equal(family, 2);
  t.match(address, /^198\.1[89]\./, "a synthetic address from 198.18.0.0/15, not a lookup");
  t.equal(port, 443);
  t.equal(out.again, address, "one address per name");
  t.equal(out.back, "api.example.invalid", "and it maps back to the name");
  t.same(out.nameinfo, ["api.example.invalid", "443"]);
  t.same(out.literal, ["127.0.0.1", 80], "IP literals resolve natively");
  for (const name of ["urllib", "raw"]) {
    const a = out[name] as Attempt;
    t.equal(a.errno, 111, `${name}: ECONNREFUSED`);
    t.match(a.message, /mcpw: api\.example\.invalid:(80|443): host "api\.example\.invalid(:\d+)?" is not in network\.allowedDomains/, `${name}: the bridge judged the name`);
  }
  t.equal(out.connect_ex, 111, "connect_ex returns the errno");
});

t.test("localhost:PORT goes to the bridge as the name localhost", async (t) => {
  const server = await loopbackServer("by name");
  t.teardown(() => server.close());
  const audit = join(tempDir("mcpw-py-audit-"), "audit.jsonl");
  const { out, run } = await probe(
    `
import socket, http.client
info = socket.getaddrinfo("localhost", ${server.port}, type=socket.SOCK_STREAM)[0][4]
other_port = socket.getaddrinfo("localhost", 1, type=socket.SOCK_STREAM)[0][4]
c = http.client.HTTPConnection("localhost", ${server.port}, timeout=20)
c.request("GET", "/named")
r = c.getresponse()
report(info=info, other_port=other_port, status=r.status, body=r.read().decode(), peer=c.sock.getpeername(), nodelay=c.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))`,
    ["--allow-net", `localhost:${server.port}`, "--audit", audit],
  );
  t.equal(run.code, 0, run.stderr);
  t.match(out.info[0], /^198\.1[89]\./, "localhost with the listed port gets a synthetic address ...");
  t.same(out.other_port, ["127.0.0.1", 1], "... other ports stay on the sandbox's own loopback");
  t.same([out.status, out.body], [200, "hello from by name /named"]);
  t.same(out.peer, ["127.0.0.1", server.port], "getpeername gives the real peer");
  t.equal(server.requests[0]?.host, `localhost:${server.port}`);
  const connects = auditLines(audit).filter((e) => e.op === "net.connect");
  t.ok(connects.length > 0 && connects.every((e) => e.target === `localhost:${server.port}` && e.verdict === "allow"), "the bridge saw the name, not an address", { connects });
});

t.test("the loopback names serve each other: --allow-net localhost:P lets 127.0.0.1:P through, and 127.0.0.1:P localhost:P", async (t) => {
  const server = await loopbackServer("either name");
  t.teardown(() => server.close());
  const byAddress = await probe(fetchCode(`http://127.0.0.1:${server.port}/by-address`), ["--allow-net", `localhost:${server.port}`]);
  t.same(byAddress.out.get.ok, [200, "hello from either name /by-address"], byAddress.run.stderr);
  const byName = await probe(fetchCode(`http://localhost:${server.port}/by-name`), ["--allow-net", `127.0.0.1:${server.port}`]);
  t.same(byName.out.get.ok, [200, "hello from either name /by-name"], byName.run.stderr);
});

const TLS = localhostCertificate();

t.test("https: TLS runs end to end with the real name for SNI and verification", { skip: TLS ? false : "no openssl CLI to make a certificate" }, async (t) => {
  const tls = TLS!;
  const server = await loopbackTlsServer(tls);
  t.teardown(() => server.close());
  const { out, run } = await probe(
    `
import ssl, urllib.request, http.client
ctx = ssl.create_default_context(cadata=open(${JSON.stringify(tls.certFile)}).read())
def by_name():
    with urllib.request.urlopen("https://localhost:${server.port}/tls", context=ctx, timeout=20) as r:
        return r.read().decode()
def by_address():
    return urllib.request.urlopen("https://127.0.0.1:${server.port}/tls", context=ctx, timeout=20).read()
def client():
    c = http.client.HTTPSConnection("localhost", ${server.port}, context=ctx, timeout=20)
    c.request("GET", "/client")
    return [c.getresponse().read().decode(), c.sock.version(), c.sock.server_hostname]
report(by_name=attempt(by_name), by_address=attempt(by_address), client=attempt(client))`,
    ["--allow-net", `localhost:${server.port}`, "--allow-net", `127.0.0.1:${server.port}`, "--ro", tls.certFile],
  );
  t.equal(run.code, 0, run.stderr);
  t.equal(out.by_name.ok, "hello from tls host /tls");
  t.equal(out.client.ok?.[0], "hello from tls host /client");
  t.match(out.client.ok?.[1], /^TLSv1\.[23]$/);
  t.same(
    server.requests.map((r) => r.servername),
    ["localhost", "localhost"],
    "the server saw SNI localhost: the handshake is the sandbox's own",
  );
  t.match(out.by_address.message, /CERTIFICATE_VERIFY_FAILED.*127\.0\.0\.1/, "and verification is against the name the program used");
});

t.test("asyncio, non-blocking sockets, and the sandbox's own loopback", async (t) => {
  const server = await loopbackServer("async");
  t.teardown(() => server.close());
  const { out, run } = await probe(
    `
import asyncio, select, socket, threading, http.server
async def via_asyncio():
    r, w = await asyncio.open_connection("localhost", ${server.port})
    w.write(b"GET /async HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n")
    await w.drain()
    data = await r.read()
    peer = w.get_extra_info("peername")
    w.close()
    return [data.split(b"\\r\\n")[0].decode(), data.split(b"\\r\\n\\r\\n")[1].decode(), list(peer)]
def non_blocking():
    s = socket.socket()
    s.setblocking(False)
    rc = s.connect_ex(("127.0.0.1", ${server.port}))
    _, writable, _ = select.select([], [s], [], 5)
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    s.setblocking(True)
    s.sendall(b"GET /nb HTTP/1.0\\r\\n\\r\\n")
    data = b""
    while chunk := s.recv(4096):
        data += chunk
    return [rc in (0, 115), writable == [s], err, s.gettimeout(), data.endswith(b"hello from async /nb")]
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
inside = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
threading.Thread(target=inside.serve_forever, daemon=True).start()
def own_loopback():
    import urllib.request
    return urllib.request.urlopen("http://127.0.0.1:%d/" % inside.server_address[1], timeout=10).status
report(asyncio_=attempt(lambda: asyncio.run(via_asyncio())), non_blocking=attempt(non_blocking), own=attempt(own_loopback))`,
    ["--allow-net", `localhost:${server.port}`, "--allow-net", `127.0.0.1:${server.port}`],
  );
  t.equal(run.code, 0, run.stderr);
  t.same(out.asyncio_.ok, ["HTTP/1.1 200 OK", "hello from async /async", ["127.0.0.1", server.port]], "asyncio streams over a tunnel");
  t.same(out.non_blocking.ok, [true, true, 0, null, true], "a non-blocking connect is complete at once, and writable");
  t.equal(out.own.ok, 200, "a server inside the sandbox is reached natively, no policy needed");
  t.same(
    server.requests.map((r) => r.url),
    ["/async", "/nb"],
  );
});
