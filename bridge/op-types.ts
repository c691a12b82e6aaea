import type { Op, OpName } from "../protocol/ops.js";

/** The parsed params of one operation, e.g. `OpOf<"fs.read">`. */
export type OpOf<N extends OpName> = Extract<Op, { op: N }>;
