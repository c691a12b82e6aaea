/** Largest text or binary frame accepted on any link. (No imports: in-sandbox code uses it too.) */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;
