import { BlockList } from "node:net";
import { posix } from "node:path";
import { parseIp } from "../../bridge/ip-address.js";
import { type HostPattern, parseHostPattern } from "../../bridge/host-pattern.js";
import { McpwError } from "../../protocol/errors.js";
import type { Policy } from "../../protocol/policy.js";
import { governingRule, within } from "../path-rules.js";
import type { PolicyPatch } from "./schemas.js";

/**
 * A call's `policy` may only narrow the configured one. Anything that would widen it is REFUSED
 * with a bad_params error naming the field (`policy.network.allowedDomains.1`), never clamped
 * silently: a caller who asked for more than it may have should learn so, not get less than it
 * thinks.
 *
 * - network.allowedDomains: each entry must be covered by a configured entry (`api.example.com`
 *   under `*.example.com`, a port under a port-less entry); the call's list replaces the configured.
 * - network.deniedDomains: the union of both lists.
 * - network.allowedCidrs: each range must lie inside a configured range.
 * - denyIpLiterals, blockPrivateRanges: may be turned on, not off.
 * - maxBodyBytes, maxRedirects, limits.*: at most the configured value.
 * - filesystem.readonly: each path inside a configured readonly or writable path;
 *   filesystem.writable: each path inside a configured writable path.
 */

/** Defaults that make a configured policy fit for snippets: a run always ends, output is always capped. */
export const SNIPPET_DEFAULTS = { timeoutMs: 10_000, stdoutBytes: 1024 * 1024 } as const;

export function snippetPolicy(configured: Policy): Policy {
  const p = structuredClone(configured);
  if (p.limits.timeoutMs === 0) p.limits.timeoutMs = SNIPPET_DEFAULTS.timeoutMs;
  if (p.limits.stdoutBytes === 0) p.limits.stdoutBytes = SNIPPET_DEFAULTS.stdoutBytes;
  return p;
}

function refuse(field: string, message: string): McpwError {
  return new McpwError("bad_params", `${field}: ${message} (a call's policy can only narrow the configured policy)`, { field });
}

function patternCovers(outer: HostPattern, inner: HostPattern): boolean {
  if (outer.port !== null && outer.port !== inner.port) return false;
  switch (outer.kind) {
    case "any":
      return true;
    case "ip":
    case "name":
      return inner.kind === outer.kind && inner.host === outer.host;
    case "subdomains":
      return (inner.kind === "name" || inner.kind === "subdomains") && (inner.host.endsWith(`.${outer.host}`) || (inner.kind === "subdomains" && inner.host === outer.host));
  }
}

function parseCidr(cidr: string): { ip: NonNullable<ReturnType<typeof parseIp>>; prefix: number } | null {
  const slash = cidr.indexOf("/");
  const ip = slash > 0 ? parseIp(cidr.slice(0, slash)) : null;
  const prefix = Number(cidr.slice(slash + 1));
  return ip && Number.isInteger(prefix) ? { ip, prefix } : null;
}

function cidrWithin(inner: string, outers: readonly string[]): boolean {
  const i = parseCidr(inner);
  if (!i) return false;
  return outers.some((o) => {
    const c = parseCidr(o);
    if (!c || c.ip.family !== i.ip.family || i.prefix < c.prefix) return false;
    const list = new BlockList();
    list.addSubnet(c.ip.text, c.prefix, c.ip.family === 4 ? "ipv4" : "ipv6");
    return list.check(i.ip.text, i.ip.family === 4 ? "ipv4" : "ipv6");
  });
}

function pathWithin(inner: string, outers: readonly string[]): boolean {
  const p = posix.normalize(inner);
  return outers.some((o) => {
    const root = posix.normalize(o);
    return p === root || p.startsWith(root.endsWith("/") ? root : `${root}/`);
  });
}

function atMost(field: string, wanted: number | undefined, configured: number): number {
  if (wanted === undefined) return configured;
  if (wanted > configured) throw refuse(field, `${wanted} is more than the configured ${configured}`);
  return wanted;
}

function onlyOn(field: string, wanted: boolean | undefined, configured: boolean): boolean {
  if (wanted === false && configured) throw refuse(field, "it is on in the configured policy and cannot be turned off");
  return configured || wanted === true;
}

/** The configured (snippet) policy narrowed by a call's patch; throws bad_params naming the field that would widen it. */
export function narrowPolicy(base: Policy, patch: PolicyPatch): Policy {
  const out = structuredClone(base);
  const net = patch.network;
  if (net) {
    const f = "policy.network";
    if (net.allowedDomains) {
      const configured = base.network.allowedDomains.map((p, i) => parseHostPattern(p, `network.allowedDomains.${i}`));
      net.allowedDomains.forEach((entry, i) => {
        const field = `${f}.allowedDomains.${i}`;
        const pattern = parseHostPattern(entry, field);
        if (!configured.some((c) => patternCovers(c, pattern))) {
          throw refuse(field, `"${entry}" is not within the configured allowedDomains [${base.network.allowedDomains.join(", ")}]`);
        }
      });
      out.network.allowedDomains = [...net.allowedDomains];
    }
    if (net.deniedDomains) {
      net.deniedDomains.forEach((entry, i) => parseHostPattern(entry, `${f}.deniedDomains.${i}`));
      out.network.deniedDomains = [...new Set([...base.network.deniedDomains, ...net.deniedDomains])];
    }
    if (net.allowedCidrs) {
      net.allowedCidrs.forEach((cidr, i) => {
        if (!cidrWithin(cidr, base.network.allowedCidrs)) {
          throw refuse(`${f}.allowedCidrs.${i}`, `"${cidr}" is not inside the configured allowedCidrs [${base.network.allowedCidrs.join(", ")}]`);
        }
      });
      out.network.allowedCidrs = [...net.allowedCidrs];
    }
    out.network.denyIpLiterals = onlyOn(`${f}.denyIpLiterals`, net.denyIpLiterals, base.network.denyIpLiterals);
    out.network.blockPrivateRanges = onlyOn(`${f}.blockPrivateRanges`, net.blockPrivateRanges, base.network.blockPrivateRanges);
    out.network.maxBodyBytes = atMost(`${f}.maxBodyBytes`, net.maxBodyBytes, base.network.maxBodyBytes);
    out.network.maxRedirects = atMost(`${f}.maxRedirects`, net.maxRedirects, base.network.maxRedirects);
  }
  const fsPatch = patch.filesystem;
  if (fsPatch) {
    const { readonly, writable } = base.filesystem;
    fsPatch.readonly?.forEach((p, i) => {
      if (!pathWithin(p, [...readonly, ...writable])) throw refuse(`policy.filesystem.readonly.${i}`, `"${p}" is not inside a configured readonly or writable path`);
    });
    // Writable only where the configured policy's deepest rule says writable (wrapper/path-rules.ts).
    fsPatch.writable?.forEach((p, i) => {
      const rule = governingRule(posix.normalize(p), readonly, writable);
      if (rule?.kind !== "writable") {
        const why = rule ? `it is under the configured readonly path ${rule.root}` : "it is not inside a configured writable path";
        throw refuse(`policy.filesystem.writable.${i}`, `"${p}" cannot be writable: ${why}`);
      }
    });
    if (fsPatch.readonly) out.filesystem.readonly = fsPatch.readonly.map((p) => posix.normalize(p));
    if (fsPatch.writable) out.filesystem.writable = fsPatch.writable.map((p) => posix.normalize(p));
    // A configured readonly path inside a path that stays writable stays readonly: the deeper rule
    // is what kept it so, and a narrowed list must not drop it.
    for (const r of readonly) {
      const root = posix.normalize(r);
      if (!out.filesystem.readonly.includes(root) && out.filesystem.writable.some((w) => root !== posix.normalize(w) && within(root, w))) out.filesystem.readonly.push(root);
    }
  }
  const limits = patch.limits;
  if (limits) {
    out.limits.timeoutMs = atMost("policy.limits.timeoutMs", limits.timeoutMs, base.limits.timeoutMs);
    out.limits.memMb = atMost("policy.limits.memMb", limits.memMb, base.limits.memMb);
    out.limits.stdoutBytes = atMost("policy.limits.stdoutBytes", limits.stdoutBytes, base.limits.stdoutBytes);
  }
  return out;
}
