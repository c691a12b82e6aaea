/**
 * The in-sandbox proxy: `node proxy.cjs <port>`, started by sandbox-init inside the sandbox's
 * network namespace. It listens on 127.0.0.1:<port> and speaks HTTP (CONNECT, and absolute-URI
 * requests) and SOCKS5 on the same port; every connection becomes a tunnel through the channel,
 * so programs that bypass the interceptors but honour HTTP_PROXY / HTTPS_PROXY / ALL_PROXY (curl,
 * pip, native code) reach exactly what the policy allows, and nothing else. Writes "ready\n" to
 * stdout once listening.
 */
import { connect, createServer, type Socket } from "node:net";
import { ChannelClient, ChannelError } from "./channel-client.js";

const client = new ChannelClient(process.env.MCPW_CHANNEL_DIR ?? "/run/mcpw");

async function tunnel(host: string, port: number): Promise<Socket> {
  const { ticket } = await client.request<{ ticket: string }>("tunnel.open", { host, port });
  return new Promise((resolve, reject) => {
    const s = connect(client.tunnelPath(ticket));
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

function reason(e: unknown): string {
  return e instanceof ChannelError ? e.body.message : (e as Error).message;
}

function join(a: Socket, b: Socket, head?: Buffer): void {
  if (head?.length) b.write(head);
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on("error", end).on("close", end);
  b.on("error", end).on("close", end);
}

/** Reads until `done(buffer)` returns a result; gives up on 64 KiB without one. */
function readUntil<T>(socket: Socket, done: (buf: Buffer) => T | null): Promise<{ value: T; buf: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const value = done(buf);
      if (value !== null) {
        socket.off("data", onData);
        socket.pause();
        resolve({ value, buf });
      } else if (buf.length > 65536) reject(new Error("request head too large"));
    };
    socket.on("data", onData);
    socket.once("error", reject);
  });
}

async function serveHttp(socket: Socket): Promise<void> {
  const { value: headEnd, buf } = await readUntil(socket, (b) => {
    const i = b.indexOf("\r\n\r\n");
    return i >= 0 ? i + 4 : null;
  });
  const head = buf.subarray(0, headEnd).toString("latin1");
  const rest = buf.subarray(headEnd);
  const [requestLine = "", ...headerLines] = head.split("\r\n");
  const [method = "", target = "", version = "HTTP/1.1"] = requestLine.split(" ");
  const refuse = (status: string, why: string): void =>
    void socket.end(`${version} ${status}\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(why) + 1}\r\n\r\n${why}\n`);
  if (method === "CONNECT") {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
    if (!m) return refuse("400 Bad Request", `mcpw proxy: CONNECT target must be host:port, got ${target}`);
    try {
      const upstream = await tunnel(m[1]!, Number(m[2]));
      socket.write(`${version} 200 Connection established\r\n\r\n`);
      join(socket, upstream, rest);
      socket.resume();
    } catch (e) {
      refuse("403 Forbidden", `mcpw proxy: ${reason(e)}`);
    }
    return;
  }
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return refuse("400 Bad Request", "mcpw proxy: expected an absolute URL or CONNECT");
  }
  if (url.protocol !== "http:") return refuse("400 Bad Request", `mcpw proxy: use CONNECT for ${url.protocol} URLs`);
  try {
    const upstream = await tunnel(url.hostname, Number(url.port || 80));
    // Forward the request in origin form; hop-by-hop proxy headers stay here.
    const headers = headerLines.filter((h) => h && !/^proxy-/i.test(h));
    upstream.write(`${method} ${url.pathname}${url.search} ${version}\r\n${headers.join("\r\n")}\r\n\r\n`);
    join(socket, upstream, rest);
    socket.resume();
  } catch (e) {
    refuse("403 Forbidden", `mcpw proxy: ${reason(e)}`);
  }
}

/** An async reader over a socket's bytes: `take(n)` resolves with exactly n bytes. */
function byteReader(socket: Socket) {
  let buf = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  let failed: Error | null = null;
  const onData = (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    wake?.();
  };
  socket.on("data", onData);
  socket.once("error", (e) => ((failed = e), wake?.()));
  socket.once("end", () => ((failed = new Error("closed")), wake?.()));
  return {
    async take(n: number): Promise<Buffer> {
      while (buf.length < n) {
        if (failed) throw failed;
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
      const out = buf.subarray(0, n);
      buf = buf.subarray(n);
      return out;
    },
    /** Stops reading; returns what was read but not taken. */
    release(): Buffer {
      socket.off("data", onData);
      socket.pause();
      return buf;
    },
  };
}

/** SOCKS5 without authentication, CONNECT only (RFC 1928). */
async function serveSocks(socket: Socket): Promise<void> {
  const r = byteReader(socket);
  const [, nMethods] = await r.take(2);
  await r.take(nMethods!);
  socket.write(Buffer.from([5, 0]));
  const [, cmd, , atyp] = await r.take(4);
  const reply = (code: number) => Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
  let host: string;
  if (atyp === 1) host = [...(await r.take(4))].join(".");
  else if (atyp === 4) host = (await r.take(16)).toString("hex").replace(/(.{4})(?!$)/g, "$1:");
  else if (atyp === 3) host = (await r.take((await r.take(1))[0]!)).toString("latin1");
  else return void socket.end(reply(8)); // address type not supported
  const port = (await r.take(2)).readUInt16BE(0);
  if (cmd !== 1) return void socket.end(reply(7)); // only CONNECT
  try {
    const upstream = await tunnel(host, port);
    socket.write(reply(0));
    join(socket, upstream, r.release());
    socket.resume();
  } catch {
    socket.end(reply(2)); // connection not allowed by ruleset
  }
}

const port = Number(process.argv[2] ?? "0");
const server = createServer((socket) => {
  socket.on("error", () => socket.destroy());
  socket.once("readable", () => {
    const first = socket.read(1) as Buffer | null;
    if (!first) return;
    socket.unshift(first);
    (first[0] === 5 ? serveSocks(socket) : serveHttp(socket)).catch(() => socket.destroy());
  });
});
server.listen(port, "127.0.0.1", () => process.stdout.write("ready\n"));
