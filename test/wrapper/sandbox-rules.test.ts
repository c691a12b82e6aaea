import t from "tap";
import { McpwError } from "../../protocol/errors.js";
import { Policy } from "../../protocol/policy.js";
import { checkSandboxOp } from "../../wrapper/sandbox-rules.js";

/** The supervisor's check of a sandbox's fs operations, before they go to the bridge. */

const policy = Policy.parse({ filesystem: { writable: ["/d", "/e/inner/"], readonly: ["/d/sub", "/e"] } });

function verdict(op: Parameters<typeof checkSandboxOp>[1], p: Policy = policy): string {
  try {
    checkSandboxOp(p, op);
    return "allowed";
  } catch (e) {
    return e instanceof McpwError ? `${e.errno ?? e.code}: ${e.message}` : String(e);
  }
}

t.test("the deepest filesystem rule decides, in either nesting", async (t) => {
  const write = (path: string) => verdict({ op: "fs.write", path, data: "", mode: "overwrite", fileMode: 0o644 });
  t.equal(write("/d/x"), "allowed");
  t.match(write("/d/sub/x"), /^EROFS: write \/d\/sub\/x refused: read-only under filesystem\.readonly/, "a readonly path inside a writable one is read-only");
  t.match(write("/d/sub"), /^EROFS/);
  t.equal(write("/d/subway"), "allowed", "a sibling whose name merely starts the same is not inside it");
  t.equal(write("/e/inner/x"), "allowed", "a writable path inside a readonly one is writable");
  t.match(write("/e/x"), /^EROFS/);
  t.match(verdict({ op: "fs.rename", from: "/d/x", to: "/d/sub/x" }), /^EROFS/, "rename into the readonly path");
  t.match(verdict({ op: "fs.rm", path: "/d/sub/x", recursive: false, force: false }), /^EROFS/);
  t.equal(verdict({ op: "fs.read", path: "/d/sub/x", offset: 0, length: 1 }), "allowed", "reading is allowed under both");
  t.match(write("/f"), /^EACCES/);
});

t.test("the same path listed as both readonly and writable is read-only", async (t) => {
  const both = Policy.parse({ filesystem: { writable: ["/same"], readonly: ["/same/"] } });
  t.match(verdict({ op: "fs.mkdir", path: "/same/d", recursive: false, fileMode: 0o755 }, both), /^EROFS/);
});
