import { startEmbedded } from "./dist/server/embedded.js";
import { Policy } from "./dist/protocol/policy.js";
import { SnippetService } from "./dist/wrapper/snippets/snippet-service.js";
const policy = Policy.parse({ limits: { timeoutMs: 3000, memMb: 128 } });
const emb = await startEmbedded({ env: "dev", policy, auditPath: null });
const svc = await SnippetService.create({ policy, callOp: (o, op, opts) => emb.server.router.call(o, op, opts), workspace: null, cacheDir: "/tmp/mcpw-cache-smoke", keyDir: "/tmp/mcpw-key-smoke" });
const r = await svc.runPy({ code: "print(1)\n1+1" });
console.log(r.stderr.slice(-1500));
await svc.close(); await emb.close();
