import { type IncomingMessage, type OutgoingHttpHeaders, request as httpRequest, validateHeaderName, validateHeaderValue } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import type { SecureContextOptions } from "node:tls";
import { McpwError } from "../protocol/errors.js";
import type { OpResult } from "../protocol/ops.js";
import { Deadline } from "./deadline.js";
import { checkDestination, type Destination, NetworkRules, type Resolver } from "./destination-check.js";
import { ioError } from "./io-error.js";
import type { OpOf } from "./op-types.js";

/**
 * http.request: one HTTP or HTTPS exchange, redirects followed by hand.
 *
 * - Every hop's destination goes through the destination check; the connection is made to a vetted
 *   address (a pinned `lookup`), while the URL's own host name is used for the Host header, SNI and
 *   certificate verification. Certificates are always verified.
 * - Redirects: at most the smaller of the policies' and the op's maxRedirects; one more is refused
 *   (policy_denied, rule network.maxRedirects). 303 (and 301/302 after a POST) become GET without a
 *   body; credentials (Authorization, Cookie) are dropped when a redirect changes origin.
 * - The response body is capped at the smaller of the policies' and the op's maxBodyBytes
 *   (too_large). The whole exchange, redirects included, is bounded by timeoutMs.
 * - Hop-by-hop headers are dropped in both directions; Host and Content-Length are set here.
 */

export interface HttpOptions {
  resolver?: Resolver;
  /** Certificate authorities to trust instead of Node's bundled ones (tests, private PKI). */
  ca?: SecureContextOptions["ca"];
}

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);
/** Request headers the bridge sets itself, or that would change how the exchange is framed. */
const SET_HERE = new Set(["host", "content-length", "expect"]);
const CREDENTIALS = ["authorization", "cookie", "proxy-authorization"];
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** A URL as it may appear in audit lines and messages: no credentials, no query (it may hold keys). */
export function describeUrl(raw: string | URL): string {
  try {
    const u = typeof raw === "string" ? new URL(raw) : raw;
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? "?…" : ""}`;
  } catch {
    return "(not a URL)";
  }
}

function parseHttpUrl(raw: string, field: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new McpwError("bad_params", `${field}: not a valid URL`, { field });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new McpwError("bad_params", `${field}: only http and https URLs are supported, not ${url.protocol}`, { field });
  }
  if (url.username || url.password) {
    throw new McpwError("bad_params", `${field}: credentials in the URL are not supported; send an Authorization header`, { field });
  }
  return url;
}

function portOf(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
}

/** The caller's headers, lower-cased, without hop-by-hop ones or anything the bridge sets itself. */
function requestHeaders(headers: Record<string, string>): Record<string, string> {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const named = (lower.connection ?? "").split(",").map((s) => s.trim().toLowerCase());
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(lower)) {
    if (HOP_BY_HOP.has(name) || SET_HERE.has(name) || named.includes(name)) continue;
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
    } catch {
      throw new McpwError("bad_params", `op.headers.${name}: not a valid HTTP header`, { field: `op.headers.${name}` });
    }
    out[name] = value;
  }
  return out;
}

function responseHeaders(res: IncomingMessage): Record<string, string> {
  const named = (res.headers.connection ?? "").split(",").map((s) => s.trim().toLowerCase());
  const out: Record<string, string> = {};
  for (const [name, values] of Object.entries(res.headersDistinct)) {
    if (values && !HOP_BY_HOP.has(name) && !named.includes(name)) out[name] = values.join(", ");
  }
  return out;
}

/** A `lookup` that answers only with the vetted addresses: the name is never resolved again. */
function pinnedLookup(dest: Destination): LookupFunction {
  return ((_host: string, opts: { family?: number | string; all?: boolean }, cb: (...args: unknown[]) => void) => {
    const family = opts.family === 4 || opts.family === "IPv4" ? 4 : opts.family === 6 || opts.family === "IPv6" ? 6 : 0;
    const list = dest.addresses.filter((a) => family === 0 || a.family === family);
    const first = list[0];
    if (!first) return cb(Object.assign(new Error(`no vetted IPv${family} address for ${dest.host}`), { code: "ENOTFOUND" }));
    if (opts.all) return cb(null, list);
    return cb(null, first.address, first.family);
  }) as LookupFunction;
}

interface Hop {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

export class HttpOperations {
  private readonly options: HttpOptions;

  constructor(options: HttpOptions) {
    this.options = options;
  }

  async request(op: OpOf<"http.request">, rules: readonly NetworkRules[]): Promise<OpResult<"http.request">> {
    const maxBody = Math.min(NetworkRules.limit(rules, "maxBodyBytes"), op.maxBodyBytes ?? Infinity);
    const maxRedirects = Math.min(NetworkRules.limit(rules, "maxRedirects"), op.maxRedirects ?? Infinity);
    let hop: Hop = {
      url: parseHttpUrl(op.url, "op.url"),
      method: op.method,
      headers: requestHeaders(op.headers),
      body: op.body === undefined ? undefined : Buffer.from(op.body, "base64"),
    };
    const deadline = new Deadline(op.timeoutMs, `http.request to ${describeUrl(op.url)}`);
    try {
      for (let redirects = 0; ; redirects++) {
        const dest = await deadline.race(
          checkDestination(hop.url.hostname, portOf(hop.url), rules, { resolver: this.options.resolver, field: "op.url" }),
        );
        const res = await deadline.race(this.send(hop, dest, deadline.signal));
        const location = res.headers.location;
        if (REDIRECTS.has(res.statusCode ?? 0) && location !== undefined) {
          res.destroy();
          hop = this.redirect(hop, res.statusCode as number, location, redirects + 1, maxRedirects);
          continue;
        }
        const body = await deadline.race(this.readBody(res, maxBody, hop.url));
        return {
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? "",
          headers: responseHeaders(res),
          body: body.toString("base64"),
          url: hop.url.href,
          redirects,
        };
      }
    } finally {
      deadline.clear();
    }
  }

  private redirect(hop: Hop, status: number, location: string, count: number, max: number): Hop {
    let next: URL;
    try {
      next = new URL(location, hop.url);
    } catch {
      throw new McpwError("io_error", `${describeUrl(hop.url)} redirected to an invalid URL`, { errno: "EBADRESP" });
    }
    if (next.protocol !== "http:" && next.protocol !== "https:") {
      throw new McpwError("io_error", `${describeUrl(hop.url)} redirected to a ${next.protocol} URL; only http and https are followed`, {
        errno: "EPROTONOSUPPORT",
      });
    }
    if (count > max) {
      throw new McpwError(
        "policy_denied",
        `redirect ${count} (from ${describeUrl(hop.url)} to ${describeUrl(next)}) refused: at most ${max} redirect${max === 1 ? "" : "s"} may be followed (network.maxRedirects)`,
        { rule: "network.maxRedirects" },
      );
    }
    const headers = { ...hop.headers };
    if (next.origin !== hop.url.origin) for (const h of CREDENTIALS) delete headers[h];
    const toGet = status === 303 ? hop.method !== "HEAD" : (status === 301 || status === 302) && hop.method === "POST";
    if (toGet) delete headers["content-type"];
    // Credentials in a Location header are not followed either.
    next.username = "";
    next.password = "";
    return { url: next, method: toGet ? "GET" : hop.method, headers, body: toGet ? undefined : hop.body };
  }

  private send(hop: Hop, dest: Destination, signal: AbortSignal): Promise<IncomingMessage> {
    const https = hop.url.protocol === "https:";
    const hostname = hop.url.hostname.replace(/^\[(.*)\]$/, "$1");
    const headers: OutgoingHttpHeaders = { ...hop.headers, host: hop.url.host };
    if (hop.body !== undefined) headers["content-length"] = hop.body.length;
    const options = {
      host: hostname,
      port: portOf(hop.url),
      path: `${hop.url.pathname}${hop.url.search}`,
      method: hop.method,
      headers,
      agent: false as const,
      signal,
      lookup: pinnedLookup(dest),
      ...(https ? { servername: dest.ipLiteral ? "" : hostname, rejectUnauthorized: true, ...(this.options.ca ? { ca: this.options.ca } : {}) } : {}),
    };
    return new Promise((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(options, resolve);
      req.on("error", (err) => reject(ioError(err, `${hop.method} ${describeUrl(hop.url)}`)));
      req.end(hop.body);
    });
  }

  private readBody(res: IncomingMessage, max: number, url: URL): Promise<Buffer> {
    const tooLarge = (): McpwError =>
      new McpwError("too_large", `the response body of ${describeUrl(url)} is larger than maxBodyBytes (${max} bytes)`);
    return new Promise((resolve, reject) => {
      const declared = Number(res.headers["content-length"]);
      if (Number.isFinite(declared) && declared > max) {
        res.destroy();
        return reject(tooLarge());
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          res.destroy();
          reject(tooLarge());
        } else chunks.push(chunk);
      });
      res.on("end", () => resolve(Buffer.concat(chunks)));
      res.on("error", (err) => reject(ioError(err, `reading the response of ${describeUrl(url)}`)));
      res.on("close", () => {
        if (!res.complete) reject(new McpwError("io_error", `the response of ${describeUrl(url)} was cut off`, { errno: "ECONNRESET" }));
      });
    });
  }
}
