import dns from "node:dns";
import net from "node:net";
import type { ChannelClient } from "./channel-client.js";
import { fromChannelError } from "./node-errors.js";

type Address = { address: string; family: number };

/**
 * Name resolution happens at the bridge, under the network policy (the sandbox has no resolver of
 * its own). IP literals and localhost resolve locally, as they would anyway.
 */
export function installDnsInterceptors(client: ChannelClient): void {
  const resolveRemote = async (host: string, family: number): Promise<Address[]> => {
    try {
      const r = await client.request<{ addresses: Address[] }>("sandbox.op", { op: { op: "net.resolve", host, family } });
      return r.addresses;
    } catch (e) {
      const err = fromChannelError(e, "getaddrinfo", undefined);
      throw Object.assign(err, { code: err.code === "EACCES" ? "ENOTFOUND" : err.code, hostname: host, message: `getaddrinfo ${err.code === "EACCES" ? "ENOTFOUND" : err.code} ${host} (${err.message})` });
    }
  };
  const local = (host: string) => net.isIP(host) !== 0 || host === "localhost";

  const origLookup = dns.lookup;
  const origLookupPromise = dns.promises.lookup.bind(dns.promises);
  const lookup = function (hostname: string, options: unknown, callback?: unknown) {
    const cb = (typeof options === "function" ? options : callback) as (err: Error | null, a?: unknown, f?: number) => void;
    const opts = (typeof options === "number" ? { family: options } : typeof options === "object" && options ? options : {}) as { family?: number | string; all?: boolean };
    if (local(hostname)) return (origLookup as (...a: unknown[]) => unknown)(hostname, options, callback);
    const family = opts.family === "IPv6" ? 6 : opts.family === "IPv4" ? 4 : Number(opts.family ?? 0);
    resolveRemote(hostname, family).then(
      (addrs) => (opts.all ? cb(null, addrs) : cb(null, addrs[0]?.address, addrs[0]?.family)),
      (e) => cb(e),
    );
    return {};
  };
  (dns as { lookup: unknown }).lookup = lookup;
  (dns.promises as { lookup: unknown }).lookup = async (hostname: string, options?: { family?: number; all?: boolean } | number) => {
    const opts = typeof options === "number" ? { family: options } : (options ?? {});
    if (local(hostname)) return origLookupPromise(hostname, opts);
    const addrs = await resolveRemote(hostname, Number(opts.family ?? 0));
    return opts.all ? addrs : addrs[0];
  };
  for (const [name, family] of [["resolve4", 4], ["resolve6", 6], ["resolve", 4]] as const) {
    (dns as unknown as Record<string, unknown>)[name] = (host: string, ...rest: unknown[]) => {
      const cb = rest.at(-1) as (err: Error | null, a?: string[]) => void;
      resolveRemote(host, family).then((a) => cb(null, a.map((x) => x.address)), (e) => cb(e));
    };
    (dns.promises as unknown as Record<string, unknown>)[name] = async (host: string) => (await resolveRemote(host, family)).map((x) => x.address);
  }
}
