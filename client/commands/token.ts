import type { TokenInfo } from "../../protocol/methods.js";
import { parseDuration, requireStr, str, UsageError, type CommandSpec } from "../command.js";
import { printTable, SERVER_OPTIONS, withServer } from "../admin-session.js";

export const tokenCreateCommand: CommandSpec = {
  name: "token create",
  summary: "create a bridge token for an environment (shown once)",
  usage: "--env <env> --name <name> [--expires <duration>]",
  options: {
    env: { type: "string", help: "<env> environment the bridge will serve (dev, prod, ...)" },
    name: { type: "string", help: "<name> a label for the token" },
    expires: { type: "string", help: "<duration> lifetime such as 12h or 30d (default: no expiry)" },
    ...SERVER_OPTIONS,
  },
  async run(args) {
    const env = requireStr(args, "env", "token create");
    const name = requireStr(args, "name", "token create");
    const expires = str(args.values.expires);
    const created = await withServer(args, (c) =>
      c.call("token.create", { env, name, ...(expires ? { expiresInSec: parseDuration(expires, "--expires") } : {}) }),
    );
    if (args.values.json) {
      process.stdout.write(`${JSON.stringify(created, null, 2)}\n`);
      return 0;
    }
    process.stdout.write(`${created.token}\n`);
    process.stderr.write(
      `token ${created.id} for environment "${created.env}"${created.expiresAt ? `, expires ${created.expiresAt}` : ""}.\n` +
        `It is shown only this once: store it in a file (mode 0600) and start a bridge with\n` +
        `  mcpw bridge --env ${created.env} --token-file <file> --policy <policy.json>\n`,
    );
    return 0;
  },
};

export const tokenListCommand: CommandSpec = {
  name: "token list",
  summary: "list tokens (never their values)",
  options: { ...SERVER_OPTIONS },
  async run(args) {
    const { tokens } = await withServer(args, (c) => c.call("token.list"));
    printTable(args, tokens.map(tokenRow), tokens);
    return 0;
  },
};

export const tokenRevokeCommand: CommandSpec = {
  name: "token revoke",
  summary: "revoke a token; bridges using it are disconnected",
  usage: "<token-id>",
  positionals: ["token-id"],
  options: { ...SERVER_OPTIONS },
  async run(args) {
    const id = args.positionals[0];
    if (!id) throw new UsageError("mcpw token revoke needs a token id (see mcpw token list)");
    const res = await withServer(args, (c) => c.call("token.revoke", { id }));
    process.stdout.write(`revoked ${res.token.id} (${res.token.name}); ${res.disconnected} connection(s) closed\n`);
    return 0;
  },
};

function tokenRow(t: TokenInfo): Record<string, unknown> {
  const state = t.revokedAt ? "revoked" : t.expiresAt && Date.parse(t.expiresAt) <= Date.now() ? "expired" : "valid";
  return { id: t.id, kind: t.kind, env: t.env, name: t.name, state, created: t.createdAt, expires: t.expiresAt, lastUsed: t.lastUsedAt };
}
