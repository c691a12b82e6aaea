import type { CommandSpec } from "../command.js";
import { bridgeCommand } from "./bridge.js";
import { doctorCommand } from "./doctor.js";
import { runCommand } from "./run.js";
import {
  sandboxCreateCommand,
  sandboxListCommand,
  sandboxLogsCommand,
  sandboxRemoveCommand,
  sandboxRestartCommand,
  sandboxStartCommand,
  sandboxStatusCommand,
  sandboxStopCommand,
} from "./sandbox.js";
import { sandboxExecCommand } from "./sandbox-exec.js";
import { serveCommand } from "./serve.js";
import { snippetsCommand } from "./snippets.js";
import { tuiCommand } from "./tui.js";
import { tokenCreateCommand, tokenListCommand, tokenRevokeCommand } from "./token.js";

export const commands: CommandSpec[] = [
  runCommand,
  serveCommand,
  snippetsCommand,
  bridgeCommand,
  tokenCreateCommand,
  tokenListCommand,
  tokenRevokeCommand,
  sandboxCreateCommand,
  sandboxListCommand,
  sandboxStartCommand,
  sandboxStopCommand,
  sandboxRestartCommand,
  sandboxStatusCommand,
  sandboxRemoveCommand,
  sandboxLogsCommand,
  sandboxExecCommand,
  tuiCommand,
  doctorCommand,
];
