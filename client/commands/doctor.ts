import { existsSync } from "node:fs";
import { join } from "node:path";
import { installHint } from "../../wrapper/bubblewrap.js";
import { kernelLayers } from "../../wrapper/kernel-layers.js";
import { SANDBOX_LIB_DIR } from "../../wrapper/launcher.js";
import type { CommandSpec } from "../command.js";

interface Row {
  layer: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export const doctorCommand: CommandSpec = {
  name: "doctor",
  summary: "report which isolation layers this machine has, and what is missing and why",
  options: { json: { type: "boolean", help: "print JSON" } },
  details: `
Exit status 0 when every layer is present (policy isolation "strict" can run), 1 otherwise.`,
  async run(args) {
    const k = kernelLayers();
    const root = process.getuid?.() === 0;
    const rows: Row[] = [
      { layer: "bubblewrap", ok: k.bubblewrap.available, detail: k.bubblewrap.detail, fix: installHint() },
      {
        layer: "user namespaces",
        ok: k.userNamespaces.available,
        detail: k.userNamespaces.detail,
        fix: "enable them: sysctl -w user.max_user_namespaces=15000 (and kernel.unprivileged_userns_clone=1 where it exists)",
      },
      { layer: "seccomp", ok: k.seccomp.available, detail: k.seccomp.detail },
      { layer: "landlock", ok: k.landlock.available, detail: k.landlock.detail, fix: "a kernel >= 5.13 with landlock in the LSM list (lsm=landlock,...)" },
      { layer: "native (koffi)", ok: k.native.available, detail: k.native.detail, fix: "reinstall mcpw's dependencies (npm ci)" },
      {
        layer: "interceptors",
        ok: existsSync(join(SANDBOX_LIB_DIR, "node-preload.cjs")),
        detail: `Node preload and Python sitecustomize in ${SANDBOX_LIB_DIR}`,
        fix: "npm run build in the mcpw checkout",
      },
    ];
    if (args.values.json) {
      process.stdout.write(`${JSON.stringify({ root, layers: rows }, null, 2)}\n`);
    } else {
      const w = Math.max(...rows.map((r) => r.layer.length));
      for (const r of rows) {
        process.stdout.write(`${r.ok ? "present" : "MISSING"}  ${r.layer.padEnd(w)}  ${r.detail}\n`);
        if (!r.ok && r.fix) process.stdout.write(`         ${" ".repeat(w)}  fix: ${r.fix}\n`);
      }
      const missing = rows.filter((r) => !r.ok);
      process.stdout.write(
        missing.length === 0
          ? `\nAll layers present: policies with isolation "strict" (the default) can run.\n`
          : `\n${missing.length} layer(s) missing: "strict" policies will refuse to start; "best-effort" runs without them and says so.\n`,
      );
    }
    return rows.every((r) => r.ok) ? 0 : 1;
  },
};
