import { useState } from "react";
import { Box, Text } from "ink";
import { useViewInput } from "./hooks.js";
import { describeError } from "../command.js";
import { clean, columns, firstRows, sliceColumns, wrapWords } from "./format.js";
import { useFrameLines, ViewFrame } from "./view-frame.js";

export interface FieldSpec {
  label: string;
  initial?: string;
  /** Shown after the value, dimmed. */
  hint?: string;
}

export const FORM_KEYS: [string, string][] = [
  ["enter", "next/submit"],
  ["tab", "next field"],
  ["esc", "cancel"],
  ["^U", "clear field"],
];

/**
 * A few one-line text fields. Typing appends to the focused field (pasted text too), Backspace
 * deletes, Tab/Down and Shift-Tab/Up move between fields, Enter moves on and submits from the last
 * field, Esc cancels. In pasted text a line break counts as Enter and a tab moves to the next field.
 */
export function Form({ title, fields, error, onSubmit, onCancel, active, width, height }: {
  title: string;
  fields: FieldSpec[];
  error: string | null;
  onSubmit(values: string[]): void;
  onCancel(): void;
  active: boolean;
  width: number;
  /** Rows the form may take: the error under the fields wraps into what is left. */
  height: number;
}) {
  const [values, setValues] = useState(() => fields.map((f) => f.initial ?? ""));
  const [focus, setFocus] = useState(0);
  useViewInput(
    (input, key) => {
      if (key.escape) return onCancel();
      if (key.tab || key.downArrow || key.upArrow) {
        const step = key.upArrow || (key.tab && key.shift) ? fields.length - 1 : 1;
        return setFocus((focus + step) % fields.length);
      }
      let current = [...values];
      let at = focus;
      const enter = () => {
        if (at < fields.length - 1) at++;
        else onSubmit(current);
      };
      if (key.return) enter();
      else if (key.backspace || key.delete) current[at] = current[at]!.slice(0, -1);
      else if (key.ctrl && input === "u") current[at] = "";
      else if (!key.ctrl && !key.meta && input && !input.includes("\x1b")) {
        // Typed text, or several keys in one read (a paste, fast typing over SSH): taken in turn.
        for (const ch of input.replace(/\r\n?/g, "\n")) {
          if (ch === "\n") enter();
          else if (ch === "\t") at = (at + 1) % fields.length;
          else if (ch === "\x7f" || ch === "\b") current[at] = current[at]!.slice(0, -1);
          else if (ch === "\x15") current[at] = "";
          else if (ch >= " ") current[at] = current[at] + ch;
        }
      }
      setValues(current);
      setFocus(at);
    },
    { isActive: active },
  );
  const labelWidth = Math.max(...fields.map((f) => f.label.length));
  // The focused value shows its end (where typing goes) when it is longer than the line.
  const room = Math.max(8, width - labelWidth - 6);
  const shown = (v: string, focused: boolean) => {
    const w = columns(clean(v));
    return focused && w > room ? `…${sliceColumns(v, w - (room - 1), w)}` : clean(v);
  };
  return (
    <Box flexDirection="column" width={width}>
      <Text bold>{title}</Text>
      <Text> </Text>
      {fields.map((f, i) => (
        <Text key={f.label} wrap="truncate-end">
          <Text bold={i === focus}>{`${i === focus ? ">" : " "} ${f.label.padEnd(labelWidth)} : `}</Text>
          {shown(values[i]!, i === focus)}
          {i === focus ? <Text inverse> </Text> : " "}
          {f.hint ? <Text dimColor>{`  ${f.hint}`}</Text> : null}
        </Text>
      ))}
      <Text> </Text>
      {error
        ? firstRows(wrapWords(error, width), Math.max(1, height - fields.length - 3), width).map((row, i) => (
            <Text key={i} color="red" wrap="truncate-end">
              {row}
            </Text>
          ))
        : null}
    </Box>
  );
}

/** A form on a page of its own. `submit` may throw: its message is shown under the fields, wrapped. */
export function FormPage({ height, width, title, fields, submit, onCancel }: {
  height: number;
  width: number;
  title: string;
  fields: FieldSpec[];
  submit(values: string[]): Promise<void>;
  onCancel(): void;
}) {
  const [error, setError] = useState<string | null>(null);
  const body = height - useFrameLines(width);
  return (
    <ViewFrame height={height} width={width} help={FORM_KEYS} modal>
      <Form title={title} fields={fields} error={error} onSubmit={(v) => void submit(v).catch((e: unknown) => setError(describeError(e)))} onCancel={onCancel} active width={width} height={body} />
    </ViewFrame>
  );
}
