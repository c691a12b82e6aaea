import t from "tap";
import { parseFrame } from "../protocol/frames.js";

t.test("parseFrame names what is wrong", async (t) => {
  const notJson = parseFrame("{nope");
  t.ok("error" in notJson && notJson.error.code === "bad_frame" && /not valid JSON/.test(notJson.error.message));
  const badVersion = parseFrame(JSON.stringify({ v: 2, kind: "req", id: "a", method: "x" }));
  t.ok("error" in badVersion && badVersion.error.code === "unsupported_version" && badVersion.id === "a");
  const badMethod = parseFrame(JSON.stringify({ v: 1, kind: "req", id: "a", method: 5 }));
  t.ok("error" in badMethod);
  if ("error" in badMethod) t.equal(badMethod.error.field, "method");
  const ok = parseFrame(JSON.stringify({ v: 1, kind: "req", id: "a", method: "token.list" }));
  t.ok("frame" in ok);
});
