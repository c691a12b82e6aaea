import { McpwError } from "../protocol/errors.js";
import { type IpAddress, parseIp, parseLegacyIpv4 } from "./ip-address.js";

/**
 * Host patterns from a network policy (`allowedDomains`, `deniedDomains`):
 *
 * - `example.com`   exactly that name (case-insensitive, a trailing dot ignored)
 * - `*.example.com` any name below it, at any depth, but not `example.com` itself
 * - `*`             any host at all (names and IP literals)
 * - an IP literal   `127.0.0.1`, `::1`, `[::1]`: that address, however it is spelled
 *
 * Each may end in `:port` (an IPv6 literal needs brackets for that: `[::1]:8080`); without a port
 * the pattern matches every port.
 */

export type HostPatternKind = "name" | "subdomains" | "any" | "ip";

export interface HostPattern {
  /** The pattern as written in the policy. */
  source: string;
  kind: HostPatternKind;
  /** Lower-case name without trailing dot ("name"), the suffix after "*." ("subdomains"), canonical address ("ip"), or "*". */
  host: string;
  port: number | null;
}

/** A host as a request names it: a lower-case DNS name, or an IP literal in canonical form. */
export interface RequestHost {
  /** Lower-case name without trailing dot, or the canonical address text. */
  host: string;
  ip: IpAddress | null;
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

function isHostName(name: string): boolean {
  return name.length <= 253 && name.split(".").every((label) => LABEL.test(label));
}

/** A name whose last label is a number is an IPv4 address to the C library or a URL parser, never a DNS name. */
function looksNumeric(name: string): boolean {
  const last = name.slice(name.lastIndexOf(".") + 1);
  return /^(\d+|0x[0-9a-f]*)$/i.test(last);
}

function stripTrailingDot(s: string): string {
  return s.length > 1 && s.endsWith(".") ? s.slice(0, -1) : s;
}

/** Splits `host:port`, `[v6]:port` and bare IPv6 (never a port: `::1:80` is an address). */
function splitPort(s: string): { host: string; portText: string | null } | null {
  if (s.startsWith("[")) {
    const m = /^(\[[^\]]*\])(?::([^:]*))?$/.exec(s);
    return m ? { host: m[1] as string, portText: m[2] ?? null } : null;
  }
  const colons = s.split(":").length - 1;
  if (colons === 1) {
    const i = s.indexOf(":");
    return { host: s.slice(0, i), portText: s.slice(i + 1) };
  }
  return { host: s, portText: null };
}

/** Parses one pattern. Throws bad_params naming `field` and what is wrong with it. */
export function parseHostPattern(source: string, field = "host pattern"): HostPattern {
  const refuse = (why: string): never => {
    throw new McpwError("bad_params", `${field}: "${source}" is not a host pattern: ${why}`, { field });
  };
  if (source.length === 0 || source.length > 260) refuse("it must be 1 to 260 characters");
  if (/\s/.test(source)) refuse("it contains white space");
  const split = splitPort(source.toLowerCase()) ?? refuse("brackets must enclose an IPv6 address, optionally followed by :port");
  let port: number | null = null;
  if (split.portText !== null) {
    if (!/^\d{1,5}$/.test(split.portText) || Number(split.portText) < 1 || Number(split.portText) > 65535) {
      refuse("the port must be a number from 1 to 65535");
    }
    port = Number(split.portText);
  }
  const host = split.host;
  if (host === "*") return { source, kind: "any", host: "*", port };
  if (host.startsWith("*.")) {
    const suffix = stripTrailingDot(host.slice(2));
    if (suffix.includes("*")) refuse("a wildcard may only be the whole pattern or a leading \"*.\"");
    if (!isHostName(suffix) || looksNumeric(suffix)) refuse(`"${suffix}" is not a DNS name`);
    return { source, kind: "subdomains", host: suffix, port };
  }
  if (host.includes("*")) refuse("a wildcard may only be the whole pattern or a leading \"*.\"");
  const ip = parseIp(host);
  if (ip) return { source, kind: "ip", host: ip.text, port };
  if (host.startsWith("[") || host.includes(":")) refuse("not a valid IPv6 address");
  const name = stripTrailingDot(host);
  if (looksNumeric(name)) refuse("IPv4 addresses must be written as a dotted quad without leading zeros, such as 127.0.0.1");
  if (!isHostName(name)) refuse("DNS names are dot-separated labels of a-z, 0-9, _ and - (at most 63 characters each)");
  return { source, kind: "name", host: name, port };
}

/**
 * Normalises a host from a request (`net.connect` host, URL host name). Numeric IPv4 spellings that
 * the C library accepts (`127.1`, `0x7f000001`) count as IP literals, so they cannot slip past
 * `denyIpLiterals` as "names". Throws bad_params for anything that is neither a name nor an address.
 */
export function parseRequestHost(input: string, field = "host"): RequestHost {
  const lower = input.toLowerCase();
  const ip = parseIp(lower) ?? (lower.includes(":") ? null : parseLegacyIpv4(stripTrailingDot(lower)));
  if (ip) return { host: ip.text, ip };
  const name = stripTrailingDot(lower);
  if (!isHostName(name)) {
    throw new McpwError("bad_params", `${field}: "${input}" is not a valid host name or IP address`, { field });
  }
  return { host: name, ip: null };
}

/** Whether `pattern` matches a request host; with `port` undefined (name resolution) ports are not compared. */
export function matchesHostPattern(pattern: HostPattern, target: RequestHost, port?: number): boolean {
  if (pattern.port !== null && port !== undefined && pattern.port !== port) return false;
  switch (pattern.kind) {
    case "any":
      return true;
    case "ip":
      return target.ip !== null && target.host === pattern.host;
    case "name":
      return target.ip === null && target.host === pattern.host;
    case "subdomains":
      return target.ip === null && target.host.endsWith(`.${pattern.host}`);
  }
}

/** `host:port` as people write it (IPv6 in brackets). */
export function formatHostPort(host: string, port?: number): string {
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return port === undefined ? h : `${h}:${port}`;
}
