import type { Op, OpName, OpResult } from "../protocol/ops.js";

/** The parsed params of one operation, e.g. `OpOf<"fs.read">`. */
export type OpOf<N extends OpName> = Extract<Op, { op: N }>;

/** A function that carries out one operation. */
export type OpHandler<N extends OpName> = (op: OpOf<N>) => Promise<OpResult<N>>;
