import { chownSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import type { Role } from "../../protocol/methods.js";
import { McpwServer } from "../../server/server.js";
import type { ServerConfigInput } from "../../server/config.js";
import { listen, type Listening } from "../../server/ws-listener.js";
import { connectToServer, type ServerConnection } from "../../client/server-connection.js";

export interface TestServer {
  server: McpwServer;
  listening: Listening;
  url: string;
  stateDir: string;
  adminToken: string;
  admin(): Promise<ServerConnection>;
  connect(token: string, role: Role): Promise<ServerConnection>;
  /** A bridge token for `env`. */
  bridgeToken(env?: string, expiresInSec?: number): string;
  /** Raw WebSocket, for sending malformed frames. */
  raw(): Promise<RawSocket>;
  close(): Promise<void>;
}

/** The temp dirs this test process made, removed when it exits (each test file is a process of its own). */
const made: string[] = [];
process.once("exit", () => {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // a dir a test made unreadable to us: leave it rather than fail the run at exit
    }
  }
});

export function tempDir(prefix: string, base = tmpdir()): string {
  const dir = mkdtempSync(join(base, prefix));
  made.push(dir);
  return dir;
}

/**
 * A workspace to hand to a sandbox. As root, mcpw runs sandboxes as uid 65534 and wants the
 * workspace to be theirs (as a root user would have to chown it); otherwise it is the caller's own.
 */
export function sandboxWorkspace(prefix = "mcpw-test-ws-"): string {
  const dir = tempDir(prefix);
  if (process.getuid?.() === 0) chownSync(dir, 65534, 65534);
  return dir;
}

/** A real server on an ephemeral loopback port, with its own state dir. */
export async function startTestServer(config: ServerConfigInput = {}): Promise<TestServer> {
  const stateDir = tempDir("mcpw-test-state-");
  const workspaceRoot = tempDir("mcpw-test-ws-");
  const server = new McpwServer({ config: { port: 0, workspaceRoot, ...config }, stateDir, log: () => undefined });
  const { path } = server.tokens.ensureAdminToken(stateDir);
  const adminToken = readFileSync(path, "utf8").trim();
  const listening = await listen(server, "127.0.0.1", 0);
  const opened: ServerConnection[] = [];
  const connect = async (token: string, role: Role) => {
    const c = await connectToServer(listening.url, token, role);
    opened.push(c);
    return c;
  };
  return {
    server,
    listening,
    url: listening.url,
    stateDir,
    adminToken,
    admin: () => connect(adminToken, "client"),
    connect,
    bridgeToken: (env = "dev", expiresInSec?: number) => server.tokens.create("bridge", env, `test-${env}`, expiresInSec).token,
    raw: () => RawSocket.open(listening.url),
    async close() {
      for (const c of opened) c.close();
      await server.close();
      await listening.close();
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(workspaceRoot, { recursive: true, force: true });
    },
  };
}

/** A WebSocket that sends whatever it is given and collects the parsed answers. */
export class RawSocket {
  private readonly messages: unknown[] = [];
  private waiters: (() => void)[] = [];
  closed: { code: number; reason: string } | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(data));
      } catch {
        parsed = { unparsable: String(data) };
      }
      this.messages.push(parsed);
      this.waiters.splice(0).forEach((w) => w());
    });
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.waiters.splice(0).forEach((w) => w());
    });
  }

  static open(url: string): Promise<RawSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { maxPayload: 256 * 1024 * 1024 });
      ws.once("open", () => resolve(new RawSocket(ws)));
      ws.once("error", reject);
    });
  }

  send(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /** The next answer (waits up to `ms`). */
  async next(ms = 5000): Promise<Record<string, any>> {
    const deadline = Date.now() + ms;
    while (this.messages.length === 0) {
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason}) before an answer came`);
      if (Date.now() > deadline) throw new Error("no answer");
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.messages.shift() as Record<string, any>;
  }

  /** Sends a request frame and returns its answer. */
  async request(method: string, params?: unknown, id = `r${Math.random().toString(36).slice(2)}`): Promise<Record<string, any>> {
    this.send(JSON.stringify({ v: 1, kind: "req", id, method, params }));
    return this.next();
  }

  close(): void {
    this.ws.close();
  }
}

/** Resolves with the error a promise rejects with; fails if it resolves. */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; field?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error("expected the promise to reject, but it resolved");
}
