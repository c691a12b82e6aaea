import t from "tap";
import { satisfies } from "../../wrapper/snippets/npm-semver.js";
import { snippetService } from "./fixtures.js";
import { npmRegistry } from "./npm-registry.js";

t.test("version ranges", async (t) => {
  const cases: [string, string, boolean][] = [
    ["1.2.3", "1.2.3", true], ["1.2.4", "1.2.3", false], ["1.9.0", "^1.2.3", true], ["2.0.0", "^1.2.3", false], ["0.2.9", "^0.2.3", true],
    ["0.3.0", "^0.2.3", false], ["0.0.4", "^0.0.3", false], ["1.2.9", "~1.2.3", true], ["1.3.0", "~1.2.3", false], ["1.5.0", "1.x", true],
    ["2.0.0", "1", false], ["3.1.4", "*", true], ["1.0.0-beta", "^1.0.0", false], ["1.0.0-beta", "1.0.0-beta", true],
  ];
  for (const [version, range, expected] of cases) t.equal(satisfies(version, range), expected, `${version} ${expected ? "satisfies" : "does not satisfy"} ${range}`);
});

t.test("npm.dependencies: installed through the bridge, bundled with esbuild, cached", async (t) => {
  const registry = await npmRegistry(t, [
    { name: "pad-lite", version: "1.0.0", files: { "index.js": "module.exports = () => 'old';" } },
    { name: "pad-lite", version: "1.2.0", files: { "index.js": "const repeat = require('repeat-lite');\nmodule.exports = (s, n) => repeat('*', n - String(s).length) + s;" }, dependencies: { "repeat-lite": "^2.0.0" } },
    { name: "repeat-lite", version: "2.1.0", files: { "index.js": "module.exports = (c, n) => c.repeat(Math.max(0, n));" } },
    { name: "@scope/answer", version: "1.0.0", files: { "index.js": "export default 42;" } },
    { name: "corrupt-lite", version: "1.0.0", files: { "index.js": "module.exports = 1;" }, corrupt: true },
  ]);
  const { service } = await snippetService(t, { network: { allowedDomains: ["localhost"], allowedCidrs: ["127.0.0.0/8"] } }, { npmRegistry: registry.url });

  const r = await service.runJs({ code: "import pad from 'pad-lite';\nimport answer from '@scope/answer';\npad('ab', 5) + ' ' + answer", npm: { dependencies: { "pad-lite": "^1.0.0", "@scope/answer": "1.0.0" } } });
  t.match(r, { value: "***ab 42", exitCode: 0 }, "the newest matching version, its own dependency, and a scoped package");
  t.ok(registry.requests.includes("/tarballs/repeat-lite-2.1.0.tgz"), "the transitive dependency was fetched");
  t.notOk(registry.requests.includes("/tarballs/pad-lite-1.0.0.tgz"), "the older version was not");

  const before = registry.requests.length;
  const again = await service.runJs({ code: "import pad from 'pad-lite';\npad('x', 3)", npm: { dependencies: { "pad-lite": "^1.0.0", "@scope/answer": "1.0.0" } } });
  t.equal(again.value, "**x");
  t.equal(registry.requests.length, before, "the same dependencies with other code: installed once, nothing fetched again");

  await t.rejects(
    service.runJs({ code: "1", npm: { dependencies: { "repeat-lite": "2.1.0" } }, policy: { network: { deniedDomains: ["localhost"] } } }),
    { code: "policy_denied", message: /restrict\.network\.deniedDomains/ },
    "the registry is held to the snippet's network policy",
  );
  await t.rejects(service.runJs({ code: "1", npm: { dependencies: { "corrupt-lite": "1.0.0" } } }), { code: "bad_params", message: /does not match its sha512 integrity/ }, "a tarball that fails its integrity check");
  await t.rejects(service.runJs({ code: "1", npm: { dependencies: { "pad-lite": "^3.0.0" } } }), { message: /pad-lite: no version matches "\^3\.0\.0"/ });
  await t.rejects(service.runJs({ code: "1", npm: { dependencies: { "no-such-package": "1.0.0" } } }), { message: /no-such-package: the registry answered 404/ });
});
