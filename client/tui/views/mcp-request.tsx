import { useEffect, useRef, useState } from "react";
import { Text } from "ink";
import { describeError } from "../../command.js";
import { clean, firstRows, fit, wrapColumns, wrapWords } from "../format.js";
import { clampIndex, useKeys, useStore } from "../hooks.js";
import type { HelpKeys } from "../help-bar.js";
import { EDITOR_KEYS, JsonEditor } from "../json-editor.js";
import { Table } from "../table.js";
import { fromText, toText, type TextBuffer } from "../text-buffer.js";
import { TextRows, useFrameLines, ViewFrame } from "../view-frame.js";

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  default?: unknown;
  enum?: unknown[];
}

interface Tool {
  name: string;
  description?: string;
  inputSchema?: JsonSchema;
}

type Stage =
  | { kind: "loading" }
  | { kind: "failed"; error: string }
  | { kind: "tools" }
  | { kind: "edit"; tool: Tool; error: string | null }
  | { kind: "sending"; tool: Tool }
  | { kind: "result"; tool: Tool; response: unknown; raw: boolean };

const MCP_TIMEOUT_MS = 60_000;
const TOOLS_KEYS: HelpKeys = [
  ["up/dn", "select"],
  ["enter", "edit arguments"],
  ["esc", "back"],
];
const resultKeys = (raw: boolean): HelpKeys => [
  ["esc", "tools"],
  ["e", "edit again"],
  ["r", raw ? "text view" : "raw JSON"],
  ["up/dn", "scroll"],
];

/** A starting point for a tool's arguments: its required properties (and any with a default). */
export function argumentsTemplate(schema: JsonSchema | undefined): string {
  const out: Record<string, unknown> = {};
  const required = new Set(schema?.required ?? []);
  for (const [name, p] of Object.entries(schema?.properties ?? {})) {
    if (p.default !== undefined) out[name] = p.default;
    else if (required.has(name)) out[name] = p.enum?.[0] ?? ({ string: "", number: 0, integer: 0, boolean: false, array: [], object: {} } as Record<string, unknown>)[String([p.type].flat()[0])] ?? null;
  }
  return JSON.stringify(out, null, 2);
}

/** The template in an editor buffer, the cursor inside the first empty string (else after the opening brace). */
export function argumentsBuffer(template: string): TextBuffer {
  const b = fromText(template);
  const row = b.lines.findIndex((l) => l.includes(': ""'));
  if (row >= 0) return { ...b, row, col: b.lines[row]!.indexOf(': ""') + 3 };
  return b.lines.length > 1 ? { ...b, row: 0, col: b.lines[0]!.length } : b;
}

/** Lines to show for a JSON-RPC response: a tool result's text content as text, anything else as JSON. */
export function responseLines(response: unknown, raw: boolean): string[] {
  const r = response as { result?: { content?: { type: string; text?: string }[]; isError?: boolean }; error?: unknown } | null;
  if (!raw && r?.result?.content) {
    const out = [r.result.isError ? "tool reported an error:" : "result:"];
    for (const c of r.result.content) out.push(...(c.type === "text" && c.text !== undefined ? c.text.split("\n") : [JSON.stringify(c)]));
    return out;
  }
  return JSON.stringify(response, null, 2).split("\n");
}

/**
 * Cuts lines so each fits one row: at most width - 1 terminal columns (a wide character counts
 * two, and is never split), so no row reaches the last column and the terminal never wraps one.
 */
export function wrapLines(lines: string[], width: number): string[] {
  const w = Math.max(8, width - 1);
  return lines.flatMap((l) => wrapColumns(clean(l), w));
}

/**
 * Sends an MCP request to a sandboxed server through `sandbox.mcp`: pick a tool from its
 * tools/list, edit the JSON arguments, send tools/call, read the result.
 */
export function McpRequest({ id, height, width, onBack }: { id: string; height: number; width: number; onBack(): void }) {
  const store = useStore();
  const [stage, setStage] = useState<Stage>({ kind: "loading" });
  const [tools, setTools] = useState<Tool[]>([]);
  const [sel, setSel] = useState(0);
  const [buffer, setBuffer] = useState<TextBuffer>(fromText("{}"));
  const [top, setTop] = useState(0);
  const seq = useRef(0);
  const body = height - useFrameLines(width);
  const size = { height, width };

  const request = async (method: string, params?: unknown) => {
    const message = { jsonrpc: "2.0" as const, id: `tui-${++seq.current}`, method, ...(params ? { params } : {}) };
    const { response } = await store.call("sandbox.mcp", { id, message, timeoutMs: MCP_TIMEOUT_MS }, MCP_TIMEOUT_MS + 5000);
    return response as { result?: unknown; error?: { message?: string } };
  };

  useEffect(() => {
    request("tools/list")
      .then((r) => {
        if (r.error) return setStage({ kind: "failed", error: `tools/list: ${r.error.message ?? JSON.stringify(r.error)}` });
        setTools(((r.result as { tools?: Tool[] })?.tools ?? []).filter((t) => typeof t?.name === "string"));
        setStage({ kind: "tools" });
      })
      .catch((e: unknown) => setStage({ kind: "failed", error: `tools/list: ${describeError(e)}` }));
  }, [id]);

  const send = (tool: Tool, edited: TextBuffer) => {
    let args: unknown;
    try {
      args = JSON.parse(toText(edited));
    } catch (e) {
      return setStage({ kind: "edit", tool, error: `not valid JSON: ${(e as Error).message}` });
    }
    if (typeof args !== "object" || args === null || Array.isArray(args)) return setStage({ kind: "edit", tool, error: "the arguments must be a JSON object" });
    setStage({ kind: "sending", tool });
    request("tools/call", { name: tool.name, arguments: args })
      .then((response) => {
        setTop(0);
        setStage({ kind: "result", tool, response, raw: false });
      })
      .catch((e: unknown) => setStage({ kind: "edit", tool, error: describeError(e) }));
  };

  const index = clampIndex(sel, tools.length);
  const resultLines = stage.kind === "result" ? wrapLines(responseLines(stage.response, stage.raw), width) : [];
  const visible = body - 1;
  useKeys(
    (input, key) => {
      if (stage.kind === "tools") {
        if (key.escape) onBack();
        else if (key.upArrow || input === "k") setSel(clampIndex(index - 1, tools.length));
        else if (key.downArrow || input === "j") setSel(clampIndex(index + 1, tools.length));
        else if (key.return && tools[index]) {
          setBuffer(argumentsBuffer(argumentsTemplate(tools[index]!.inputSchema)));
          setStage({ kind: "edit", tool: tools[index]!, error: null });
        }
      } else if (stage.kind === "result") {
        const max = Math.max(0, resultLines.length - visible);
        if (key.escape) setStage({ kind: "tools" });
        else if (input === "e") setStage({ kind: "edit", tool: stage.tool, error: null });
        else if (input === "r") setStage({ ...stage, raw: !stage.raw });
        else if (key.upArrow || input === "k") setTop(Math.max(0, top - 1));
        else if (key.downArrow || input === "j") setTop(Math.min(max, top + 1));
        else if (key.pageUp) setTop(Math.max(0, top - visible));
        else if (key.pageDown || input === " ") setTop(Math.min(max, top + visible));
      } else if (stage.kind === "failed" || stage.kind === "loading") {
        if (key.escape) onBack();
      }
    },
    { isActive: stage.kind !== "edit" && stage.kind !== "sending" },
  );

  const title = (text: string) => (
    <Text bold wrap="truncate-end">
      {fit(`MCP request to ${id}: ${text}`, width)}
    </Text>
  );
  if (stage.kind === "edit" || stage.kind === "sending") {
    const tool = stage.tool;
    const error = stage.kind === "edit" ? stage.error : null;
    // Why the request was refused must be read whole: it wraps (up to 3 rows; the editor gives way).
    const message = stage.kind === "sending" ? ["sending..."] : error ? firstRows(wrapWords(error, width), 3, width) : [" "];
    return (
      <ViewFrame {...size} help={EDITOR_KEYS} modal>
        {title(`tools/call ${tool.name} - arguments (JSON)`)}
        <JsonEditor buffer={buffer} onChange={setBuffer} onSubmit={(b) => send(tool, b)} onCancel={() => setStage({ kind: "tools" })} height={body - 2 - message.length} width={width} active={stage.kind === "edit"} />
        <Text dimColor wrap="truncate-end">
          {clean(tool.description ?? "") || " "}
        </Text>
        {message.map((row, i) => (
          <Text key={i} color={error ? "red" : "yellow"} wrap="truncate-end">
            {row}
          </Text>
        ))}
      </ViewFrame>
    );
  }
  if (stage.kind === "result") {
    return (
      <ViewFrame {...size} modal help={resultKeys(stage.raw)}>
        {title(`result of ${stage.tool.name}`)}
        <TextRows lines={resultLines} top={top} height={visible} />
      </ViewFrame>
    );
  }
  if (stage.kind === "tools") {
    return (
      <ViewFrame {...size} modal help={TOOLS_KEYS}>
        {title(`pick a tool (${tools.length} from tools/list)`)}
        <Table
          columns={[
            { title: "TOOL", width: 24, value: (t: Tool) => t.name },
            { title: "DESCRIPTION", width: 0, grow: true, value: (t: Tool) => (t.description ?? "").split("\n")[0]! },
          ]}
          rows={tools}
          selected={index}
          height={body - 1}
          width={width}
          empty="The server lists no tools."
        />
      </ViewFrame>
    );
  }
  return (
    <ViewFrame {...size} modal help={[["esc", "back"]]}>
      {title(stage.kind === "loading" ? "asking for tools/list..." : "failed")}
      {stage.kind === "failed" ? (
        <Text color="red" wrap="wrap">
          {stage.error}
        </Text>
      ) : null}
    </ViewFrame>
  );
}
