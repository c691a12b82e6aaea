import { BlockList } from "node:net";
import { McpwError } from "../protocol/errors.js";
import { fromBytes, type IpAddress, parseIp, samePrefix } from "./ip-address.js";

/**
 * Which kind of address an IP is, and whether a network policy with `blockPrivateRanges` may reach
 * it. Everything that is not plain public unicast is blocked: loopback, private, link-local (cloud
 * metadata lives at 169.254.169.254), CGNAT, unique-local, multicast, unspecified (0.0.0.0 reaches
 * the local host on Linux), broadcast, documentation and reserved ranges. IPv6 forms that carry an
 * IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by the IPv4 address they carry.
 */

export type AddressKind =
  | "public"
  | "unspecified"
  | "loopback"
  | "private"
  | "link-local"
  | "cgnat"
  | "unique-local"
  | "site-local"
  | "multicast"
  | "broadcast"
  | "documentation"
  | "reserved";

export interface AddressClassification {
  /** Canonical text of the address. */
  address: string;
  family: 4 | 6;
  kind: AddressKind;
  /** True for every kind but "public". */
  blocked: boolean;
  /** Words for error messages: "a loopback address", "an IPv4-mapped form of 10.0.0.1, a private (RFC 1918) address". */
  description: string;
  /** The IPv4 address an IPv6 form carries, when it was judged by it. */
  embeddedIpv4?: string;
}

const KIND_WORDS: Record<AddressKind, string> = {
  public: "a public address",
  unspecified: "the unspecified address",
  loopback: "a loopback address",
  private: "a private (RFC 1918) address",
  "link-local": "a link-local address",
  cgnat: "a carrier-grade NAT (100.64.0.0/10) address",
  "unique-local": "a unique-local (fc00::/7) address",
  "site-local": "a site-local (fec0::/10) address",
  multicast: "a multicast address",
  broadcast: "the broadcast address",
  documentation: "a documentation address",
  reserved: "a reserved address",
};

interface Range {
  net: Uint8Array;
  prefix: number;
  kind: AddressKind;
}

function ranges(table: [string, AddressKind][]): Range[] {
  return table.map(([cidr, kind]) => {
    const [addr, prefix] = cidr.split("/") as [string, string];
    return { net: (parseIp(addr) as IpAddress).bytes, prefix: Number(prefix), kind };
  });
}

/**
 * The tables are built on first use: parsing their addresses at load time (node:net's isIPv6
 * compiles a large regular expression) cost every mcpw command ~9 ms of start-up.
 * First match wins, so narrower ranges come before the ranges that contain them.
 */
const ipv4Ranges = once(() => ranges([
  ["0.0.0.0/32", "unspecified"],
  ["0.0.0.0/8", "reserved"],
  ["10.0.0.0/8", "private"],
  ["100.64.0.0/10", "cgnat"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "reserved"],
  ["192.0.2.0/24", "documentation"],
  ["192.88.99.0/24", "reserved"],
  ["192.168.0.0/16", "private"],
  ["198.18.0.0/15", "reserved"],
  ["198.51.100.0/24", "documentation"],
  ["203.0.113.0/24", "documentation"],
  ["224.0.0.0/4", "multicast"],
  ["255.255.255.255/32", "broadcast"],
  ["240.0.0.0/4", "reserved"],
]));

const ipv6Ranges = once(() => ranges([
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["::/96", "reserved"], // IPv4-compatible, deprecated
  ["64:ff9b:1::/48", "reserved"], // local-use NAT64
  ["100::/64", "reserved"], // discard-only
  ["2001:db8::/32", "documentation"],
  ["3fff::/20", "documentation"],
  ["2001::/23", "reserved"], // IETF protocol assignments: Teredo, ORCHID, benchmarking, ...
  ["fc00::/7", "unique-local"],
  ["fe80::/10", "link-local"],
  ["fec0::/10", "site-local"],
  ["ff00::/8", "multicast"],
  ["2000::/3", "public"],
]));

/** IPv6 ranges that carry an IPv4 address: where it sits, and what to call the form. */
const embeddingRanges = once((): { net: Uint8Array; prefix: number; offset: number; form: string }[] => [
  { net: (parseIp("::ffff:0:0") as IpAddress).bytes, prefix: 96, offset: 12, form: "an IPv4-mapped form" },
  { net: (parseIp("64:ff9b::") as IpAddress).bytes, prefix: 96, offset: 12, form: "a NAT64 form" },
  { net: (parseIp("2002::") as IpAddress).bytes, prefix: 16, offset: 2, form: "a 6to4 form" },
]);

function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

function kindIn(table: Range[], bytes: Uint8Array, fallback: AddressKind): AddressKind {
  return table.find((r) => samePrefix(bytes, r.net, r.prefix))?.kind ?? fallback;
}

/** Classifies an IP literal. Throws bad_params when `address` is not one. */
export function classifyAddress(address: string): AddressClassification {
  const ip = parseIp(address);
  if (!ip) throw new McpwError("bad_params", `"${address}" is not an IP address`);
  if (ip.family === 4) {
    const kind = kindIn(ipv4Ranges(), ip.bytes, "public");
    return { address: ip.text, family: 4, kind, blocked: kind !== "public", description: KIND_WORDS[kind] };
  }
  const embedding = embeddingRanges().find((e) => samePrefix(ip.bytes, e.net, e.prefix));
  if (embedding) {
    const inner = classifyAddress(fromBytes(ip.bytes.slice(embedding.offset, embedding.offset + 4)).text);
    return {
      address: ip.text,
      family: 6,
      kind: inner.kind,
      blocked: inner.blocked,
      description: `${embedding.form} of ${inner.address}, ${inner.description}`,
      embeddedIpv4: inner.address,
    };
  }
  // Outside 2000::/3 nothing is global unicast.
  const kind = kindIn(ipv6Ranges(), ip.bytes, "reserved");
  return { address: ip.text, family: 6, kind, blocked: kind !== "public", description: KIND_WORDS[kind] };
}

/**
 * A set of CIDR ranges (e.g. a policy's allowedCidrs). An IPv4 range also contains the IPv4-mapped
 * IPv6 forms of its addresses (`::ffff:127.0.0.1` is in 127.0.0.0/8): they reach the same host.
 */
export class CidrSet {
  private readonly list = new BlockList();
  readonly ranges: readonly string[];

  /** Throws bad_params naming `field`.<index> for a malformed range. */
  constructor(cidrs: readonly string[], field = "allowedCidrs") {
    cidrs.forEach((cidr, i) => {
      const slash = cidr.indexOf("/");
      const ip = slash > 0 ? parseIp(cidr.slice(0, slash)) : null;
      const prefixText = cidr.slice(slash + 1);
      const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
      if (!ip || !(prefix <= (ip.family === 4 ? 32 : 128))) {
        throw new McpwError("bad_params", `${field}.${i}: "${cidr}" is not a CIDR range such as 127.0.0.0/8 or ::1/128`, {
          field: `${field}.${i}`,
        });
      }
      this.list.addSubnet(ip.text, prefix, ip.family === 4 ? "ipv4" : "ipv6");
    });
    this.ranges = [...cidrs];
  }

  has(address: string): boolean {
    const ip = parseIp(address);
    if (!ip) return false;
    return this.list.check(ip.text, ip.family === 4 ? "ipv4" : "ipv6");
  }
}
