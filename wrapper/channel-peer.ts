import { readlinkSync } from "node:fs";
import type { Socket } from "node:net";
import { errnoName, libc } from "../native/libc.js";
import { stateOf } from "../native/process-tree.js";

/**
 * Who may talk on a sandbox's channel: only processes of that sandbox. The channel's sockets are
 * reachable by the sandbox's uid (and, when mcpw is root, its own run group: run-dir.ts), and landlock (ABI <= 7)
 * does not mediate connect() to a path socket, so reaching the socket must not be enough: a
 * process that reached another sandbox's channel.sock acted as that sandbox (its bridge files,
 * its allowed hosts).
 *
 * The kernel says who connected (SO_PEERCRED: the pid of the process that called connect(),
 * translated into mcpw's pid namespace), and that process must be the sandbox's:
 *  - under bubblewrap: its pid namespace is the sandbox's, the one of the namespace init bubblewrap
 *    reported (/proc/<pid>/ns/pid). A sandbox cannot leave or join a pid namespace (seccomp refuses
 *    unshare, setns and clone with CLONE_NEWPID), and no process outside it can enter it without
 *    CAP_SYS_ADMIN over the sandbox's user namespace (mcpw's own `sandbox exec` does, on purpose);
 *  - without bubblewrap (best-effort): it is a descendant of the sandbox's first process, the
 *    reaper (native/reaper.ts), which adopts what the program orphans, so a process that
 *    daemonizes stays in that tree.
 * No secret is involved, so there is none inside the sandbox that a program could leak. The check
 * runs as the connection is accepted: the peer's pid could only be someone else's if the peer
 * exited and the pid was reused within that moment (SO_PEERPIDFD would close that: see
 * docs/decisions.md). Nothing but bytes is read from the channel: fds passed with SCM_RIGHTS are
 * dropped by the kernel (the supervisor reads with read(2), not recvmsg).
 */

export interface SandboxProcesses {
  /** Under bubblewrap: the host pid of the pid namespace's init (null: unknown). */
  namespaceInit: Promise<number | null>;
  /** The sandbox's first process (best-effort mode: the reaper the program runs under). */
  rootPid: number | undefined;
  isolated: boolean;
}

export interface PeerVerdict {
  ok: boolean;
  pid: number | null;
  reason: string;
}

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

/** SO_PEERCRED of a connected unix socket: the connecting process's pid, uid and gid (as mcpw sees them). */
export function peerCredentials(socket: Socket): { pid: number; uid: number; gid: number } | { error: string } {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) return { error: "the connection has no file descriptor" };
  try {
    const c = libc();
    const buf = Buffer.alloc(12);
    const { ret, len } = c.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf);
    if (ret !== 0) return { error: `getsockopt(SO_PEERCRED): ${errnoName(c.errno())}` };
    if (len < 12) return { error: `getsockopt(SO_PEERCRED) gave ${len} bytes` };
    return { pid: buf.readInt32LE(0), uid: buf.readUInt32LE(4), gid: buf.readUInt32LE(8) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

function pidNamespace(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return null;
  }
}

function parentOf(pid: number): number | null {
  const ppid = stateOf(pid)?.ppid;
  return ppid !== undefined && Number.isInteger(ppid) ? ppid : null;
}

/** Decides, per accepted connection, whether its peer is one of the sandbox's processes. */
export class PeerCheck {
  private namespace: string | null | undefined;

  constructor(private readonly sandbox: SandboxProcesses) {}

  /** Call as soon as the connection is accepted. */
  async verify(socket: Socket): Promise<PeerVerdict> {
    const cred = peerCredentials(socket);
    if ("error" in cred) return { ok: false, pid: null, reason: `cannot tell who connected: ${cred.error}` };
    const { pid } = cred;
    if (pid <= 0) return { ok: false, pid, reason: "the connecting process is not visible from mcpw's pid namespace" };
    if (this.sandbox.isolated) {
      if (this.namespace === undefined) {
        const init = await this.sandbox.namespaceInit;
        this.namespace = init === null ? null : pidNamespace(init);
      }
      if (this.namespace === null) return { ok: false, pid, reason: "the sandbox's pid namespace is unknown (bubblewrap did not report its init, or it has ended)" };
      const theirs = pidNamespace(pid);
      if (theirs === this.namespace) return { ok: true, pid, reason: "in the sandbox's pid namespace" };
      return { ok: false, pid, reason: `process ${pid} is not in the sandbox's pid namespace (${theirs ?? "gone"}, not ${this.namespace})` };
    }
    const root = this.sandbox.rootPid;
    if (root === undefined) return { ok: false, pid, reason: "the sandbox has no process" };
    for (let p: number | null = pid, hops = 0; p !== null && p > 1 && hops < 4096; p = parentOf(p), hops++) {
      if (p === root) return { ok: true, pid, reason: "a descendant of the sandbox's process" };
    }
    return { ok: false, pid, reason: `process ${pid} is not the sandbox's process ${root} or a descendant of it` };
  }
}
