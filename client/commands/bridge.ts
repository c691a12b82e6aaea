import { hostname } from "node:os";
import { join } from "node:path";
import { BridgeOperations } from "../../bridge/operations.js";
import { BridgeDaemon } from "../../bridge/daemon.js";
import { AuditLog } from "../../server/audit-log.js";
import { readJsonObject } from "../../server/config.js";
import { McpwError } from "../../protocol/errors.js";
import { defaultStateDir, ensureStateDir } from "../../server/state-dir.js";
import { readTokenFile } from "../admin-session.js";
import { requireStr, str, UsageError, type CommandSpec } from "../command.js";
import { DEFAULT_SERVER_URL } from "../server-connection.js";

export const bridgeCommand: CommandSpec = {
  name: "bridge",
  summary: "run a bridge daemon: carries out privileged operations for one environment",
  usage: "--env <env> --token-file <file> --policy <file> [--server <url>] [--name <name>] [--audit <file>]",
  options: {
    server: { type: "string", help: `<url> server to connect to (env MCPW_SERVER; default ${DEFAULT_SERVER_URL})` },
    env: { type: "string", help: "<env> environment this bridge serves (its token must be for it)" },
    "token-file": { type: "string", help: "<file> file holding the bridge token (or env MCPW_BRIDGE_TOKEN)" },
    policy: { type: "string", help: "<file> JSON capability policy: filesystem, network, exec" },
    name: { type: "string", help: "<name> bridge name shown to operators (default <hostname>-<pid>)" },
    audit: { type: "string", help: "<file> audit log (default <state-dir>/bridge-<env>-audit.jsonl)" },
    "state-dir": { type: "string", help: "<dir> state directory (env MCPW_STATE_DIR; default ~/.mcpw)" },
  },
  details: `
The policy is the bridge's own, checked for every operation whatever the sandbox asked:
  { "filesystem": { "readonly": ["/srv/data"], "readwrite": ["/srv/out"] },
    "network": { "allowedDomains": ["api.example.com", "*.github.com"], "deniedDomains": [] },
    "exec": { "allow": ["uname", { "command": "date", "args": ["-u", "\\\\+[%A-Za-z:_ -]*"] }],
              "allowEnv": [], "timeoutMs": 30000, "maxOutputBytes": 1048576 } }
An allowed program gets any arguments the sandbox chooses unless its entry constrains them
("args": patterns every argument must match in full): allow only programs safe with any argv
(git is not: aliases, hooks and ssh commands run anything). Exec ops may set only locale, time
zone and terminal variables, and the names in exec.allowEnv.
It reconnects with backoff when the server goes away; a refused or revoked token stops it.`,
  async run(args) {
    const env = requireStr(args, "env", "bridge");
    const policyFile = requireStr(args, "policy", "bridge");
    const tokenFile = str(args.values["token-file"]);
    const token = tokenFile ? readTokenFile(tokenFile, "bridge token file") : process.env.MCPW_BRIDGE_TOKEN;
    if (!token) throw new UsageError("mcpw bridge needs --token-file (or MCPW_BRIDGE_TOKEN); create a token with mcpw token create --env <env> --name <name>");
    const stateDir = str(args.values["state-dir"]) ?? defaultStateDir();
    const audit = new AuditLog(str(args.values.audit) ?? join(ensureStateDir(stateDir), `bridge-${env}-audit.jsonl`));
    let operations: BridgeOperations;
    try {
      operations = new BridgeOperations(readJsonObject(policyFile, "bridge policy"), (e) => audit.write(e));
    } catch (e) {
      // A field error ("exec.allow.0: ...") or a missing root: say which file it is in.
      if (e instanceof McpwError && !e.message.includes(policyFile)) throw new McpwError(e.code, `bridge policy ${policyFile}: ${e.message}`, e.field ? { field: e.field } : {});
      throw e;
    }
    const url = str(args.values.server) ?? process.env.MCPW_SERVER ?? DEFAULT_SERVER_URL;
    const name = str(args.values.name) ?? `${hostname()}-${process.pid}`;
    const log = (line: string) => process.stderr.write(`mcpw bridge ${name}: ${line}\n`);
    const daemon = new BridgeDaemon({ url, token, env, name, capabilities: operations.capabilities, performer: operations, log });
    daemon.onState((s) => (s === "active" ? log(`active: serving environment "${env}"`) : undefined));
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(sig, () => daemon.stop());
    try {
      await daemon.run();
    } finally {
      audit.close();
    }
    return 0;
  },
};
