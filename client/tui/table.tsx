import { Box, Text } from "ink";
import { fit } from "./format.js";

export interface Column<T> {
  title: string;
  /** Fixed width; the column with `grow` takes what the others leave. */
  width: number;
  grow?: boolean;
  align?: "left" | "right";
  value(row: T): string;
  color?(row: T): string | undefined;
}

/**
 * A table that always fits its box: a header, then as many rows as `height` allows, scrolled so
 * that the selected row (marked '>' and shown inverse) stays in view. Every cell is cut to its
 * column, so no row ever wraps.
 */
export function Table<T>({ columns, rows, selected, height, width, empty }: { columns: Column<T>[]; rows: T[]; selected: number; height: number; width: number; empty: string }) {
  const fixed = columns.reduce((n, c) => n + (c.grow ? 0 : c.width + 1), 2);
  const widths = columns.map((c) => (c.grow ? Math.max(4, width - fixed - 1) : c.width));
  const visible = Math.max(0, height - 1);
  const offset = Math.max(0, Math.min(rows.length - visible, selected - Math.floor(visible / 2)));
  const shown = rows.slice(offset, offset + visible);
  return (
    <Box flexDirection="column" height={height} width={width}>
      <Text bold wrap="truncate-end">
        {"  "}
        {columns.map((c, i) => fit(c.title, widths[i]!, c.align)).join(" ")}
      </Text>
      {rows.length === 0 ? <Text dimColor>{fit(`  ${empty}`, width)}</Text> : null}
      {shown.map((row, i) => {
        const isSel = offset + i === selected;
        return (
          <Text key={offset + i} inverse={isSel} wrap="truncate-end">
            {isSel ? "> " : "  "}
            {columns.map((c, j) => (
              <Text key={j} color={c.color?.(row)}>
                {fit(c.value(row), widths[j]!, c.align)}
                {j < columns.length - 1 ? " " : ""}
              </Text>
            ))}
          </Text>
        );
      })}
    </Box>
  );
}
