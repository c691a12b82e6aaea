import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { defaultStateDir } from "../server/state-dir.js";
import { ADMIN_TOKEN_FILE } from "../server/tokens.js";
import { str, UsageError, type OptionSpec, type ParsedArgs } from "./command.js";
import { connectToServer, DEFAULT_SERVER_URL, type ServerConnection } from "./server-connection.js";
import { clean } from "./text.js";

/** How to reach the server as admin: options every command that talks to a running server accepts. */
export const CONNECT_OPTIONS: Record<string, OptionSpec> = {
  server: { type: "string", help: `<url> server to talk to (env MCPW_SERVER; default ${DEFAULT_SERVER_URL})` },
  "token-file": { type: "string", help: "<file> admin token file (env MCPW_TOKEN_FILE; default <state-dir>/admin.token)" },
  "state-dir": { type: "string", help: "<dir> state directory (env MCPW_STATE_DIR; default ~/.mcpw)" },
};

/** CONNECT_OPTIONS, and --json for commands that print tables. */
export const SERVER_OPTIONS: Record<string, OptionSpec> = {
  ...CONNECT_OPTIONS,
  json: { type: "boolean", help: "print JSON instead of a table" },
};

export function serverUrl(args: ParsedArgs): string {
  return str(args.values.server) ?? process.env.MCPW_SERVER ?? DEFAULT_SERVER_URL;
}

export function readTokenFile(path: string, what: string): string {
  if (!existsSync(path)) throw new UsageError(`no ${what} at ${path}`);
  const token = readFileSync(path, "utf8").trim();
  if (!token) throw new UsageError(`${what} ${path} is empty`);
  return token;
}

/** Where the admin token is read from: --token-file, MCPW_TOKEN_FILE, or <state-dir>/admin.token. */
export function adminTokenPath(args: ParsedArgs): { path: string; explicit: boolean } {
  const explicit = str(args.values["token-file"]) ?? process.env.MCPW_TOKEN_FILE;
  if (explicit) return { path: explicit, explicit: true };
  return { path: join(str(args.values["state-dir"]) ?? defaultStateDir(), ADMIN_TOKEN_FILE), explicit: false };
}

export function adminToken(args: ParsedArgs): string {
  const { path, explicit } = adminTokenPath(args);
  if (!explicit && !existsSync(path)) {
    throw new UsageError(`no admin token at ${path}: start the server once with \`mcpw serve\` (it writes one there), or pass --token-file`);
  }
  return readTokenFile(path, "admin token file");
}

/** Connects as the admin client, runs `fn`, and always closes the connection. */
export async function withServer<T>(args: ParsedArgs, fn: (conn: ServerConnection) => Promise<T>): Promise<T> {
  const conn = await connectToServer(serverUrl(args), adminToken(args), "client");
  try {
    return await fn(conn);
  } finally {
    conn.close();
  }
}

/** Prints rows as an aligned table (or JSON with --json). */
export function printTable(args: ParsedArgs, rows: Record<string, unknown>[], json: unknown = rows): void {
  if (args.values.json) {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write("(none)\n");
    return;
  }
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) => (v === null || v === undefined ? "-" : clean(String(v)));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  process.stdout.write(`${line(cols.map((c) => c.toUpperCase()))}\n`);
  for (const r of rows) process.stdout.write(`${line(cols.map((c) => cell(r[c])))}\n`);
}
