/**
 * The channel between a sandbox and its supervisor: unix sockets in the sandbox's run dir, bound
 * into the sandbox at /run/mcpw. No TCP port on the host is involved, and the sandbox has no other
 * way out. Only the sandbox's own processes may use them: the supervisor checks each connection's
 * peer (SO_PEERCRED, its pid namespace; wrapper/channel-peer.ts) before it reads from it.
 *
 *   channel.sock      RPC (length-prefixed frames, see link.ts SocketLink): sandbox.op, tunnel.open;
 *                     a connection starts with the byte 'R'
 *   t-<ticket>.sock   one tunnelled TCP connection: tunnel.open creates it, the first connection to
 *                     it is joined to the bridge's connection, then it is removed. Only the
 *                     program's bytes travel on it.
 */
export const CHANNEL_SOCKET = "/run/mcpw/channel.sock";
/** Written by the supervisor before the sandbox starts: what the in-sandbox interceptors enforce. */
export const CHANNEL_CONFIG = "/run/mcpw/config.json";
export const MODE_RPC = 0x52; // 'R'
export const TICKET_CHARS = 32;

export function tunnelSocketName(ticket: string): string {
  return `t-${ticket}.sock`;
}
