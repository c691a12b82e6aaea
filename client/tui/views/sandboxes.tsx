import { constants } from "node:os";
import { Fragment, useState, type ReactNode } from "react";
import { Box, Text } from "ink";
import type { ExitInfo, SandboxInfo, SandboxStats } from "../../../protocol/methods.js";
import { FormPage } from "../form.js";
import { CONFIRM_KEYS, type HelpKeys } from "../help-bar.js";
import { bytes, clean, clock, duration, firstRows, fit, rule, shellWords, wrapWords } from "../format.js";
import { useCapture, useKeys, useSelection, useStore, useTuiState } from "../hooks.js";
import { Table, type Column } from "../table.js";
import { useFrameLines, ViewFrame } from "../view-frame.js";
import { McpRequest } from "./mcp-request.js";
import { SandboxLogs } from "./sandbox-logs.js";

type Mode = { kind: "list" } | { kind: "new" } | { kind: "remove"; id: string } | { kind: "logs"; id: string } | { kind: "mcp"; id: string };

/** The detail pane's rows, at least (a long state or the removal question take a few more). */
const DETAIL_LINES = 5;
const LIST_KEYS: HelpKeys = [
  ["s", "start"],
  ["x", "stop"],
  ["r", "restart"],
  ["l", "logs"],
  ["m", "mcp"],
  ["n", "new"],
  ["d", "remove"],
];


/**
 * The signal that ended a run, if one did. Under bubblewrap the server sees it as exit code 128 +
 * the signal's number (137: SIGKILL), with no signal of its own.
 */
export function exitSignal(exit: ExitInfo): string | null {
  if (exit.signal) return exit.signal;
  if (exit.code === null || exit.code <= 128 || exit.code > 128 + 64) return null;
  const n = exit.code - 128;
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;
}

/** The state in a few letters; for an ended run, how it ended (the reason in full is in the details). */
export function stateText(s: SandboxInfo): string {
  if (s.state !== "exited" || !s.exit) return s.state;
  if (s.exit.reason === "stopped by request") return "stopped";
  if (s.exit.reason.startsWith("failed to start")) return "failed";
  if (exitSignal(s.exit)) return "killed";
  return s.exit.code === null ? "exited" : `exit ${s.exit.code}`;
}

function stateColor(s: SandboxInfo): string | undefined {
  return { running: "green", starting: "yellow", stopping: "yellow", exited: s.exit?.code === 0 || s.exit?.reason === "stopped by request" ? "gray" : "red", created: undefined }[s.state];
}

function columns(stats: Record<string, SandboxStats>): Column<SandboxInfo>[] {
  const st = (s: SandboxInfo) => (s.state === "running" ? stats[s.id] : undefined);
  return [
    { title: "ID", width: 11, value: (s) => s.id },
    { title: "NAME", width: 10, value: (s) => s.name },
    { title: "ENV", width: 5, value: (s) => s.env },
    { title: "STATE", width: 8, value: stateText, color: stateColor },
    { title: "UP", width: 6, align: "right", value: (s) => (st(s)?.uptimeSec != null ? duration(st(s)!.uptimeSec!) : s.state === "running" && s.startedAt ? duration((Date.now() - Date.parse(s.startedAt)) / 1000) : "-") },
    { title: "MEM", width: 6, align: "right", value: (s) => (st(s) ? bytes(st(s)!.rssBytes) : "-") },
    { title: "CPU", width: 5, align: "right", value: (s) => (st(s)?.cpuPercent != null ? `${st(s)!.cpuPercent!.toFixed(st(s)!.cpuPercent! < 10 ? 1 : 0)}%` : "-") },
    { title: "RST", width: 3, align: "right", value: (s) => String(s.restarts) },
    { title: "COMMAND", width: 0, grow: true, value: (s) => s.command.join(" ") },
  ];
}

/** The Sandboxes view: the list with live state and stats, and the sub-pages for one sandbox. */
export function SandboxesView({ height, width }: { height: number; width: number }) {
  const store = useStore();
  const { sandboxes, stats } = useTuiState();
  const [mode, setMode] = useState<Mode>({ kind: "list" });
  useCapture(mode.kind !== "list");
  const { index, current, moveTo, select } = useSelection("sandboxes", sandboxes, (s) => s.id);
  const body = height - useFrameLines(width);
  const size = { height, width };
  const details = detailRows(current, current ? stats[current.id] : undefined, mode.kind === "remove", width);
  const detailHeight = Math.max(DETAIL_LINES, details.length);
  const page = body - detailHeight - 2;

  const lifecycle = (verb: "start" | "stop" | "restart") => {
    if (!current) return;
    const id = current.id;
    store.flash(`${verb === "stop" ? "stopping" : verb === "start" ? "starting" : "restarting"} ${id}...`);
    const done = { start: () => `started ${id}`, stop: () => `stopped ${id}`, restart: () => `restarted ${id}` }[verb];
    void store.act(`sandbox.${verb}`, { id }, done);
  };

  useKeys(
    (input, key) => {
      if (mode.kind === "remove") {
        if (input === "y") {
          const id = mode.id;
          void store.act("sandbox.remove", { id }, () => `removed ${id} (its workspace stays on the server)`).then(() => store.refreshSandboxes().catch(() => undefined));
        }
        setMode({ kind: "list" });
        return;
      }
      if (key.upArrow || input === "k") moveTo(index - 1);
      else if (key.downArrow || input === "j") moveTo(index + 1);
      else if (key.pageUp) moveTo(index - page);
      else if (key.pageDown) moveTo(index + page);
      else if (input === "n") setMode({ kind: "new" });
      else if (!current) return;
      else if (input === "s") lifecycle("start");
      else if (input === "x") lifecycle("stop");
      else if (input === "r") lifecycle("restart");
      else if (input === "d") setMode({ kind: "remove", id: current.id });
      else if (input === "l" || key.return) setMode({ kind: "logs", id: current.id });
      else if (input === "m") setMode({ kind: "mcp", id: current.id });
    },
    { isActive: mode.kind === "list" || mode.kind === "remove" },
  );

  const back = () => setMode({ kind: "list" });
  if (mode.kind === "logs") return <SandboxLogs id={mode.id} height={height} width={width} onBack={back} />;
  if (mode.kind === "mcp") return <McpRequest id={mode.id} height={height} width={width} onBack={back} />;
  if (mode.kind === "new") {
    const create = async ([line, name]: string[]) => {
      let command: string[];
      try {
        command = shellWords(line!);
      } catch (e) {
        throw new Error(`command: ${(e as Error).message}`);
      }
      if (command.length === 0) throw new Error("command: type the command that starts the MCP server");
      const info = await store.call("sandbox.create", { command, ...(name!.trim() ? { name: name!.trim() } : {}) });
      store.flash(`created ${info.id} (${info.name})`);
      select(info.id);
      back();
    };
    return (
      <FormPage
        {...size}
        title="New sandbox (tightest policy; workspace ./mount/<id>/ beside the server)"
        fields={[
          { label: "command", hint: "e.g. npx -y @modelcontextprotocol/server-memory" },
          { label: "name", hint: "optional" },
        ]}
        submit={create}
        onCancel={back}
      />
    );
  }

  return (
    <ViewFrame {...size} modal={mode.kind === "remove"} help={mode.kind === "remove" ? CONFIRM_KEYS : LIST_KEYS}>
      <Table columns={columns(stats)} rows={sandboxes} selected={index} height={body - detailHeight} width={width} empty="No sandboxes yet: press n to create one (or mcpw sandbox create -- <command>)." />
      <Box flexDirection="column" height={detailHeight} width={width}>
        {details.map((row, i) => (
          <Fragment key={i}>{row}</Fragment>
        ))}
      </Box>
    </ViewFrame>
  );
}

/** The label column of the detail pane. */
const LABEL = 10;

/** The state in a sentence, for the detail pane: since when, and how the last run ended. */
export function stateLine(s: SandboxInfo): string {
  const ended = s.exit ? `${s.state === "exited" ? "" : "last run: "}${endedText(s.exit)} at ${clock(s.exit.at)}` : "";
  if (s.state === "exited") return ended;
  // startedAt is when the current (or last) run started: right for "running since", not for the
  // other states ("stopping since <start time>" said it had been stopping all along).
  const since = !s.startedAt ? "" : s.state === "running" ? ` since ${clock(s.startedAt)}` : s.state === "stopping" ? ` (running since ${clock(s.startedAt)})` : "";
  return `${s.state}${since}${ended && s.state !== "stopping" ? `; ${ended}` : ""}`;
}

/**
 * How a run ended, for people: a run killed by a signal (not stopped on request) says so by name,
 * where the server's reason is only the bare exit status ("exited with code 137 (SIGKILL)"); a
 * reason that names a cause (a limit) is kept whole.
 */
export function endedText(exit: ExitInfo): string {
  const signal = exit.reason === "stopped by request" ? null : exitSignal(exit);
  return signal && /^(exited with code \d+( \(\w+\))?|killed by \w+)$/.test(exit.reason) ? `killed (${signal})` : exit.reason;
}

/**
 * The detail pane's rows: the divider, then the selected sandbox (or the question before removing
 * it). What must be read whole (the state with how the last run ended, the question) wraps, so the
 * pane takes DETAIL_LINES rows or a few more; the rest is cut to one row.
 */
function detailRows(s: SandboxInfo | undefined, stats: SandboxStats | undefined, removing: boolean, width: number): ReactNode[] {
  if (!s) return [];
  const line = (label: string, text: string) => (
    <Text wrap="truncate-end">
      <Text bold>{fit(label, LABEL)}</Text>
      {clean(text)}
    </Text>
  );
  const wrapped = (label: string, text: string, max: number) =>
    firstRows(wrapWords(text, width - LABEL), max, width - LABEL).map((row, i) => (
      <Text wrap="truncate-end">
        <Text bold>{fit(i === 0 ? label : "", LABEL)}</Text>
        {row}
      </Text>
    ));
  const rows: ReactNode[] = [<Text dimColor>{rule(`${s.id} ${s.name}${s.state === "running" ? ` - shell: mcpw sandbox exec ${s.id}` : ""}`, width)}</Text>];
  if (removing) {
    for (const row of firstRows(wrapWords(`Remove ${s.id} (${s.name})? It is stopped first; its workspace stays on the server.`, width), 3, width)) {
      rows.push(
        <Text color="yellow" wrap="truncate-end">
          {row}
        </Text>,
      );
    }
    rows.push(<Text color="yellow">y: remove, any other key: keep</Text>);
  } else {
    rows.push(...wrapped("state", `${stateLine(s)}   restarts ${s.restarts}`, 3));
    rows.push(line("command", s.command.join(" ")));
  }
  rows.push(line("workspace", `${s.workspace}   env ${s.env}${stats ? `   ${stats.processes} process(es), ${stats.cpuSeconds.toFixed(1)} s CPU` : ""}`));
  rows.push(line("isolation", Object.entries(s.isolation).map(([k, v]) => `${k}: ${v}`).join("; ") || "-"));
  return rows;
}
