/**
 * What the in-sandbox interceptors (Node preload, Python sitecustomize) are told, as JSON in
 * /run/mcpw/config.json. Plain data: the interceptors load no schema library.
 */
export interface InterceptorConfig {
  sandbox: string;
  /** True under bubblewrap; false in best-effort mode, where /mount is mapped onto `workspace`. */
  isolated: boolean;
  /** Host path of the workspace (used for /mount mapping only when not isolated). */
  workspace: string;
  /** Directory holding channel.sock, as seen from inside. */
  channelDir: string;
  /** Roots the sandbox sees natively (bound by bubblewrap): reads there never go to the bridge. */
  view: string[];
  /** Host paths served by the bridge, read-only / read-write. */
  readonly: string[];
  writable: string[];
  exec: { allow: string[]; viaBridge: string[] };
  /** Loopback hosts the network policy names: connections to them go to the host, through the bridge. */
  hostLoopback: string[];
  /** Preload for Node processes started inside, so children are intercepted too. */
  nodeImport: string;
  /** Port of the in-sandbox HTTP/SOCKS proxy on 127.0.0.1, if one runs. */
  proxyPort: number | null;
}
