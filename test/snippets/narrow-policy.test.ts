import t from "tap";
import { McpwError } from "../../protocol/errors.js";
import { Policy } from "../../protocol/policy.js";
import { narrowPolicy } from "../../wrapper/snippets/narrow-policy.js";

/** A snippet call's policy may only narrow the configured one, nested filesystem rules included. */

const base = Policy.parse({ filesystem: { writable: ["/d"], readonly: ["/d/sub"] } });

function refusal(f: () => unknown): string {
  try {
    f();
    return "accepted";
  } catch (e) {
    return e instanceof McpwError ? `${e.field}: ${e.message}` : String(e);
  }
}

t.test("a path the configured policy keeps read-only (a readonly path inside a writable one) cannot be made writable", async (t) => {
  t.match(refusal(() => narrowPolicy(base, { filesystem: { writable: ["/d/sub/x"] } })), /^policy\.filesystem\.writable\.0: .*under the configured readonly path \/d\/sub/);
  t.match(refusal(() => narrowPolicy(base, { filesystem: { writable: ["/d/sub"] } })), /^policy\.filesystem\.writable\.0/);
  t.equal(refusal(() => narrowPolicy(base, { filesystem: { writable: ["/d/other"] } })), "accepted");
});

t.test("narrowing the readonly list does not drop a readonly path nested in a path that stays writable", async (t) => {
  const out = narrowPolicy(base, { filesystem: { readonly: [], writable: ["/d"] } });
  t.same(out.filesystem.writable, ["/d"]);
  t.same(out.filesystem.readonly, ["/d/sub"], "/d/sub is still read-only");
  const elsewhere = narrowPolicy(base, { filesystem: { readonly: [], writable: ["/d/other"] } });
  t.same(elsewhere.filesystem.readonly, [], "one outside every writable path that is left need not be kept");
});
