import { existsSync, lstatSync, readlinkSync } from "node:fs";
import { sep } from "node:path";

/** Where things appear inside every sandbox. */
export const SANDBOX_PATHS = {
  /** The workspace, read-write, and the working directory. */
  mount: "/mount",
  /** The supervisor channel (unix socket) and per-sandbox files. */
  run: "/run/mcpw",
  /** mcpw itself, read-only: dist/ (sandbox-init, Node preload, Python sitecustomize, proxy) and node_modules/. */
  lib: "/opt/mcpw",
} as const;

/** The directories of the sandbox's PATH (launcher.ts sandboxEnv), where bare command names are found. */
export const SANDBOX_PATH = ["/usr/local/bin", "/usr/bin", "/bin"];

export interface SandboxLayout {
  /** Host directory bound read-write at /mount. */
  workspace: string;
  /** Host paths bound read-only at the same path (runtime, the program's package, `--ro`). */
  readonlyPaths: string[];
  /** Directories inside readonlyPaths covered by an empty read-only tmpfs (see command-resolution.ts exposure). */
  hiddenPaths?: string[];
  /** Host directory bound at /run/mcpw (holds the channel socket). */
  runDir?: string;
  /** mcpw's own dist/ and node_modules/, bound read-only under /opt/mcpw. */
  lib?: { dist: string; nodeModules: string };
  /** Files generated for the sandbox, bound read-only: destination → host file. */
  files?: Record<string, string>;
  hostname: string;
  /** The whole environment inside; nothing is inherited from the process that starts bubblewrap. */
  env: Record<string, string>;
  /** Sources to bind from a stand-in (see sandbox-identity.ts): host path → stand-in. */
  staged?: Map<string, string>;
  /** uid/gid the sandbox has inside (default: bubblewrap's own). */
  uid?: number;
  gid?: number;
}

/** Top-level directories that merged-/usr systems make symlinks into /usr. */
const USR_LINKS = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/**
 * The few files under /etc that programs need to run (TLS roots, name service switch, dynamic
 * linker cache, time zone). Not /etc/passwd or /etc/shadow: the sandbox gets its own passwd.
 */
const ETC_FILES = [
  "/etc/ssl",
  "/etc/ca-certificates",
  "/etc/pki",
  "/etc/crypto-policies",
  "/etc/nsswitch.conf",
  "/etc/hosts",
  "/etc/host.conf",
  "/etc/gai.conf",
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/localtime",
  "/etc/alternatives",
  "/etc/mime.types",
  "/etc/os-release",
];

/**
 * The bubblewrap argv for one sandbox. Each line is one isolation decision, so the security story
 * can be read straight off this function:
 */
export function bwrapArgs(layout: SandboxLayout, argv: string[]): string[] {
  const a: string[] = [];
  // New user, mount, pid, ipc, uts, cgroup and network namespaces: the network namespace holds only
  // a loopback interface, so nothing on the host (or beyond) is reachable except through the channel.
  a.push("--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try");
  // The sandbox dies with its supervisor, runs in a new session (no TIOCSTI into our terminal), and
  // keeps no capabilities inside its user namespace.
  a.push("--die-with-parent", "--new-session", "--cap-drop", "ALL");
  a.push("--hostname", layout.hostname);
  // The environment is exactly the one given: whatever the starting process carries (NODE_OPTIONS,
  // LD_PRELOAD, secrets) stays outside.
  a.push("--clearenv");
  for (const [k, v] of Object.entries(layout.env)) a.push("--setenv", k, v);
  // A new, empty root: only what is bound below exists. /usr and the runtime read-only.
  a.push("--ro-bind", "/usr", "/usr");
  for (const p of USR_LINKS) {
    if (!existsSync(p)) continue;
    const st = lstatSync(p);
    if (st.isSymbolicLink()) a.push("--symlink", readlinkSync(p), p);
    else a.push("--ro-bind", p, p);
  }
  for (const p of etcFiles()) a.push("--ro-bind", p, p);
  // A source the sandbox's uid cannot reach comes from its stand-in (see sandbox-identity.ts).
  const src = (p: string) => {
    for (const [from, to] of layout.staged ?? []) if (p === from || p.startsWith(`${from}/`)) return to + p.slice(from.length);
    return p;
  };
  for (const [dest, file] of Object.entries(layout.files ?? {})) a.push("--ro-bind", src(file), dest);
  // A fresh /proc for the new pid namespace (bubblewrap keeps /proc/sys and friends read-only), a
  // minimal /dev (null, zero, full, random, urandom, tty, pts, shm), and /tmp as a private tmpfs.
  a.push("--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp");
  for (const p of minimalCover(layout.readonlyPaths)) a.push("--ro-bind", src(p), p);
  // What an exposed package tree must not show (other sandboxes' workspaces, folders other users
  // share): an empty tmpfs over each, read-only.
  for (const p of layout.hiddenPaths ?? []) a.push("--tmpfs", p, "--remount-ro", p);
  if (layout.lib) a.push("--ro-bind", src(layout.lib.dist), `${SANDBOX_PATHS.lib}/dist`, "--ro-bind", src(layout.lib.nodeModules), `${SANDBOX_PATHS.lib}/node_modules`);
  // The run dir (the channel's sockets), read-only: the sandbox connects to its sockets and cannot
  // change the dir or their modes (EROFS), whoever owns them.
  if (layout.runDir) a.push("--ro-bind", src(layout.runDir), SANDBOX_PATHS.run);
  // The workspace, read-write, as /mount and the working directory.
  a.push("--bind", src(layout.workspace), SANDBOX_PATHS.mount, "--chdir", SANDBOX_PATHS.mount);
  a.push("--", ...argv);
  return a;
}

/** The /etc entries bound into every sandbox (those that exist here). */
export function etcFiles(): string[] {
  return ETC_FILES.filter((p) => existsSync(p));
}

/**
 * Every path the sandbox sees natively (what bwrapArgs binds or creates). The interceptors serve
 * these themselves and send only policy-listed host paths to the bridge.
 */
export function sandboxView(layout: Omit<SandboxLayout, "env">): string[] {
  const view: string[] = ["/usr", "/proc", "/dev", "/tmp", SANDBOX_PATHS.mount];
  for (const p of USR_LINKS) if (existsSync(p)) view.push(p);
  view.push(...etcFiles());
  view.push(...Object.keys(layout.files ?? {}), ...minimalCover(layout.readonlyPaths));
  if (layout.lib) view.push(SANDBOX_PATHS.lib);
  if (layout.runDir) view.push(SANDBOX_PATHS.run);
  return view;
}

/**
 * Drops paths covered by another path in the list or by `covered` (a bind covers its subtree; /usr
 * is bound separately).
 */
export function minimalCover(paths: string[], covered: string[] = ["/usr"]): string[] {
  const sorted = [...new Set(paths)].sort((x, y) => x.length - y.length);
  const kept: string[] = [];
  for (const p of sorted) {
    const isCovered = [...covered, ...kept].some((k) => p === k || p.startsWith(k.endsWith(sep) ? k : k + sep));
    if (!isCovered) kept.push(p);
  }
  return kept;
}
