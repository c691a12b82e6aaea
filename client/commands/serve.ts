import { McpwError } from "../../protocol/errors.js";
import { McpwServer } from "../../server/server.js";
import { readJsonObject } from "../../server/config.js";
import { defaultStateDir } from "../../server/state-dir.js";
import { listen } from "../../server/ws-listener.js";
import { parsePort, str, type CommandSpec } from "../command.js";
import { SNIPPET_OPTIONS, snippetPolicyFile, snippetServiceOptions } from "./snippets.js";

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
    "snippet-policy": { type: "string", help: "<file> JSON policy for run_js / run_py on /mcp (default {}: no network)" },
    "snippet-mount": { type: "string", help: "<dir> host directory snippets see at /mount (default: a fresh empty one per call)" },
    ...SNIPPET_OPTIONS,
  },
  details: `
On first start the server creates an admin token and writes it to <state-dir>/admin.token (mode 0600);
the CLI and TUI read it from there. Bridge tokens are created with \`mcpw token create\`.

The snippet tools run_js and run_py are served over Streamable HTTP at http://<host>:<port>/mcp,
guarded by the admin token (Authorization: Bearer <admin token>). Their network and file
operations go to the active bridge of the environment, under the snippet policy as well.`,
  async run(args) {
    const configFile = str(args.values.config);
    const config: Record<string, unknown> = configFile ? { ...readJsonObject(configFile, "server config") } : {};
    const env = str(args.values.env) ?? process.env.MCPW_ENV;
    if (env) config.env = env;
    if (str(args.values.host)) config.host = str(args.values.host);
    if (str(args.values.port)) config.port = parsePort(str(args.values.port)!);
    const stateDir = str(args.values["state-dir"]) ?? defaultStateDir();
    let server: McpwServer;
    try {
      server = new McpwServer({ config, stateDir });
    } catch (e) {
      // Name the file: "server config: port: ..." alone does not say which one.
      if (configFile && e instanceof McpwError) throw new McpwError(e.code, e.message.replace(/^server config/, `server config ${configFile}`), e.field ? { field: e.field } : {});
      throw e;
    }
    // Loaded here, not at the top: the MCP SDK, QuickJS and Pyodide would slow every mcpw command.
    const { SnippetService } = await import("../../wrapper/snippets/snippet-service.js");
    const { mcpHttpHandler, MCP_PATH } = await import("../../wrapper/snippets/mcp-http.js");
    const snippets = await SnippetService.create({
      policy: snippetPolicyFile(str(args.values["snippet-policy"])),
      callOp: (o, op, opts) => server.router.call(o, op, opts),
      audit: (e) => server.audit.write(e),
      workspace: str(args.values["snippet-mount"]) ?? null,
      ...snippetServiceOptions(args, stateDir),
    });
    let listening;
    try {
      listening = await listen(server, undefined, undefined, [mcpHttpHandler(server, snippets)]);
    } catch (e) {
      await snippets.close();
      await server.close();
      throw e;
    }
    // Only once listening: a server that cannot start leaves no new admin token behind.
    const admin = server.tokens.ensureAdminToken(stateDir);
    if (admin.created) process.stderr.write(`admin token written to ${admin.path} (mode 0600); the CLI and TUI read it from there\n`);
    process.stderr.write(`mcpw server listening on ${listening.url} (environment "${server.config.env}", state in ${stateDir})\n`);
    process.stderr.write(`snippet tools (run_js, run_py) at ${listening.url.replace(/^ws/, "http")}${MCP_PATH} (bearer: the admin token)\n`);
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        process.stderr.write(`${sig}: stopping sandboxes and closing\n`);
        void snippets
          .close()
          .then(() => server.close())
          .then(() => listening.close())
          .then(resolve);
      };
      // SIGHUP too: a server started in a terminal that closes would otherwise die without
      // stopping its sandboxes or removing their run dirs.
      for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(sig, () => stop(sig));
    });
    return 0;
  },
};
