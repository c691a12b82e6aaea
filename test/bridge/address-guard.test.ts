import t from "tap";
import { type AddressKind, CidrSet, classifyAddress } from "../../bridge/address-guard.js";
import { canonicalIp, parseLegacyIpv4 } from "../../bridge/ip-address.js";

t.test("classification table", async (t) => {
  const table: [string, AddressKind, boolean][] = [
    ["127.0.0.1", "loopback", true],
    ["127.255.255.254", "loopback", true],
    ["0.0.0.0", "unspecified", true],
    ["0.1.2.3", "reserved", true],
    ["10.1.2.3", "private", true],
    ["172.16.0.1", "private", true],
    ["172.31.255.255", "private", true],
    ["172.32.0.1", "public", false],
    ["192.168.1.1", "private", true],
    ["169.254.169.254", "link-local", true],
    ["100.64.0.1", "cgnat", true],
    ["100.127.255.255", "cgnat", true],
    ["100.128.0.1", "public", false],
    ["224.0.0.1", "multicast", true],
    ["239.255.255.250", "multicast", true],
    ["255.255.255.255", "broadcast", true],
    ["240.0.0.1", "reserved", true],
    ["192.0.2.1", "documentation", true],
    ["198.51.100.7", "documentation", true],
    ["203.0.113.9", "documentation", true],
    ["198.18.0.1", "reserved", true],
    ["192.0.0.8", "reserved", true],
    ["8.8.8.8", "public", false],
    ["1.1.1.1", "public", false],
    ["::1", "loopback", true],
    ["0:0::1", "loopback", true],
    ["::", "unspecified", true],
    ["::ffff:127.0.0.1", "loopback", true],
    ["::ffff:7f00:1", "loopback", true],
    ["::ffff:10.0.0.1", "private", true],
    ["::ffff:169.254.169.254", "link-local", true],
    ["::ffff:8.8.8.8", "public", false],
    ["64:ff9b::7f00:1", "loopback", true], // NAT64 of 127.0.0.1
    ["64:ff9b::a9fe:a9fe", "link-local", true], // NAT64 of 169.254.169.254
    ["64:ff9b::808:808", "public", false],
    ["2002:7f00:1::", "loopback", true], // 6to4 of 127.0.0.1
    ["2002:a00:1::1", "private", true], // 6to4 of 10.0.0.1
    ["2002:808:808::1", "public", false],
    ["::127.0.0.1", "reserved", true], // IPv4-compatible (deprecated)
    ["fd00::1", "unique-local", true],
    ["fc00::1", "unique-local", true],
    ["fe80::1", "link-local", true],
    ["febf::1", "link-local", true],
    ["fec0::1", "site-local", true],
    ["ff02::1", "multicast", true],
    ["2001:db8::1", "documentation", true],
    ["2001::1", "reserved", true], // Teredo
    ["100::1", "reserved", true],
    ["4000::1", "reserved", true], // outside 2000::/3
    ["2606:4700:4700::1111", "public", false],
    ["2a00:1450:4001:80b::200e", "public", false],
  ];
  for (const [address, kind, blocked] of table) {
    const c = classifyAddress(address);
    t.equal(c.kind, kind, `${address} is ${kind}`);
    t.equal(c.blocked, blocked, `${address} is ${blocked ? "blocked" : "not blocked"}`);
  }
  t.match(classifyAddress("::ffff:127.0.0.1"), { embeddedIpv4: "127.0.0.1", description: /IPv4-mapped form of 127\.0\.0\.1, a loopback address/ });
  t.throws(() => classifyAddress("localhost"), { code: "bad_params" });
});

t.test("canonical forms", async (t) => {
  t.equal(canonicalIp("0:0::1"), "::1");
  t.equal(canonicalIp("[0000::0001]"), "::1");
  t.equal(canonicalIp("2001:DB8:0:0:1:0:0:1"), "2001:db8::1:0:0:1", "first longest zero run is compressed");
  t.equal(canonicalIp("::ffff:7f00:1"), "::ffff:127.0.0.1");
  t.equal(canonicalIp("1:0:0:0:0:0:0:0"), "1::");
  t.equal(canonicalIp("1:2:3:4:5:6:7:8"), "1:2:3:4:5:6:7:8");
  t.equal(canonicalIp("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7", "a single zero group is not compressed");
  t.equal(canonicalIp("127.000.0.1"), null, "leading zeros are not a strict literal");
  t.equal(parseLegacyIpv4("127.1")?.text, "127.0.0.1");
  t.equal(parseLegacyIpv4("0x7f.0.0.1")?.text, "127.0.0.1");
  t.equal(parseLegacyIpv4("0177.0.0.01")?.text, "127.0.0.1");
  t.equal(parseLegacyIpv4("2130706433")?.text, "127.0.0.1");
  t.equal(parseLegacyIpv4("10.0.258")?.text, "10.0.1.2");
  t.equal(parseLegacyIpv4("256.0.0.1"), null);
  t.equal(parseLegacyIpv4("4294967296"), null);
  t.equal(parseLegacyIpv4("08.0.0.1"), null, "8 is not an octal digit");
  t.equal(parseLegacyIpv4("example.com"), null);
});

t.test("CIDR sets", async (t) => {
  const set = new CidrSet(["127.0.0.0/8", "fd00::/8", "192.168.1.7/32"]);
  t.ok(set.has("127.1.2.3"));
  t.ok(set.has("::ffff:127.0.0.1"), "an IPv4 range holds the IPv4-mapped forms of its addresses");
  t.ok(set.has("fd12::1"));
  t.ok(set.has("192.168.1.7"));
  t.notOk(set.has("192.168.1.8"));
  t.notOk(set.has("128.0.0.1"));
  t.notOk(set.has("fe80::1"));
  t.notOk(set.has("not an address"));
  for (const bad of ["127.0.0.0/33", "::1/129", "1.2.3/8", "localhost/8", "10.0.0.0", "10.0.0.0/x"]) {
    t.throws(() => new CidrSet([bad], "network.allowedCidrs"), { code: "bad_params", field: "network.allowedCidrs.0" }, `refuses ${bad}`);
  }
});
