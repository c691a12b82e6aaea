import { EventEmitter } from "node:events";
import type { ReactElement } from "react";
import { render } from "ink";
import { stripAnsi } from "../helpers/pty-app.js";

/**
 * Renders a component once, as ink draws it on a terminal `columns` wide, and returns the frame as
 * text (colours and inverse dropped), one string per row. For components that need no keyboard.
 */
export function renderFrame(node: ReactElement, columns: number, rows = 24): string[] {
  const frames: string[] = [];
  const stdout = Object.assign(new EventEmitter(), {
    columns,
    rows,
    isTTY: true,
    write: (s: string) => frames.push(s) > 0,
  });
  const app = render(node, { stdout: stdout as unknown as NodeJS.WriteStream, debug: true, patchConsole: false, exitOnCtrlC: false });
  const frame = frames.filter((f) => !/^\x1b\[\?25[lh]$/.test(f)).at(-1) ?? ""; // not the cursor hiding
  app.unmount();
  return stripAnsi(frame).split("\n");
}
