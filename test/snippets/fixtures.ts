import { createHash } from "node:crypto";
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { redirectChain } from "../helpers/web-routes.js";
import type { Test } from "tap";
import { Policy, type PolicyInput } from "../../protocol/policy.js";
import { startEmbedded } from "../../server/embedded.js";
import { SnippetService, type SnippetServiceOptions } from "../../wrapper/snippets/snippet-service.js";
import { tempDir } from "../helpers/server.js";

/** Snapshot shared by all test runs (made once, ~5 s). */
export const SNAPSHOT_DIR = process.env.MCPW_CACHE_DIR || join(homedir(), ".cache", "mcpw");

/** A loopback web server: /hello, /redirect/N, /big (2000 bytes), /wheel/<file>, /simple/<name>/. */
export async function webServer(t: Test, files: Record<string, Buffer> = {}): Promise<{ port: number; served: string[] }> {
  const served: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    served.push(req.url ?? "");
    const url = new URL(req.url ?? "/", "http://x");
    if (redirectChain(url.pathname, res)) return;
    if (url.pathname === "/hello") return res.end("hello from loopback");
    if (url.pathname === "/big") return res.end("x".repeat(2000));
    const file = /^\/files\/(.+)$/.exec(url.pathname);
    if (file && files[file[1]!]) return res.end(files[file[1]!]);
    const simple = /^\/simple\/([^/]+)\/$/.exec(url.pathname);
    if (simple) {
      const links = Object.keys(files).filter((f) => f.toLowerCase().startsWith(simple[1]!.replace(/-/g, "_")));
      // PEP 503 links carry the file's sha256; files named tampered* announce a wrong one.
      const sha = (f: string) => createHash("sha256").update(f.startsWith("tampered") ? "other" : files[f]!).digest("hex");
      return res.end(`<html><body>${links.map((f) => `<a href="/files/${f}#sha256=${sha(f)}">${f}</a>`).join("\n")}</body></html>`);
    }
    res.writeHead(404).end("no such route");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => new Promise<void>((r) => (server.close(() => r()), server.closeAllConnections())));
  return { port: (server.address() as AddressInfo).port, served };
}

/**
 * What an escape aims at on the host: a secret in a fresh world-readable /var/tmp directory (so
 * that only the sandbox can stop the read, not file permissions) and a TCP listener on the host's
 * 127.0.0.1.
 */
export interface HostTargets {
  secretFile: string;
  secret: string;
  port: number;
  /** Connections the host listener has accepted. */
  connections: () => number;
}

export async function hostTargets(t: Test): Promise<HostTargets> {
  const dir = tempDir("mcpw-py-secret-", "/var/tmp");
  chmodSync(dir, 0o755);
  const secret = `secret-${Math.random().toString(36).slice(2)}`;
  const secretFile = join(dir, "key");
  writeFileSync(secretFile, secret, { mode: 0o644 });
  let connections = 0;
  const server = createTcpServer((s) => {
    connections++;
    s.end("hello from the host");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { secretFile, secret, port: (server.address() as AddressInfo).port, connections: () => connections };
}

/** A snippet service on an embedded server and local bridge holding `policy`. */
export async function snippetService(t: Test, policy: PolicyInput, extra: Partial<SnippetServiceOptions> = {}) {
  const parsed = Policy.parse(policy);
  const audit = join(tempDir("mcpw-snippets-audit-"), "audit.jsonl");
  const embedded = await startEmbedded({ env: "dev", policy: parsed, auditPath: audit });
  const state = tempDir("mcpw-snippets-state-");
  const service = await SnippetService.create({
    policy: parsed,
    callOp: (o, op, opts) => embedded.server.router.call(o, op, opts),
    audit: (e) => embedded.server.audit.write(e),
    workspace: null,
    cacheDir: join(state, "cache"),
    keyDir: state,
    snapshotDir: SNAPSHOT_DIR,
    pyPoolSize: 1,
    eagerPython: false,
    ...extra,
  });
  t.teardown(async () => {
    await service.close();
    await embedded.close();
  });
  return { service, embedded, state };
}
