import { randomBytes, randomInt } from "node:crypto";
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { SandboxIdentity } from "./sandbox-identity.js";

/**
 * Where a sandbox's run dir (its channel socket, tunnel sockets, config.json, passwd) lives, and
 * who may reach it. Run dirs live in parents `<tmpdir>/mcpw-run-<pid>-XXXXXX/` (pid: the mcpw
 * process that made it), each under a 128-bit random name. Only the sandbox needs to reach them:
 *  - mcpw not root: the sandbox is mcpw's own uid, so the parent, the run dirs and everything in
 *    them are for that uid alone (0700, 0600); one parent holds all of this process's run dirs;
 *  - mcpw root: the sandbox runs as an unprivileged uid with gid 65534 and one supplementary group
 *    of its own (sandbox-identity.ts runGroup), so its parent and run dir are root's with that
 *    group: 0710 / 0640 / 0660 sockets, one parent per sandbox. Nothing else on the host holds
 *    that group: other local users, daemons running as nobody:nogroup and other sandboxes can
 *    neither list the parent nor pass through it, whatever they learn of a run dir's name (bwrap's
 *    argv in /proc/<pid>/cmdline shows it).
 * Run dirs used to be `/tmp/mcpw-run-XXXXXX` (0711, found by listing /tmp) with a 0666
 * channel.sock and a 0644 config.json: every local user could read the config and connect, and
 * each refused connection wrote an audit line (67,000 lines in 3 s). Then they were given group
 * 65534 itself, which every process running as nogroup shares.
 */
export interface RunDirAccess {
  /** Group given the run dir and its files (the sandbox's own runGroup), or null: mcpw's own uid only. */
  gid: number | null;
  dirMode: number;
  fileMode: number;
  socketMode: number;
}

export function runDirAccess(identity: SandboxIdentity | null): RunDirAccess {
  return identity
    ? { gid: identity.runGroup, dirMode: 0o710, fileMode: 0o640, socketMode: 0o660 }
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
  removeStaleParents(tmpdir());
  // mkdtemp: a new directory, 0700, under a name no one could have made first.
  const dir = mkdtempSync(join(tmpdir(), `mcpw-run-${process.pid}-`));
  grant(dir, access.dirMode, access);
  parents.set(key, dir);
  return dir;
}

/** Makes a run dir for one sandbox. */
export function makeRunDir(access: RunDirAccess): string {
  // 128 random bits in 22 characters (base64url, not hex): the tunnel sockets in it (t-<ticket>.sock)
  // must stay under the 107 bytes of a unix socket path, with room for a longer TMPDIR.
  const dir = join(parentFor(access), randomBytes(16).toString("base64url"));
  mkdirSync(dir, { mode: 0o700 });
  grant(dir, access.dirMode, access);
  if (access.gid !== null) runGroups.set(dir, access.gid);
  return dir;
}

/** Removes a run dir, and its parent if that is now empty (the next sandbox makes a new one). */
export function removeRunDir(dir: string): void {
  runGroups.delete(dir);
  rmSync(dir, { recursive: true, force: true });
  try {
    rmdirSync(dirname(dir));
    for (const [key, parent] of parents) if (parent === dirname(dir)) parents.delete(key);
  } catch {
    // other sandboxes of this process still have run dirs there
  }
}

/** The run groups of this process's live run dirs. */
const runGroups = new Map<string, number>();

/**
 * Sandbox run groups are drawn from [0x70000000, 0x7ffe0000): above the ids given to users and
 * groups (useradd, LDAP and systemd's dynamic and container ranges stay below 0x70000000), below
 * systemd's transient user-namespace and "foreign" ranges (0x7ffe0000 up), and below 2^31, so no
 * tool that reads ids as signed numbers sees a negative one.
 */
export const RUN_GROUP_RANGE = { min: 0x70000000, max: 0x7ffe0000 } as const;

/**
 * A gid for a new sandbox's run dir that no one else holds: in RUN_GROUP_RANGE, not a group of
 * /etc/group, not the group of one of this process's run dirs nor of another mcpw's run-dir
 * parent in the temp dir. Called and used within one synchronous prepare (sandbox-prepare.ts),
 * so two sandboxes of this process cannot be given the same one.
 */
export function freeRunGroup(): number {
  const taken = new Set<number>(runGroups.values());
  try {
    for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
      const gid = Number(line.split(":")[2]);
      if (line.trim() && Number.isInteger(gid)) taken.add(gid);
    }
  } catch {
    // no /etc/group: nothing to skip there
  }
  for (const name of safeReaddir(tmpdir())) {
    if (!name.startsWith("mcpw-run-")) continue;
    try {
      taken.add(lstatSync(join(tmpdir(), name)).gid);
    } catch {
      // gone meanwhile
    }
  }
  for (;;) {
    const gid = randomInt(RUN_GROUP_RANGE.min, RUN_GROUP_RANGE.max);
    if (!taken.has(gid)) return gid;
  }
}

/**
 * Removes the run-dir parents in `dir` left by mcpw processes that were killed outright (SIGKILL:
 * no cleanup ran). A parent is stale when its name carries a pid that no process has any more
 * (kill(pid, 0) fails with ESRCH) and it is a real directory (lstat: not a symlink) owned by our
 * uid. The temp dir is sticky, so no other user can put anything in its place before it is
 * removed, and nothing but our uid (and, under root, the sandbox's read-only group) can write in
 * it. Parents of the old form (`mcpw-run-XXXXXX`, no pid) are left alone: their makers cannot be
 * told. A parent whose pid is this process's own is ours only if this process made it. Pids are
 * those of our pid namespace: two mcpw of one uid in different pid namespaces sharing one temp
 * dir would take each other's for dead (give each its own TMPDIR).
 */
export function removeStaleParents(dir: string): string[] {
  const uid = process.getuid?.();
  const mine = new Set(parents.values());
  const removed: string[] = [];
  for (const name of safeReaddir(dir)) {
    const m = /^mcpw-run-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    if (mine.has(path)) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && alive(pid)) continue;
    try {
      const st = lstatSync(path);
      if (!st.isDirectory() || st.isSymbolicLink() || (uid !== undefined && st.uid !== uid)) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  return removed;
}

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
