import t from "tap";
import { matchesHostPattern, parseHostPattern, parseRequestHost } from "../../bridge/host-pattern.js";
import { McpwError } from "../../protocol/errors.js";

const matches = (pattern: string, host: string, port?: number): boolean =>
  matchesHostPattern(parseHostPattern(pattern), parseRequestHost(host), port);

t.test("matching table", async (t) => {
  const table: [pattern: string, host: string, port: number | undefined, expected: boolean][] = [
    ["example.com", "example.com", 443, true],
    ["example.com", "EXAMPLE.com", 443, true],
    ["example.com", "example.com.", 443, true],
    ["Example.COM.", "example.com", 80, true],
    ["example.com", "www.example.com", 443, false],
    ["example.com", "example.com.evil.test", 443, false],
    ["example.com", "notexample.com", 443, false],
    ["*.example.com", "a.example.com", 443, true],
    ["*.example.com", "a.b.c.example.com", 443, true],
    ["*.example.com", "example.com", 443, false],
    ["*.example.com", "evilexample.com", 443, false],
    ["*.example.com", "example.com.evil.test", 443, false],
    ["*", "anything.test", 1, true],
    ["*", "127.0.0.1", 1, true],
    ["127.0.0.1", "127.0.0.1", 80, true],
    ["127.0.0.1", "127.0.0.2", 80, false],
    ["127.0.0.1", "127.1", 80, true], // inet_aton spelling of the same address
    ["127.0.0.1", "0x7f000001", 80, true],
    ["127.0.0.1", "0177.0.0.1", 80, true],
    ["::1", "::1", 80, true],
    ["::1", "0:0::1", 80, true],
    ["::1", "[::1]", 80, true],
    ["[::1]", "0000:0000:0000:0000:0000:0000:0000:0001", 80, true],
    ["::1", "::2", 80, false],
    ["::ffff:127.0.0.1", "::ffff:7f00:1", 80, true],
    ["example.com:443", "example.com", 443, true],
    ["example.com:443", "example.com", 80, false],
    ["example.com:443", "example.com", undefined, true],
    ["[::1]:8080", "::1", 8080, true],
    ["[::1]:8080", "::1", 8081, false],
    ["127.0.0.1:8080", "127.0.0.1", 8080, true],
    ["127.0.0.1:8080", "127.0.0.1", 9090, false],
    ["*:443", "x.test", 443, true],
    ["*:443", "x.test", 80, false],
    // a name pattern never matches an address, nor an address pattern a name
    ["localhost", "127.0.0.1", 80, false],
    ["127.0.0.1", "localhost", 80, false],
    ["*.example.com", "127.0.0.1", 80, false],
  ];
  for (const [pattern, host, port, expected] of table) {
    t.equal(matches(pattern, host, port), expected, `${pattern} ${expected ? "matches" : "does not match"} ${host}${port ? `:${port}` : ""}`);
  }
});

t.test("patterns are normalised", async (t) => {
  t.match(parseHostPattern("[0:0::1]:80"), { kind: "ip", host: "::1", port: 80 });
  t.match(parseHostPattern("WWW.Example.com."), { kind: "name", host: "www.example.com", port: null });
  t.match(parseHostPattern("*.Example.com"), { kind: "subdomains", host: "example.com" });
  t.match(parseHostPattern("*"), { kind: "any", port: null });
  t.match(parseHostPattern("::1:80"), { kind: "ip", host: "::1:80", port: null }, "bare IPv6 never has a port");
});

t.test("junk is refused with a clear error", async (t) => {
  const junk = [
    "",
    "*.*.example.com",
    "foo*.example.com",
    "*example.com",
    "example.*",
    "a..b",
    ".example.com",
    "exa mple.com",
    "example.com:0",
    "example.com:65536",
    "example.com:http",
    "[127.0.0.1]",
    "[::1",
    "[zz::1]",
    "1.2.3.999",
    "010.0.0.1",
    "127.1",
    "1.2.3.4.5",
    "-bad.example.com",
    "a".repeat(64) + ".com",
    "*.",
    "fe80::1%eth0",
  ];
  for (const p of junk) {
    t.throws(() => parseHostPattern(p, "network.allowedDomains.0"), { code: "bad_params", field: "network.allowedDomains.0" }, `refuses ${JSON.stringify(p)}`);
  }
  try {
    parseHostPattern("foo*.example.com", "network.deniedDomains.3");
  } catch (err) {
    t.ok(err instanceof McpwError);
    t.match((err as Error).message, /network\.deniedDomains\.3: "foo\*\.example\.com" is not a host pattern: a wildcard/);
  }
});

t.test("request hosts", async (t) => {
  t.match(parseRequestHost("Example.COM."), { host: "example.com", ip: null });
  t.match(parseRequestHost("2130706433"), { host: "127.0.0.1", ip: { family: 4 } }, "a bare number is an IPv4 literal");
  t.match(parseRequestHost("[::ffff:127.0.0.1]"), { host: "::ffff:127.0.0.1", ip: { family: 6 } });
  for (const bad of ["a b", "evil.test/x", "evil.test\0.ok", "[127.0.0.1]", "fe80::1%lo", "x:80", ""]) {
    t.throws(() => parseRequestHost(bad), { code: "bad_params" }, `refuses ${JSON.stringify(bad)}`);
  }
});
