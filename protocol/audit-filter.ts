import type { AuditEntry, AuditFilter } from "./methods.js";

/**
 * Whether an audit entry passes a filter: the server applies it to `audit.tail`, the TUI to the
 * live tail, so both agree. `event` matches the event or its dotted children ("auth" → auth.fail);
 * `sandbox` also matches operations a sandbox originated.
 */
export function matchesAuditFilter(f: AuditFilter, e: AuditEntry): boolean {
  return (
    (!f.verdict || e.verdict === f.verdict) &&
    (!f.event || e.event === f.event || e.event.startsWith(`${f.event}.`)) &&
    (!f.sandbox || e.sandbox === f.sandbox || (e.origin as { id?: string } | undefined)?.id === f.sandbox) &&
    (!f.bridge || e.bridge === f.bridge)
  );
}
