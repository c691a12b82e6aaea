/**
 * The channel between a sandbox and its supervisor: one unix socket, bound into the sandbox at
 * CHANNEL_SOCKET. The first byte of each connection picks what it carries:
 *
 *   'R'  an RPC link (length-prefixed frames, see link.ts SocketLink): sandbox.op, tunnel.open
 *   'T'  a tunnel: 32 hex characters of a ticket from tunnel.open, then raw TCP bytes both ways
 *
 * No TCP port on the host is involved, and the sandbox has no other way out.
 */
export const CHANNEL_SOCKET = "/run/mcpw/channel.sock";
/** Written by the supervisor before the sandbox starts: what the in-sandbox interceptors enforce. */
export const CHANNEL_CONFIG = "/run/mcpw/config.json";
export const MODE_RPC = 0x52; // 'R'
export const MODE_TUNNEL = 0x54; // 'T'
export const TICKET_CHARS = 32;
