import { createServer } from "node:net";
import { join } from "node:path";
import { ADMIN_TOKEN_FILE } from "../../server/tokens.js";
import { PtyApp } from "./pty-app.js";
import type { TestServer } from "./server.js";

/** `mcpw tui` on an 80x24 pseudo-terminal, talking to `server` with its admin token file. */
export function startTui(server: Pick<TestServer, "url" | "stateDir">, opts: { tokenFile?: string; cols?: number; rows?: number } = {}): PtyApp {
  return PtyApp.mcpw(["tui"], {
    cols: opts.cols ?? 80,
    rows: opts.rows ?? 24,
    env: { MCPW_SERVER: server.url, MCPW_TOKEN_FILE: opts.tokenFile ?? join(server.stateDir, ADMIN_TOKEN_FILE) },
  });
}

/** Presses one key and waits for the screen to show `then`. */
export async function key(app: PtyApp, keys: string, then: Parameters<PtyApp["waitFor"]>[0]): Promise<string> {
  app.press(keys);
  return app.waitFor(then);
}

/** Resolves once `fn` returns something truthy; fails with `what` after `ms`. */
export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
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
