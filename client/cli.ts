import { McpwError } from "../protocol/errors.js";
import { describeError, helpText, parseCommandArgs, UsageError, type CommandSpec } from "./command.js";
import { commands } from "./commands/index.js";

const GROUPS: [string, string][] = [
  ["run", "run a command sandboxed, with an embedded server and bridge (no daemons needed)"],
  ["serve", "run the main server"],
  ["snippets", "an MCP server (stdio) with run_js and run_py, under a policy"],
  ["bridge", "run a bridge daemon for an environment"],
  ["token", "create, list and revoke bridge tokens"],
  ["sandbox", "create, list, start, stop, restart, remove sandboxes, read their logs, exec a shell in one"],
  ["tui", "terminal UI for sandboxes, bridges, tokens and the audit log"],
  ["doctor", "report which isolation layers this machine has"],
];

function mainHelp(): string {
  const w = Math.max(...GROUPS.map(([g]) => g.length));
  return [
    "mcpw — run MCP servers in a sandbox; privileged work goes through a bridge",
    "",
    "usage: mcpw <command> [options]   (mcpw <command> --help for its options)",
    "",
    "commands:",
    ...GROUPS.filter(([g]) => commands.some((c) => c.name === g || c.name.startsWith(`${g} `))).map(([g, s]) => `  ${g.padEnd(w)}  ${s}`),
    "",
  ].join("\n");
}

function findCommand(argv: string[]): { spec: CommandSpec; rest: string[] } | null {
  const two = `${argv[0]} ${argv[1]}`;
  const spec = commands.find((c) => c.name === two) ?? commands.find((c) => c.name === argv[0]);
  if (!spec) return null;
  return { spec, rest: argv.slice(spec.name.split(" ").length) };
}

/** `mcpw token list | head -1`: a reader that goes away is not an error worth a stack trace. */
function exitQuietlyOnClosedStdout(): void {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

export async function main(argv: string[]): Promise<number> {
  // `run` and `snippets` own stdout (MCP stdio): they handle their own streams.
  if (argv[0] !== "run" && argv[0] !== "snippets") exitQuietlyOnClosedStdout();
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    process.stdout.write(mainHelp());
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === "--version" || argv[0] === "-v") {
    process.stdout.write("0.1.0\n");
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    const group = commands.filter((c) => c.name.startsWith(`${argv[0]} `));
    const list = () => group.map((c) => `  mcpw ${c.name.padEnd(20)} ${c.summary}`).join("\n");
    if (group.length && ["--help", "-h", "help"].includes(argv[1] ?? "")) {
      const summary = GROUPS.find(([g]) => g === argv[0])?.[1];
      process.stdout.write(`mcpw ${argv[0]}${summary ? ` — ${summary}` : ""}\n\ncommands:\n${list()}\n\n(mcpw ${argv[0]} <command> --help for its options)\n`);
      return 0;
    }
    if (group.length) {
      const wanted = argv[1] && !argv[1].startsWith("-") ? `unknown subcommand "${argv[1]}" for mcpw ${argv[0]}; ` : "";
      process.stderr.write(`mcpw: ${wanted}use one of:\n${list()}\n`);
      return 2;
    }
    process.stderr.write(`mcpw: unknown command "${argv[0]}"\n\n${mainHelp()}`);
    return 2;
  }
  const { spec, rest } = found;
  const ddIndex = rest.indexOf("--");
  const own = ddIndex >= 0 ? rest.slice(0, ddIndex) : rest;
  if (own.includes("--help") || own.includes("-h")) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  try {
    return await spec.run(parseCommandArgs(spec, rest));
  } catch (e) {
    process.stderr.write(`mcpw ${spec.name}: ${describeError(e)}\n`);
    if (e instanceof UsageError) return 2;
    return e instanceof McpwError && e.code === "bad_params" ? 2 : 1;
  }
}
