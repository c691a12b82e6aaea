import { accessSync, closeSync, constants, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { AuditEntry } from "../protocol/methods.js";

export type AuditInput = Omit<AuditEntry, "ts"> & { ts?: string };

/**
 * Append-only audit log: one JSON line per privileged operation and auth event, written with
 * O_APPEND (0600) as it happens; the last entries are kept in memory for `audit.tail` and live
 * subscribers. The file is created with its first entry (a bridge refused at registration leaves
 * no empty log behind); that its directory is writable is checked at once.
 */
export class AuditLog {
  private fd: number | null = null;
  private path: string | null;
  private readonly ring: AuditEntry[] = [];
  private readonly ringSize: number;
  private readonly listeners = new Set<(e: AuditEntry) => void>();

  constructor(path: string | null, ringSize = 2000) {
    this.ringSize = ringSize;
    this.path = path;
    if (path) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      accessSync(dirname(path), constants.W_OK);
    }
  }

  write(input: AuditInput): AuditEntry {
    const { ts, ...rest } = input;
    const entry = { ts: ts ?? new Date().toISOString(), ...rest } as AuditEntry;
    if (this.path !== null) {
      this.fd ??= openSync(this.path, "a", 0o600);
      writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    }
    this.ring.push(entry);
    if (this.ring.length > this.ringSize) this.ring.splice(0, this.ring.length - this.ringSize);
    for (const l of this.listeners) l(entry);
    return entry;
  }

  /** The newest `limit` entries that pass `filter`, oldest first. */
  tail(limit: number, filter: (e: AuditEntry) => boolean = () => true): AuditEntry[] {
    const out: AuditEntry[] = [];
    for (let i = this.ring.length - 1; i >= 0 && out.length < limit; i--) {
      const e = this.ring[i]!;
      if (filter(e)) out.push(e);
    }
    return out.reverse();
  }

  subscribe(listener: (e: AuditEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    this.path = null; // entries after close stay in memory only, as before
  }
}
