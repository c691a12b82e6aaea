import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { SandboxIdentity } from "./sandbox-identity.js";

/**
 * Where a sandbox's run dir (its channel socket, tunnel sockets, config.json, passwd) lives, and
 * who may reach it. Each mcpw process keeps its run dirs in one parent of its own,
 * `<tmpdir>/mcpw-run-XXXXXX/`, each under a 128-bit random name. Only the sandbox's uid needs to
 * reach them:
 *  - mcpw not root: the sandbox is mcpw's own uid, so the parent, the run dirs and everything in
 *    them are for that uid alone (0700, 0600);
 *  - mcpw root: the sandbox runs as an unprivileged uid with gid 65534 (sandbox-identity.ts), so
 *    they are root's with that group: 0710 / 0640 / 0660 sockets. Other local users can neither
 *    list the parent nor pass through it, whatever they learn of a run dir's name (bwrap's argv in
 *    /proc/<pid>/cmdline shows it).
 * Run dirs used to be `/tmp/mcpw-run-XXXXXX` (0711, found by listing /tmp) with a 0666
 * channel.sock and a 0644 config.json: every local user could read the config and connect, and
 * each refused connection wrote an audit line (67,000 lines in 3 s).
 */
export interface RunDirAccess {
  /** Group given the run dir and its files (the sandbox's gid), or null: mcpw's own uid only. */
  gid: number | null;
  dirMode: number;
  fileMode: number;
  socketMode: number;
}

export function runDirAccess(identity: SandboxIdentity | null): RunDirAccess {
  return identity
    ? { gid: identity.gid, dirMode: 0o710, fileMode: 0o640, socketMode: 0o660 }
    : { gid: null, dirMode: 0o700, fileMode: 0o600, socketMode: 0o600 };
}

/** Sets `path`'s mode, and its group when the access names one (the owner stays mcpw). */
export function grant(path: string, mode: number, access: RunDirAccess): void {
  if (access.gid !== null) chownSync(path, process.getuid?.() ?? 0, access.gid);
  chmodSync(path, mode);
}

/** This process's parent of run dirs, per access (null: not made yet, or removed when it emptied). */
const parents = new Map<string, string>();

function parentFor(access: RunDirAccess): string {
  const key = `${access.gid}:${access.dirMode}`;
  const known = parents.get(key);
  if (known !== undefined) {
    try {
      const st = lstatSync(known);
      if (st.isDirectory() && st.uid === (process.getuid?.() ?? st.uid)) return known;
    } catch {
      // removed (by us when it emptied, or by a tmp cleaner): make another
    }
    parents.delete(key);
  }
  // mkdtemp: a new directory, 0700, under a name no one could have made first.
  const dir = mkdtempSync(join(tmpdir(), "mcpw-run-"));
  grant(dir, access.dirMode, access);
  parents.set(key, dir);
  return dir;
}

/** Makes a run dir for one sandbox. */
export function makeRunDir(access: RunDirAccess): string {
  const dir = join(parentFor(access), randomBytes(16).toString("hex"));
  mkdirSync(dir, { mode: 0o700 });
  grant(dir, access.dirMode, access);
  return dir;
}

/** Removes a run dir, and its parent if that is now empty (the next sandbox makes a new one). */
export function removeRunDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  try {
    rmdirSync(dirname(dir));
  } catch {
    // other sandboxes of this process still have run dirs there
  }
}
