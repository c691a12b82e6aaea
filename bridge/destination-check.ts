import { promises as dns } from "node:dns";
import { McpwError } from "../protocol/errors.js";
import type { NetworkPolicy } from "../protocol/policy.js";
import { type AddressClassification, CidrSet, classifyAddress } from "./address-guard.js";
import { parseIp } from "./ip-address.js";
import { formatHostPort, type HostPattern, matchesHostPattern, parseHostPattern, parseRequestHost, type RequestHost } from "./host-pattern.js";

/**
 * Decides whether a network destination may be reached, under every network policy that applies
 * (the bridge's own and, when present, the requester's `restrict.network`: each must allow it).
 *
 * Order of the checks, per policy:
 * 1. IP literal: refused by a matching deniedDomains entry; else, under denyIpLiterals, refused
 *    unless the literal itself is listed in allowedDomains; else it must match allowedDomains.
 * 2. Name: deniedDomains wins; else it must match allowedDomains (an empty list allows nothing).
 * 3. The name is resolved ONCE. If ANY resolved address is in a blocked range (loopback, private,
 *    link-local, ...) while blockPrivateRanges is on, and it is neither inside allowedCidrs nor an IP
 *    literal listed in allowedDomains, the whole destination is refused. A loopback address also
 *    passes when an allowedDomains entry that names loopback (`localhost`, `localhost:8080`) is one
 *    the request matched, for that port: `localhost:8080` opens the host's loopback at 8080 and
 *    nowhere else, whatever other entry (`*`, a domain whose A record is 127.0.0.1) a request
 *    matches. (`mcpw run --allow-net localhost:P` used to add 127.0.0.0/8 and ::1/128 to
 *    allowedCidrs, which opened every loopback port to any allowed name.) Refusing outright (rather
 *    than keeping only the public addresses) leaves a rebinding attacker no mixed answer to exploit
 *    and tells the operator plainly what happened. A resolved address that matches an IP literal in
 *    deniedDomains is refused too, so `deniedDomains: ["169.254.169.254"]` holds for names as well.
 *
 * The vetted addresses are returned; callers connect to one of them and never resolve the name
 * again, which is what defeats DNS rebinding.
 */

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a name to all of its addresses; `family` 0 means both. */
export type Resolver = (host: string, family: 0 | 4 | 6) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (host, family) => dns.lookup(host, { all: true, family, verbatim: true });

export interface VettedAddress {
  address: string;
  family: 4 | 6;
}

export interface Destination {
  /** Normalised host: lower-case name, or canonical IP literal. */
  host: string;
  port: number | undefined;
  ipLiteral: boolean;
  /** Addresses that passed every policy, in the resolver's order, without duplicates. */
  addresses: VettedAddress[];
}

/** One network policy, with its patterns and ranges parsed once. */
export class NetworkRules {
  readonly policy: NetworkPolicy;
  /** Dotted prefix for rule names: "network" for the bridge's policy, "restrict.network" for the requester's. */
  readonly label: string;
  private readonly allowed: HostPattern[];
  private readonly denied: HostPattern[];
  private readonly cidrs: CidrSet;

  /** Throws bad_params naming the field (e.g. `network.allowedDomains.2`) when a pattern or range is malformed. */
  constructor(policy: NetworkPolicy, label = "network") {
    this.policy = policy;
    this.label = label;
    this.allowed = policy.allowedDomains.map((p, i) => parseHostPattern(p, `${label}.allowedDomains.${i}`));
    this.denied = policy.deniedDomains.map((p, i) => parseHostPattern(p, `${label}.deniedDomains.${i}`));
    this.cidrs = new CidrSet(policy.allowedCidrs, `${label}.allowedCidrs`);
  }

  private refuse(rule: string, message: string): McpwError {
    return new McpwError("policy_denied", message, { rule: `${this.label}.${rule}` });
  }

  /** A deny pattern with a port cannot refuse a port-less question (name resolution). */
  private deniedBy(target: RequestHost, port: number | undefined): HostPattern | undefined {
    return this.denied.find((p) => (p.port === null || port !== undefined) && matchesHostPattern(p, target, port));
  }

  private listsLiteral(address: string, port: number | undefined): boolean {
    const asHost = literalHost(address);
    return this.allowed.some((p) => p.kind === "ip" && matchesHostPattern(p, asHost, port));
  }

  /** Steps 1 and 2: the host as named. Returns the refusal, or null when this policy allows it. */
  checkHost(target: RequestHost, port: number | undefined): McpwError | null {
    const shown = formatHostPort(target.host, port);
    const denied = this.deniedBy(target, port);
    if (denied) return this.refuse("deniedDomains", `host "${shown}" is refused by ${this.label}.deniedDomains (entry "${denied.source}")`);
    if (target.ip && this.policy.denyIpLiterals && !this.listsLiteral(target.host, port)) {
      return this.refuse(
        "denyIpLiterals",
        `IP literal ${shown} is refused by ${this.label}.denyIpLiterals (list the address in ${this.label}.allowedDomains to allow it)`,
      );
    }
    if (!this.allowed.some((p) => matchesHostPattern(p, target, port))) {
      return this.refuse("allowedDomains", `host "${shown}" is not in ${this.label}.allowedDomains`);
    }
    return null;
  }

  /** Step 3: one address the host resolved to (or the literal itself). Returns the refusal, or null. */
  checkAddress(target: RequestHost, address: string, port: number | undefined): McpwError | null {
    const addr = classifyAddress(address);
    const what = target.ip ? `${addr.address} is` : `"${target.host}" resolved to ${addr.address},`;
    const denied = target.ip ? undefined : this.deniedBy(literalHost(addr.address), port);
    if (denied) return this.refuse("deniedDomains", `${what} which ${this.label}.deniedDomains refuses (entry "${denied.source}")`);
    if (!this.policy.blockPrivateRanges || !addr.blocked) return null;
    if (this.cidrs.has(addr.address) || this.listsLiteral(addr.address, port)) return null;
    if (isLoopback(addr) && this.allowsLoopbackFor(target, port)) return null;
    return this.refuse("blockPrivateRanges", `${what} ${addr.description}, refused by ${this.label}.blockPrivateRanges`);
  }

  /**
   * Whether the request matched an allowedDomains entry that names loopback (`localhost`, with
   * this port or none; a lookup, with no port, matches any): that entry, and no other, lets the
   * name reach the host's loopback. Loopback IP literals are listsLiteral's.
   */
  private allowsLoopbackFor(target: RequestHost, port: number | undefined): boolean {
    return this.allowed.some((p) => p.kind === "name" && p.host === "localhost" && matchesHostPattern(p, target, port));
  }

  /** The strictest of several policies' numeric limits. */
  static limit(rules: readonly NetworkRules[], key: "maxBodyBytes" | "maxRedirects"): number {
    return Math.min(...rules.map((r) => r.policy[key]));
  }
}

/** The host's own loopback: 127/8, ::1, and the IPv4-mapped form of 127/8 (not NAT64 or 6to4 forms, which leave the host). */
function isLoopback(addr: AddressClassification): boolean {
  return addr.kind === "loopback" && (addr.embeddedIpv4 === undefined || addr.address.startsWith("::ffff:"));
}

function literalHost(address: string): RequestHost {
  return { host: address, ip: parseIp(address) };
}

export interface DestinationCheckOptions {
  resolver?: Resolver;
  /** Address family wanted (net.resolve); 0 means both. */
  family?: 0 | 4 | 6;
  /** Field name used when the host itself is malformed. */
  field?: string;
}

/** Checks a destination under every policy in `rules` and returns the vetted addresses (see top of file). */
export async function checkDestination(
  host: string,
  port: number | undefined,
  rules: readonly NetworkRules[],
  options: DestinationCheckOptions = {},
): Promise<Destination> {
  if (rules.length === 0) throw new McpwError("internal", "checkDestination needs at least one network policy");
  const target = parseRequestHost(host, options.field);
  const family = options.family ?? 0;
  for (const r of rules) {
    const refusal = r.checkHost(target, port);
    if (refusal) throw refusal;
  }
  const resolved = target.ip ? [{ address: target.ip.text, family: target.ip.family }] : await resolveOnce(target.host, family, options.resolver ?? systemResolver);
  const addresses: VettedAddress[] = [];
  for (const { address } of resolved) {
    // A zone id (fe80::1%eth0) says which interface, not which host.
    const canonical = parseIp(address.replace(/%.*$/, ""));
    if (!canonical) {
      throw new McpwError("io_error", `resolving "${target.host}" returned "${address}", which is not an IP address`, { errno: "EBADRESP" });
    }
    for (const r of rules) {
      const refusal = r.checkAddress(target, canonical.text, port);
      if (refusal) throw refusal;
    }
    if (family !== 0 && canonical.family !== family) continue;
    if (!addresses.some((a) => a.address === canonical.text)) addresses.push({ address: canonical.text, family: canonical.family });
  }
  if (addresses.length === 0) {
    throw new McpwError("io_error", `"${target.host}" has no IPv${family} address`, { errno: "ENOTFOUND" });
  }
  return { host: target.host, port, ipLiteral: target.ip !== null, addresses };
}

async function resolveOnce(host: string, family: 0 | 4 | 6, resolver: Resolver): Promise<ResolvedAddress[]> {
  let answers: ResolvedAddress[];
  try {
    answers = await resolver(host, family);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "ENOTFOUND";
    throw new McpwError("io_error", `could not resolve "${host}": ${code}`, { errno: code });
  }
  if (answers.length === 0) throw new McpwError("io_error", `could not resolve "${host}": no addresses`, { errno: "ENOTFOUND" });
  return answers;
}
