import t from "tap";
import { checkDestination, NetworkRules } from "../../bridge/destination-check.js";
import { NetworkPolicy, type NetworkPolicyInput } from "../../protocol/policy.js";
import { rejects, tableResolver } from "./fixtures/harness.js";

const rules = (p: NetworkPolicyInput, label?: string): NetworkRules => new NetworkRules(NetworkPolicy.parse(p), label);

const resolver = tableResolver({
  "api.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
  "www.example.com": ["93.184.216.34"],
  "evil.example.com": ["93.184.216.35"],
  "rebind.test": ["127.0.0.1"],
  "mixed.test": ["93.184.216.34", "10.0.0.5"],
  "mapped.test": ["::ffff:127.0.0.1"],
  "nat64.test": ["64:ff9b::a9fe:a9fe"],
  "metadata.test": ["169.254.169.254"],
  "intranet.test": ["10.1.2.3"],
  "local.test": ["127.0.0.1", "::1"],
  localhost: ["127.0.0.1", "::1"],
});

t.test("an allowed name resolves once to its vetted addresses", async (t) => {
  const before = resolver.asked["api.example.com"] ?? 0;
  const dest = await checkDestination("API.example.com", 443, [rules({ allowedDomains: ["*.example.com"] })], { resolver });
  t.same(dest.addresses, [
    { address: "93.184.216.34", family: 4 },
    { address: "2606:2800:220:1:248:1893:25c8:1946", family: 6 },
  ]);
  t.equal(dest.host, "api.example.com");
  t.equal(resolver.asked["api.example.com"], before + 1, "resolved exactly once");
  const v4 = await checkDestination("api.example.com", undefined, [rules({ allowedDomains: ["*.example.com"] })], { resolver, family: 4 });
  t.same(v4.addresses, [{ address: "93.184.216.34", family: 4 }], "family filter");
});

t.test("names", async (t) => {
  await rejects(t, checkDestination("evil.test", 443, [rules({ allowedDomains: ["*.example.com"] })], { resolver }), {
    code: "policy_denied",
    rule: "network.allowedDomains",
    message: /^host "evil\.test:443" is not in network\.allowedDomains$/,
  }, "a name outside allowedDomains");
  await rejects(t, checkDestination("www.example.com", 443, [rules({})], { resolver }), { code: "policy_denied", rule: "network.allowedDomains" }, "empty allowedDomains means no network");
  await rejects(
    t,
    checkDestination("evil.example.com", 443, [rules({ allowedDomains: ["*.example.com"], deniedDomains: ["evil.example.com"] })], { resolver }),
    { code: "policy_denied", rule: "network.deniedDomains", message: /evil\.example\.com.*deniedDomains/ },
    "deniedDomains wins over allowedDomains",
  );
  await rejects(t, checkDestination("www.example.com", 22, [rules({ allowedDomains: ["www.example.com:443"] })], { resolver }), { code: "policy_denied", rule: "network.allowedDomains" }, "a pattern's port is enforced");
  await rejects(t, checkDestination("nowhere.example.com", 443, [rules({ allowedDomains: ["*.example.com"] })], { resolver }), { code: "io_error", errno: "ENOTFOUND" }, "an unknown name");
  await rejects(t, checkDestination("bad host", 443, [rules({ allowedDomains: ["*"] })], { resolver, field: "op.host" }), { code: "bad_params", field: "op.host" }, "a malformed host");
});

t.test("IP literals", async (t) => {
  const open = { allowedDomains: ["*"], allowedCidrs: ["0.0.0.0/0"] };
  await rejects(t, checkDestination("93.184.216.34", 80, [rules(open)], { resolver }), { code: "policy_denied", rule: "network.denyIpLiterals" }, "refused by default even under *");
  await rejects(t, checkDestination("2130706433", 80, [rules({ allowedDomains: ["*"], blockPrivateRanges: false })], { resolver }), { code: "policy_denied", rule: "network.denyIpLiterals" }, "a numeric spelling is a literal too");
  const listed = await checkDestination("93.184.216.34", 80, [rules({ allowedDomains: ["93.184.216.34"] })], { resolver });
  t.same(listed.addresses, [{ address: "93.184.216.34", family: 4 }], "allowed when the literal is listed");
  t.equal(listed.ipLiteral, true);
  const loop = await checkDestination("[0:0::1]", 80, [rules({ allowedDomains: ["::1"] })], { resolver });
  t.same(loop.addresses, [{ address: "::1", family: 6 }], "a listed private literal is reachable (listing it is explicit)");
  await rejects(t, checkDestination("127.0.0.1", 80, [rules({ allowedDomains: ["*"], denyIpLiterals: false })], { resolver }), {
    code: "policy_denied",
    rule: "network.blockPrivateRanges",
    message: /^127\.0\.0\.1 is a loopback address, refused by network\.blockPrivateRanges$/,
  }, "an unlisted private literal under blockPrivateRanges");
  await rejects(t, checkDestination("127.0.0.1", 80, [rules({ allowedDomains: ["127.0.0.1"], deniedDomains: ["127.0.0.1"] })], { resolver }), { code: "policy_denied", rule: "network.deniedDomains" }, "deniedDomains wins for literals too");
  await rejects(t, checkDestination("127.0.0.1", 81, [rules({ allowedDomains: ["127.0.0.1:80"] })], { resolver }), { code: "policy_denied", rule: "network.denyIpLiterals" }, "a literal listed for another port");
});

t.test("resolved addresses under blockPrivateRanges (DNS rebinding)", async (t) => {
  const p = rules({ allowedDomains: ["*.test"] });
  await rejects(t, checkDestination("rebind.test", 80, [p], { resolver }), {
    code: "policy_denied",
    rule: "network.blockPrivateRanges",
    message: /^"rebind\.test" resolved to 127\.0\.0\.1, a loopback address, refused by network\.blockPrivateRanges$/,
  }, "a name resolving to 127.0.0.1");
  await rejects(t, checkDestination("mixed.test", 80, [p], { resolver }), { code: "policy_denied", rule: "network.blockPrivateRanges", message: /10\.0\.0\.5, a private/ }, "one private address among public ones refuses the whole name");
  await rejects(t, checkDestination("mapped.test", 80, [p], { resolver }), { code: "policy_denied", message: /IPv4-mapped form of 127\.0\.0\.1, a loopback/ }, "an IPv4-mapped loopback");
  await rejects(t, checkDestination("nat64.test", 80, [p], { resolver }), { code: "policy_denied", message: /NAT64 form of 169\.254\.169\.254, a link-local/ }, "a NAT64 form of the metadata address");
  await rejects(t, checkDestination("metadata.test", 80, [p], { resolver }), { code: "policy_denied", message: /169\.254\.169\.254, a link-local/ }, "the cloud metadata address");

  const withCidr = await checkDestination("intranet.test", 80, [rules({ allowedDomains: ["*.test"], allowedCidrs: ["10.0.0.0/8"] })], { resolver });
  t.same(withCidr.addresses, [{ address: "10.1.2.3", family: 4 }], "allowedCidrs makes an exception");
  await rejects(t, checkDestination("local.test", 80, [rules({ allowedDomains: ["*.test"], allowedCidrs: ["127.0.0.0/8"] })], { resolver }), { code: "policy_denied", message: /::1, a loopback/ }, "every address must be covered: ::1 is not in 127.0.0.0/8");
  const listedLiteral = await checkDestination("rebind.test", 80, [rules({ allowedDomains: ["*.test", "127.0.0.1"] })], { resolver });
  t.same(listedLiteral.addresses, [{ address: "127.0.0.1", family: 4 }], "an address listed as a literal in allowedDomains is reachable by name");
  const off = await checkDestination("rebind.test", 80, [rules({ allowedDomains: ["*.test"], blockPrivateRanges: false })], { resolver });
  t.same(off.addresses, [{ address: "127.0.0.1", family: 4 }], "blockPrivateRanges off");
  await rejects(t, checkDestination("metadata.test", 80, [rules({ allowedDomains: ["*.test"], blockPrivateRanges: false, deniedDomains: ["169.254.169.254"] })], { resolver }), {
    code: "policy_denied",
    rule: "network.deniedDomains",
    message: /resolved to 169\.254\.169\.254, which network\.deniedDomains refuses/,
  }, "a denied literal holds for names resolving to it");
});

t.test("every policy must allow: the requester's restrict narrows the bridge's", async (t) => {
  const bridge = rules({ allowedDomains: ["*.example.com"] });
  const restrict = rules({ allowedDomains: ["api.example.com"] }, "restrict.network");
  const ok = await checkDestination("api.example.com", 443, [bridge, restrict], { resolver });
  t.equal(ok.addresses.length, 2);
  await rejects(t, checkDestination("www.example.com", 443, [bridge, restrict], { resolver }), { code: "policy_denied", rule: "restrict.network.allowedDomains" }, "allowed by the bridge, not by the requester");
  const wide = rules({ allowedDomains: ["*"], denyIpLiterals: false, blockPrivateRanges: false }, "restrict.network");
  await rejects(t, checkDestination("evil.test", 443, [bridge, wide], { resolver }), { code: "policy_denied", rule: "network.allowedDomains" }, "a wider requester policy cannot widen the bridge's");
  await rejects(t, checkDestination("rebind.test", 80, [rules({ allowedDomains: ["*.test"], blockPrivateRanges: false }), rules({ allowedDomains: ["*"] }, "restrict.network")], { resolver }), { code: "policy_denied", rule: "restrict.network.blockPrivateRanges" }, "the requester's blockPrivateRanges holds even when the bridge's is off");
  t.equal(NetworkRules.limit([rules({ maxBodyBytes: 100 }), rules({ maxBodyBytes: 50 })], "maxBodyBytes"), 50);
});

t.test("malformed policy entries name their field", async (t) => {
  t.throws(() => rules({ allowedDomains: ["ok.test", "127.1"] }, "restrict.network"), { code: "bad_params", field: "restrict.network.allowedDomains.1" });
  t.throws(() => rules({ allowedCidrs: ["10.0.0.0/40"] }), { code: "bad_params", field: "network.allowedCidrs.0" });
});

t.test("a localhost entry opens the host's loopback at its port only, and only to requests that matched it", async (t) => {
  // What mcpw run --allow-net '*' --allow-net localhost:8080 gives.
  const policy = rules({ allowedDomains: ["*", "localhost:8080"] });
  const ok = await checkDestination("localhost", 8080, [policy], { resolver });
  t.same(ok.addresses.map((a) => a.address), ["127.0.0.1", "::1"], "localhost:8080 reaches the host's loopback");
  await rejects(t, checkDestination("localhost", 22, [policy], { resolver }), { code: "policy_denied", rule: "network.blockPrivateRanges", message: /"localhost" resolved to 127\.0\.0\.1, a loopback address/ }, "another port of localhost, allowed by '*' only");
  await rejects(t, checkDestination("rebind.test", 22, [policy], { resolver }), { code: "policy_denied", rule: "network.blockPrivateRanges" }, "a name resolving to loopback, another port");
  await rejects(t, checkDestination("rebind.test", 8080, [policy], { resolver }), { code: "policy_denied", rule: "network.blockPrivateRanges" }, "a name resolving to loopback, even at the allowed port: it matched '*', not the localhost entry");
  await rejects(t, checkDestination("mapped.test", 8080, [policy], { resolver }), { code: "policy_denied", rule: "network.blockPrivateRanges" }, "an IPv4-mapped loopback answer too");
  await rejects(t, checkDestination("127.0.0.1", 22, [policy], { resolver }), { code: "policy_denied", rule: "network.denyIpLiterals" }, "the loopback literal at another port");
  await rejects(t, checkDestination("127.0.0.1", 22, [rules({ allowedDomains: ["*", "localhost:8080"], denyIpLiterals: false })], { resolver }), { code: "policy_denied", rule: "network.blockPrivateRanges" }, "... with IP literals allowed too");
  // A port-less localhost entry is every loopback port, for localhost only.
  const anyPort = rules({ allowedDomains: ["*", "localhost"] });
  t.ok(await checkDestination("localhost", 22, [anyPort], { resolver }), "port-less localhost: any port");
  await rejects(t, checkDestination("rebind.test", 22, [anyPort], { resolver }), { code: "policy_denied", rule: "network.blockPrivateRanges" }, "but not for other names");
  // The private ranges stay closed to localhost entries, and explicit allowedCidrs still work.
  await rejects(t, checkDestination("intranet.test", 8080, [policy], { resolver }), { code: "policy_denied", rule: "network.blockPrivateRanges" }, "a private address");
  t.ok(await checkDestination("rebind.test", 22, [rules({ allowedDomains: ["*"], allowedCidrs: ["127.0.0.0/8"] })], { resolver }), "allowedCidrs as written");
  // A lookup (no port) of localhost is answered.
  t.ok(await checkDestination("localhost", undefined, [policy], { resolver }), "net.resolve of localhost");
});
