import { parseArgs, type ParseArgsConfig } from "node:util";
import { McpwError } from "../protocol/mcpw-error.js";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** Shown in --help; the value name goes in angle brackets, e.g. "<url> server to connect to". */
  help: string;
  default?: string | boolean;
}

export interface CommandSpec {
  /** e.g. "token create" */
  name: string;
  summary: string;
  /** Usage line after `mcpw <name>`, e.g. "--env <env> --name <name>". */
  usage?: string;
  options: Record<string, OptionSpec>;
  /** Positional arguments accepted (names, for the help text); with `rest`, everything after `--`. */
  positionals?: string[];
  rest?: boolean;
  details?: string;
  run(args: ParsedArgs): Promise<number>;
}

export interface ParsedArgs {
  /** The command line these were parsed from (after the command's name). */
  raw: string[];
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** Everything after `--`. */
  rest: string[];
}

/** Exit codes: 0 done, 1 the operation failed, 2 the command line was wrong. */
export class UsageError extends Error {}

export function parseCommandArgs(spec: CommandSpec, argv: string[]): ParsedArgs {
  const dd = argv.indexOf("--");
  const own = dd >= 0 ? argv.slice(0, dd) : argv;
  const rest = dd >= 0 ? argv.slice(dd + 1) : [];
  if (rest.length && !spec.rest) throw new UsageError(`mcpw ${spec.name} takes nothing after --`);
  const options: ParseArgsConfig["options"] = {};
  for (const [k, o] of Object.entries(spec.options)) {
    options[k] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: own, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message.replace(/\. To specify a positional argument.*$/s, "")} (see mcpw ${spec.name} --help)`);
  }
  const max = spec.positionals?.length ?? 0;
  if (parsed.positionals.length > max) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[max])} for mcpw ${spec.name} (see --help)`);
  }
  const values = { ...parsed.values } as ParsedArgs["values"];
  for (const [k, o] of Object.entries(spec.options)) if (values[k] === undefined && o.default !== undefined) values[k] = o.default;
  return { raw: argv, values, positionals: parsed.positionals, rest };
}

export function helpText(spec: CommandSpec): string {
  const lines = [`mcpw ${spec.name} — ${spec.summary}`, "", `usage: mcpw ${spec.name}${spec.usage ? ` ${spec.usage}` : ""}`];
  const opts = Object.entries(spec.options);
  if (opts.length) {
    lines.push("", "options:");
    const rows = opts.map(([k, o]) => {
      const m = /^(<[^>]+>)\s*(.*)$/.exec(o.help);
      const flag = `${o.short ? `-${o.short}, ` : "    "}--${k}${m ? ` ${m[1]}` : ""}`;
      const text = (m ? m[2]! : o.help) + (o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : "") + (o.multiple ? " (repeatable)" : "");
      return [flag, text] as const;
    });
    const w = Math.min(34, Math.max(...rows.map(([f]) => f.length)));
    for (const [f, t] of rows) lines.push(`  ${f.padEnd(w)}  ${t}`);
  }
  if (spec.details) lines.push("", spec.details.trim());
  return `${lines.join("\n")}\n`;
}

export function str(v: ParsedArgs["values"][string]): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function list(v: ParsedArgs["values"][string]): string[] {
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

export function requireStr(args: ParsedArgs, name: string, cmd: string): string {
  const v = str(args.values[name]);
  if (!v) throw new UsageError(`mcpw ${cmd} needs --${name}`);
  return v;
}

/** "30d", "12h", "15m", "90s" or plain seconds → seconds. */
export function parseDuration(text: string, what: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) throw new UsageError(`${what}: expected a duration such as 90s, 15m, 12h or 30d, got ${JSON.stringify(text)}`);
  const n = Number(m[1]);
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "" | "s" | "m" | "h" | "d"];
  if (n <= 0) throw new UsageError(`${what}: must be greater than zero`);
  return n * unit;
}

export function parsePort(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port: expected 0-65535, got ${JSON.stringify(text)}`);
  return n;
}

/** Turns anything thrown by a command into one clear line for stderr. */
export function describeError(e: unknown): string {
  if (e instanceof McpwError) return e.field && !e.message.includes(e.field) ? `${e.message} (${e.field})` : e.message;
  return e instanceof Error ? e.message : String(e);
}
