import { constants as osConstants } from "node:os";
import { McpwError } from "../../protocol/errors.js";
import type { EventData } from "../../protocol/methods.js";
import { UsageError, type CommandSpec } from "../command.js";
import { CONNECT_OPTIONS, withServer } from "../admin-session.js";
import type { ServerConnection } from "../server-connection.js";

export const sandboxExecCommand: CommandSpec = {
  name: "sandbox exec",
  summary: "open a shell (or run a command) inside a running sandbox, on a terminal",
  usage: "<sandbox-id> [-- <command...>]",
  positionals: ["sandbox-id"],
  rest: true,
  options: { ...CONNECT_OPTIONS },
  details: `
The command (default /bin/sh) runs in the sandbox's namespaces, as the sandbox's user, with no
capabilities, in /mount, with the sandbox's environment: it sees what the sandboxed server sees.
It runs on a pty on the server; the terminal's bytes travel over the same WebSocket as every other
request, and window-size changes are passed on. mcpw exits with the command's exit status
(128 + the signal number if it was killed).

  mcpw sandbox exec sb-1a2b3c4d
  mcpw sandbox exec sb-1a2b3c4d -- ls -la /mount`,
  async run(args) {
    const id = args.positionals[0];
    if (!id) throw new UsageError("mcpw sandbox exec needs a sandbox id (see mcpw sandbox list)");
    return withServer(args, (c) => runExec(c, id, args.rest));
  },
};

type ExecExit = EventData<"sandbox.exec.exit">;

/** Runs one exec session on this process's stdin/stdout; resolves with the exit code to return. */
export async function runExec(c: ServerConnection, id: string, command: string[]): Promise<number> {
  const { stdin, stdout } = process;
  const exits = new Map<string, ExecExit>();
  let onExit: (() => void) | null = null;
  const stopEvents = c.peer.onEvent((event, data) => {
    if (event !== "sandbox.exec.exit") return;
    const e = data as ExecExit;
    exits.set(e.execId, e);
    onExit?.();
  });
  // The stream is ours (an id from the client's range) and open before the server can write to it.
  const streamId = c.peer.streams.allocateId();
  const stream = c.peer.streams.open(streamId);
  let execId: string;
  try {
    const res = await c.call("sandbox.exec", {
      id,
      command,
      stream: streamId,
      cols: stdout.isTTY ? stdout.columns : 80,
      rows: stdout.isTTY ? stdout.rows : 24,
      term: /^[A-Za-z0-9._+-]{1,64}$/.test(process.env.TERM ?? "") ? process.env.TERM! : "xterm-256color",
    });
    execId = res.execId;
  } catch (e) {
    stopEvents();
    stream.destroy();
    throw e;
  }

  const ended = new Promise<void>((resolve) => {
    stream.once("end", resolve);
    stream.once("close", resolve);
    stream.once("error", () => resolve());
  });
  const exited = new Promise<ExecExit>((resolve) => {
    onExit = () => exits.has(execId) && resolve(exits.get(execId)!);
    onExit();
  });
  stream.on("data", (chunk: Buffer) => {
    if (!stdout.write(chunk)) {
      stream.pause();
      stdout.once("drain", () => stream.resume());
    }
  });
  const onInput = (chunk: Buffer) => stream.write(chunk);
  const onInputEnd = () => stream.end();
  const onResize = () => void c.call("sandbox.exec.resize", { execId, cols: stdout.columns, rows: stdout.rows }).catch(() => undefined);
  const raw = stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  stdin.on("data", onInput);
  stdin.once("end", onInputEnd);
  stdin.resume();
  if (stdout.isTTY) stdout.on("resize", onResize);

  try {
    const outcome = await Promise.race([
      Promise.all([exited, ended]).then(([e]) => e),
      c.peer.closed().then((reason) => reason),
    ]);
    if (typeof outcome === "string") throw new McpwError("io_error", `lost the connection to the server: ${outcome}`);
    if (outcome.signal) {
      process.stderr.write(`mcpw sandbox exec: the command was killed by ${outcome.signal}\n`);
      return 128 + (osConstants.signals[outcome.signal as NodeJS.Signals] ?? 0);
    }
    return outcome.code ?? 1;
  } finally {
    if (!stream.writableEnded) stream.end(); // our half too: the stream is done
    stopEvents();
    stdin.off("data", onInput);
    stdin.off("end", onInputEnd);
    stdout.off("resize", onResize);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
  }
}
