import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { MCPW_DIST } from "../../native/install-paths.js";
import { importModule } from "../import-module.js";
import { UsageError, type CommandSpec } from "../command.js";
import { adminToken, adminTokenPath, CONNECT_OPTIONS, serverUrl } from "../admin-session.js";

export const tuiCommand: CommandSpec = {
  name: "tui",
  summary: "terminal UI: sandboxes, bridges, tokens and the audit log, live, with keys to act on them",
  usage: "[--server <url>] [--token-file <file>] [--state-dir <dir>]",
  options: { ...CONNECT_OPTIONS },
  details: `
Views: 1 Sandboxes, 2 Bridges, 3 Tokens, 4 Audit (Tab cycles); the last line lists the keys of the
current view; q quits. It talks to \`mcpw serve\` over the same WebSocket protocol as the other
commands, with the admin token, and reconnects by itself when the server goes away. It needs a
terminal of at least 60x16 (80x24 is what it is made for); it works over SSH.`,
  async run(args) {
    if (!process.stdin.isTTY || !process.stdout.isTTY) {
      throw new UsageError("mcpw tui needs a terminal on stdin and stdout; scripts can use the other mcpw commands");
    }
    // ink draws only a last frame when it thinks it runs in CI; a person at a terminal is not CI.
    for (const k of Object.keys(process.env)) if (k === "CI" || k === "CONTINUOUS_INTEGRATION" || k.startsWith("CI_")) delete process.env[k];
    // ink is ESM-only (top-level await inside): the TUI loads as the compiled modules under dist/,
    // not from the CommonJS CLI bundle.
    const { runTui } = await importModule<typeof import("../tui/run.js")>(pathToFileURL(join(MCPW_DIST, "client", "tui", "run.js")).href);
    return runTui({ url: serverUrl(args), tokenPath: adminTokenPath(args).path, readToken: () => adminToken(args) });
  },
};
