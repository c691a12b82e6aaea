/**
 * Evaluated once in every fresh QuickJS context, before the snippet: builds the snippet's globals
 * (console, process, fetch, fs) on top of the host functions in `__mcpw`, then hides them. Host
 * functions take and return strings, numbers and ArrayBuffers only; promises for anything that
 * waits on the bridge.
 */
export const QUICKJS_PRELUDE = String.raw`
(() => {
  "use strict";
  const h = globalThis.__mcpw;
  delete globalThis.__mcpw;
  const show = (v) => {
    if (typeof v === "string") return v;
    if (v instanceof Error) return (v.name + ": " + v.message + (v.stack ? "\n" + v.stack : "")).trimEnd();
    if (typeof v === "function") return "[Function " + (v.name || "(anonymous)") + "]";
    if (v === undefined) return "undefined";
    try { const s = JSON.stringify(v); return s === undefined ? String(v) : s; } catch { return String(v); }
  };
  const line = (args) => args.map(show).join(" ") + "\n";
  globalThis.console = Object.freeze({
    log: (...a) => h.write(1, line(a)), info: (...a) => h.write(1, line(a)), debug: (...a) => h.write(1, line(a)),
    warn: (...a) => h.write(2, line(a)), error: (...a) => h.write(2, line(a)),
  });

  class Headers {
    #map = new Map();
    constructor(init) {
      if (init instanceof Headers) init.forEach((v, k) => this.set(k, v));
      else if (Array.isArray(init)) for (const [k, v] of init) this.append(k, v);
      else if (init) for (const k of Object.keys(init)) this.set(k, init[k]);
    }
    get(k) { const v = this.#map.get(String(k).toLowerCase()); return v === undefined ? null : v; }
    has(k) { return this.#map.has(String(k).toLowerCase()); }
    set(k, v) { this.#map.set(String(k).toLowerCase(), String(v)); }
    append(k, v) { const key = String(k).toLowerCase(); const old = this.#map.get(key); this.#map.set(key, old === undefined ? String(v) : old + ", " + v); }
    delete(k) { this.#map.delete(String(k).toLowerCase()); }
    forEach(fn) { for (const [k, v] of this.#map) fn(v, k, this); }
    entries() { return this.#map.entries(); }
    [Symbol.iterator]() { return this.#map.entries(); }
    toJSON() { return Object.fromEntries(this.#map); }
  }
  // The body arrives as bytes; its text is made when asked for (one copy, not two, per response).
  class Response {
    #text; #bytes;
    constructor(r) {
      this.status = r.status; this.statusText = r.statusText; this.url = r.url; this.redirected = r.redirects > 0;
      this.ok = r.status >= 200 && r.status < 300; this.headers = new Headers(r.headers);
      this.#bytes = r.bytes;
    }
    async text() { return this.#text === undefined ? (this.#text = h.decode(this.#bytes)) : this.#text; }
    async json() { return JSON.parse(await this.text()); }
    async arrayBuffer() { return this.#bytes; }
  }
  globalThis.Headers = Headers;
  globalThis.Response = Response;
  globalThis.fetch = async (input, init = {}) => {
    const headers = init.headers instanceof Headers ? init.headers.toJSON() : new Headers(init.headers).toJSON();
    let body = init.body;
    if (body !== undefined && body !== null && typeof body !== "string") {
      if (ArrayBuffer.isView(body)) body = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength);
      else if (!(body instanceof ArrayBuffer)) body = String(body);
    }
    const request = JSON.stringify({ url: String(input && input.url ? input.url : input), method: String(init.method || "GET").toUpperCase(), headers });
    return new Response(await h.fetch(request, body === undefined || body === null ? undefined : body));
  };

  const op = (name, path, extra) => h.fs(JSON.stringify(Object.assign({ op: name, path: String(path) }, extra || {})));
  const data = (d) => (typeof d === "string" || d instanceof ArrayBuffer ? d : ArrayBuffer.isView(d) ? d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength) : String(d));
  globalThis.fs = Object.freeze({
    readFile: (path, encoding) => (encoding === undefined || encoding === null ? op("fs.readFile", path) : op("fs.readFile", path, { encoding: "utf8" })),
    writeFile: (path, d) => h.fsWrite(JSON.stringify({ op: "fs.write", path: String(path), mode: "overwrite" }), data(d)),
    appendFile: (path, d) => h.fsWrite(JSON.stringify({ op: "fs.write", path: String(path), mode: "append" }), data(d)),
    readdir: (path) => op("fs.list", path).then((r) => r.entries.map((e) => e.name)),
    stat: (path) => op("fs.stat", path).then((s) => Object.assign(s, { isFile: () => s.type === "file", isDirectory: () => s.type === "dir" })),
    mkdir: (path, o) => op("fs.mkdir", path, { recursive: !!(o && o.recursive) }).then(() => undefined),
    rm: (path, o) => op("fs.rm", path, { recursive: !!(o && o.recursive), force: !!(o && o.force) }).then(() => undefined),
    rename: (from, to) => h.fs(JSON.stringify({ op: "fs.rename", from: String(from), to: String(to) })).then(() => undefined),
    exists: (path) => op("fs.stat", path).then(() => true, (e) => (e.code === "ENOENT" ? false : Promise.reject(e))),
  });

  // Per-call facts are asked for on first use: the context is made ahead of the call, in the pool.
  let cached;
  const info = () => (cached === undefined ? (cached = JSON.parse(h.info())) : cached);
  let stdinUsed = false;
  globalThis.process = Object.freeze({
    get argv() { return ["quickjs", "snippet.js", ...info().args]; },
    get env() { return Object.assign(Object.create(null), info().env); },
    cwd: () => info().cwd,
    exit: (code) => h.exit(code === undefined ? 0 : Number(code) | 0),
    stdin: Object.freeze({ read: () => { if (stdinUsed) return ""; stdinUsed = true; return info().stdin; } }),
    platform: "quickjs",
  });
  globalThis.readStdin = () => process.stdin.read();
})();
`;
