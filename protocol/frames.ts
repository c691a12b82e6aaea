import { z } from "zod";
import { ErrorBody, McpwError, zodToMcpwError } from "./errors.js";

/**
 * The envelope every text frame uses, on every link (client ⇄ server, bridge ⇄ server,
 * sandbox ⇄ supervisor). Requests carry an id that their response echoes.
 * Byte streams (tunnelled TCP) travel in binary frames, see streams.ts.
 */
export const PROTOCOL_VERSION = 1 as const;

export { MAX_FRAME_BYTES } from "./constants.js";

export const FrameId = z.string().min(1).max(64);
export const MethodName = z.string().min(1).max(64).regex(/^[a-z][a-zA-Z0-9_.]*$/, "method names are dotted lower-case words");

export const RequestFrame = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    kind: z.literal("req"),
    id: FrameId,
    method: MethodName,
    params: z.unknown().optional(),
  })
  .strict();
export type RequestFrame = z.infer<typeof RequestFrame>;

export const ResponseFrame = z.union([
  z.object({ v: z.literal(PROTOCOL_VERSION), kind: z.literal("res"), id: FrameId, ok: z.literal(true), result: z.unknown() }).strict(),
  z.object({ v: z.literal(PROTOCOL_VERSION), kind: z.literal("res"), id: FrameId.nullable(), ok: z.literal(false), error: ErrorBody }).strict(),
]);
export type ResponseFrame = z.infer<typeof ResponseFrame>;

export const EventFrame = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    kind: z.literal("event"),
    event: MethodName,
    data: z.unknown().optional(),
  })
  .strict();
export type EventFrame = z.infer<typeof EventFrame>;

const FrameKind = z.object({ kind: z.enum(["req", "res", "event"]) }).loose();

export type Frame = RequestFrame | ResponseFrame | EventFrame;

/**
 * Parses one text frame. On failure returns the error together with whatever request id could be
 * recovered, so the answer can still be correlated by the sender.
 */
export function parseFrame(text: string): { frame: Frame } | { error: McpwError; id: string | null } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { error: new McpwError("bad_frame", `frame is not valid JSON: ${(e as Error).message}`), id: null };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { error: new McpwError("bad_frame", "frame must be a JSON object"), id: null };
  }
  const rec = raw as Record<string, unknown>;
  const id = typeof rec.id === "string" && FrameId.safeParse(rec.id).success ? rec.id : null;
  if (rec.v !== PROTOCOL_VERSION) {
    const got = rec.v === undefined ? "missing" : JSON.stringify(rec.v);
    return {
      error: new McpwError("unsupported_version", `v: protocol version ${got} is not supported (this side speaks ${PROTOCOL_VERSION})`, { field: "v" }),
      id,
    };
  }
  const kind = FrameKind.safeParse(raw);
  if (!kind.success) return { error: zodToMcpwError(kind.error, "bad_frame"), id };
  const schema = kind.data.kind === "req" ? RequestFrame : kind.data.kind === "res" ? ResponseFrame : EventFrame;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return { error: zodToMcpwError(parsed.error, "bad_frame"), id };
  return { frame: parsed.data as Frame };
}

export function requestFrame(id: string, method: string, params: unknown): RequestFrame {
  return { v: PROTOCOL_VERSION, kind: "req", id, method, params };
}
export function okFrame(id: string, result: unknown): ResponseFrame {
  return { v: PROTOCOL_VERSION, kind: "res", id, ok: true, result: result ?? null };
}
export function errorFrame(id: string | null, error: ErrorBody): ResponseFrame {
  return { v: PROTOCOL_VERSION, kind: "res", id, ok: false, error };
}
export function eventFrame(event: string, data: unknown): EventFrame {
  return { v: PROTOCOL_VERSION, kind: "event", event, data };
}
