import { chmodSync, chownSync, closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { McpwError } from "../protocol/mcpw-error.js";
import { freeRunGroup } from "./run-dir.js";

/**
 * Root is no exception: a sandbox started by root must hold no host privilege, and a user namespace
 * alone maps the sandbox to host uid 0. So when mcpw runs as root, bubblewrap itself runs as an
 * unprivileged uid — the workspace's owner when that is not root, else nobody (65534) — and the
 * sandbox is that uid on the host. Its gid is always nogroup (65534): the workspace's group could
 * be a privileged one (disk, shadow, docker), and the sandbox would have held it on the host.
 *
 * nogroup is shared (daemons running as nobody:nogroup, every other mcpw sandbox), so the run dir
 * is not given to it: each sandbox also holds one supplementary group of its own, runGroup, a gid
 * no host user or group has (run-dir.ts freeRunGroup), and its run dir belongs to that group.
 * bubblewrap, run unprivileged with --unshare-user, writes "deny" to setgroups and never calls
 * setgroups(2), so the group is kept inside the sandbox (unmapped there: `id` shows it as 65534).
 */
export interface SandboxIdentity {
  uid: number;
  gid: number;
  /** Supplementary gid of this sandbox alone: the group of its run dir. */
  runGroup: number;
}

const NOBODY = 65534;

/** Null when mcpw is not root (the sandbox then is mcpw's own unprivileged uid). */
export function sandboxIdentity(workspace: string): SandboxIdentity | null {
  if (process.getuid?.() !== 0) return null;
  const st = statSync(workspace);
  return { uid: st.uid !== 0 ? st.uid : NOBODY, gid: NOBODY, runGroup: freeRunGroup() };
}

/** The setpriv argv that drops root to the sandbox's identity (no group of root's is kept). */
export function dropTo(id: SandboxIdentity): string[] {
  return ["setpriv", "--reuid", String(id.uid), "--regid", String(id.gid), "--groups", String(id.runGroup)];
}

/**
 * The workspace must be writable by the sandbox's uid. An empty root-owned workspace (one mcpw just
 * made, or an empty directory given to it) is handed to that uid; a non-empty one is not changed
 * behind the user's back.
 */
export function prepareWorkspace(workspace: string, id: SandboxIdentity): void {
  const st = statSync(workspace);
  if (st.uid === id.uid) return;
  if (st.uid === 0 && readdirSync(workspace).length === 0) {
    chownSync(workspace, id.uid, id.gid);
    return;
  }
  if ((st.mode & 0o002) !== 0) return;
  throw new McpwError(
    "bad_params",
    `workspace ${workspace} is not writable by uid ${id.uid}, which the sandbox runs as (as root, mcpw runs sandboxes as an unprivileged uid): chown -R ${id.uid}:${id.gid} ${workspace}, or use an empty or unprivileged user's directory`,
    { field: "workspace" },
  );
}

/** Can `id` reach `path` (search permission on every directory above it)? */
export function reachableBy(path: string, id: SandboxIdentity): boolean {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const st = statSync(dir);
    const bit = st.uid === id.uid ? 0o100 : st.gid === id.gid || st.gid === id.runGroup ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

/**
 * Bind sources the sandbox's uid cannot reach (a runtime under /root, a workspace in a 0700
 * directory) are bind-mounted onto reachable stand-ins inside a private mount namespace made just for this start
 * (`unshare --mount`), so nothing changes on the host. Returns the launch prefix and each source's
 * stand-in.
 */
export function stagingFor(sources: { path: string; writable: boolean }[], id: SandboxIdentity): { prefix: string[]; replace: Map<string, string>; dir: string | null } {
  const hidden = sources.filter((s) => !reachableBy(s.path, id));
  const drop = dropTo(id);
  if (hidden.length === 0) return { prefix: drop, replace: new Map(), dir: null };
  const dir = mkdtempSync(join(tmpdir(), "mcpw-stage-"));
  chmodSync(dir, 0o755);
  const replace = new Map<string, string>();
  const pairs: string[] = [];
  hidden.forEach((src, i) => {
    const stand = join(dir, String(i));
    if (statSync(src.path).isDirectory()) mkdirSync(stand);
    else closeSync(openSync(stand, "w"));
    replace.set(src.path, stand);
    pairs.push(src.writable ? "rw" : "ro", src.path, stand);
  });
  const mountAll = 'set -e; while [ "$1" != "--" ]; do mount --bind -o "$1" "$2" "$3"; shift 3; done; shift; exec "$@"';
  return { prefix: ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", mountAll, "sh", ...pairs, "--", ...drop], replace, dir };
}
