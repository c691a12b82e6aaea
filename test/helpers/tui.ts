import { createServer } from "node:net";
import { join } from "node:path";
import { ADMIN_TOKEN_FILE } from "../../server/tokens.js";
import { PtyApp } from "./pty-app.js";
import { startTestServer, type TestServer } from "./server.js";

/** `mcpw tui` on an 80x24 pseudo-terminal, talking to `server` with its admin token file. */
export function startTui(server: Pick<TestServer, "url" | "stateDir">, opts: { tokenFile?: string; cols?: number; rows?: number } = {}): PtyApp {
  return PtyApp.mcpw(["tui"], {
    cols: opts.cols ?? 80,
    rows: opts.rows ?? 24,
    env: { MCPW_SERVER: server.url, MCPW_TOKEN_FILE: opts.tokenFile ?? join(server.stateDir, ADMIN_TOKEN_FILE) },
  });
}

interface Teardowns {
  teardown(fn: () => unknown): void;
}

/** A test server, closed when the test ends. */
export async function serverFor(t: Teardowns): Promise<TestServer> {
  const ts = await startTestServer();
  t.teardown(() => ts.close());
  return ts;
}

/** The TUI on `server`, once it is online; killed when the test ends. */
export async function tuiOn(t: Teardowns, server: TestServer): Promise<PtyApp> {
  const app = startTui(server);
  t.teardown(() => app.kill());
  await app.waitFor(/online/);
  return app;
}

/** Presses one key and waits for the screen to show `then`. */
export async function key(app: PtyApp, keys: string, then: Parameters<PtyApp["waitFor"]>[0]): Promise<string> {
  app.press(keys);
  return app.waitFor(then);
}

/** A loopback port nothing listens on (bound and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The line of the screen that holds `text`. */
export function lineWith(screen: string, text: string): string {
  return screen.split("\n").find((l) => l.includes(text)) ?? "";
}
