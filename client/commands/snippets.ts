import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { Policy } from "../../protocol/policy.js";
import { readJsonObject, parseConfig } from "../../server/config.js";
import { startEmbedded } from "../../server/embedded.js";
import { defaultStateDir, ensureStateDir } from "../../server/state-dir.js";
import { Policy as PolicySchema } from "../../protocol/policy.js";
import { str, UsageError, type CommandSpec, type ParsedArgs } from "../command.js";
import { importModule } from "../import-module.js";
import { runPolicy } from "./run.js";

function count(args: ParsedArgs, name: string, fallback: number): number {
  const text = str(args.values[name]);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`--${name}: expected a whole number from 1 to 64, got ${JSON.stringify(text)}`);
  return n;
}

/** Options shared by `mcpw snippets` and the snippet tools of `mcpw serve`. */
export const SNIPPET_OPTIONS = {
  "js-pool": { type: "string", help: "<n> QuickJS worker threads at most, each running one snippet at a time (default 4)" },
  "py-pool": { type: "string", help: "<n> ready Pyodide workers (default 2)" },
  "py-recycle-after": { type: "string", help: "<n> replace a Pyodide worker after n snippets (1: a new interpreter per call; default 200)" },
  "pip-index": { type: "string", help: "<url> PEP 503 simple index for pip.requirements (reached through the bridge)" },
  "npm-registry": { type: "string", help: "<url> npm registry for npm.dependencies, reached through the bridge (default https://registry.npmjs.org)" },
} as const;

export function snippetServiceOptions(args: ParsedArgs, stateDir: string) {
  return {
    cacheDir: join(stateDir, "cache"),
    snapshotDir: process.env.MCPW_CACHE_DIR || join(homedir(), ".cache", "mcpw"),
    keyDir: stateDir,
    jsPoolSize: count(args, "js-pool", 4),
    pyPoolSize: count(args, "py-pool", 2),
    pyRecycleAfter: str(args.values["py-recycle-after"]) ? count(args, "py-recycle-after", 200) : 200,
    ...(str(args.values["pip-index"]) ? { pipIndexUrl: str(args.values["pip-index"])! } : {}),
    ...(str(args.values["npm-registry"]) ? { npmRegistry: str(args.values["npm-registry"])! } : {}),
  };
}

/** The snippet policy of `mcpw serve`: a policy file, or {} (no network, nothing of the host). */
export function snippetPolicyFile(file: string | undefined): Policy {
  return parseConfig(PolicySchema, file ? readJsonObject(file, "snippet policy") : {}, file ? `snippet policy ${file}` : "snippet policy");
}

export const snippetsCommand: CommandSpec = {
  name: "snippets",
  summary: "an MCP server (stdio) with run_js (QuickJS) and run_py (Pyodide), under a policy",
  usage: "[--policy <file>] [--mount <dir>] [--ro <path>]... [--rw <path>]... [--allow-net <host>]... [--env <env>]",
  options: {
    policy: { type: "string", help: "<file> JSON policy every call is held to (calls can only narrow it)" },
    mount: { type: "string", help: "<dir> host directory snippets see at /mount (default: a fresh empty one per call)" },
    ro: { type: "string", multiple: true, help: "<path> expose a host path read-only, at the same path" },
    rw: { type: "string", multiple: true, help: "<path> expose a host path read-write, at the same path" },
    "allow-net": { type: "string", multiple: true, help: "<host> allow requests to host (example.com, *.example.com, host:port)" },
    env: { type: "string", help: "<env> environment name of the embedded bridge (env MCPW_ENV; default dev)" },
    audit: { type: "string", help: "<file> audit log (default <state-dir>/snippets-audit.jsonl)" },
    ...SNIPPET_OPTIONS,
  },
  details: `
stdin and stdout carry MCP (JSON-RPC); logs go to stderr. Like \`mcpw run\`, it needs no daemon: an
embedded server and local bridge (holding exactly the policy) perform the snippets' network and
file operations. In an MCP client configuration:
  "command": "mcpw", "args": ["snippets", "--allow-net", "api.example.com"]`,
  async run(args) {
    const cwd = process.cwd();
    const policy = runPolicy(args, cwd);
    const env = str(args.values.env) ?? process.env.MCPW_ENV ?? "dev";
    const stateDir = ensureStateDir(defaultStateDir());
    const auditPath = str(args.values.audit) ?? join(stateDir, "snippets-audit.jsonl");
    const embedded = await startEmbedded({ env, policy, auditPath, cwd });
    // Loaded here, not at the top: the MCP SDK, QuickJS and Pyodide would slow every mcpw command.
    const { SnippetService } = await import("../../wrapper/snippets/snippet-service.js");
    const { snippetMcpServer } = await import("../../wrapper/snippets/mcp-tools.js");
    const { StdioServerTransport } = await importModule<typeof import("@modelcontextprotocol/sdk/server/stdio.js")>("@modelcontextprotocol/sdk/server/stdio.js");
    const service = await SnippetService.create({
      policy,
      callOp: (o, op, opts) => embedded.server.router.call(o, op, opts),
      audit: (e) => embedded.server.audit.write(e),
      workspace: str(args.values.mount) ? resolve(cwd, str(args.values.mount)!) : null,
      ...snippetServiceOptions(args, stateDir),
    });
    const server = snippetMcpServer(service);
    const transport = new StdioServerTransport();
    const closed = new Promise<void>((done) => {
      transport.onclose = () => done();
      process.stdin.once("end", () => done());
    });
    await server.connect(transport);
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(sig, () => void transport.close());
    await closed;
    await service.close();
    await embedded.close();
    return 0;
  },
};
