import { McpwServer } from "../../server/server.js";
import { readJsonFile } from "../../server/config.js";
import { defaultStateDir } from "../../server/state-dir.js";
import { listen } from "../../server/ws-listener.js";
import { parsePort, str, type CommandSpec } from "../command.js";

export const serveCommand: CommandSpec = {
  name: "serve",
  summary: "run the main server (WebSocket hub for clients, bridges and sandboxes)",
  usage: "[--host <host>] [--port <port>] [--env <env>] [--state-dir <dir>] [--config <file>]",
  options: {
    host: { type: "string", help: "<host> address to listen on (default 127.0.0.1)" },
    port: { type: "string", help: "<port> port to listen on (default 7800)" },
    env: { type: "string", help: "<env> environment whose bridge serves (env MCPW_ENV; default dev)" },
    "state-dir": { type: "string", help: "<dir> tokens, admin token and audit log (env MCPW_STATE_DIR; default ~/.mcpw)" },
    config: { type: "string", help: "<file> JSON server config (host, port, env, workspaceRoot, requestTimeoutMs, rateLimit, ...)" },
  },
  details: `
On first start the server creates an admin token and writes it to <state-dir>/admin.token (mode 0600);
the CLI and TUI read it from there. Bridge tokens are created with \`mcpw token create\`.`,
  async run(args) {
    const fileConfig = str(args.values.config) ? (readJsonFile(str(args.values.config)!, "server config") as Record<string, unknown>) : {};
    const config: Record<string, unknown> = { ...fileConfig };
    const env = str(args.values.env) ?? process.env.MCPW_ENV;
    if (env) config.env = env;
    if (str(args.values.host)) config.host = str(args.values.host);
    if (str(args.values.port)) config.port = parsePort(str(args.values.port)!);
    const stateDir = str(args.values["state-dir"]) ?? defaultStateDir();
    const server = new McpwServer({ config, stateDir });
    const admin = server.tokens.ensureAdminToken(stateDir);
    const listening = await listen(server);
    if (admin.created) process.stderr.write(`admin token written to ${admin.path} (mode 0600); the CLI and TUI read it from there\n`);
    process.stderr.write(`mcpw server listening on ${listening.url} (environment "${server.config.env}", state in ${stateDir})\n`);
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        process.stderr.write(`${sig}: stopping sandboxes and closing\n`);
        void server
          .close()
          .then(() => listening.close())
          .then(resolve);
      };
      process.once("SIGINT", () => stop("SIGINT"));
      process.once("SIGTERM", () => stop("SIGTERM"));
    });
    return 0;
  },
};
