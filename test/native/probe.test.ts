import t from "tap";
import { probeKernelLayers } from "../../native/probe.js";
import { BWRAP } from "./fixtures/helpers.js";

t.test("probeKernelLayers reports every layer available on this machine, with details", (t) => {
  const layers = probeKernelLayers();
  t.same(layers.native, { available: true, detail: "koffi loaded libc" });
  t.equal(layers.seccomp.available, true, layers.seccomp.detail);
  t.equal(layers.landlock.available, true, layers.landlock.detail);
  t.ok(layers.landlock.abi >= 1, `landlock ABI ${layers.landlock.abi}`);
  t.match(layers.landlock.detail, /^landlock ABI \d+$/);
  if (BWRAP) {
    t.equal(layers.bubblewrap.available, true);
    t.equal(layers.bubblewrap.path, BWRAP);
    t.match(layers.bubblewrap.version, /^\d+\.\d+\.\d+$/);
    t.equal(layers.userNamespaces.available, true, layers.userNamespaces.detail);
    t.match(layers.userNamespaces.detail, /bwrap --unshare-user works as uid \d+/);
  }
  t.end();
});

t.test("a missing bwrap is reported with the reason, not thrown", (t) => {
  const layers = probeKernelLayers({ bwrapPath: "/nonexistent/bwrap" });
  t.equal(layers.bubblewrap.available, false);
  t.match(layers.bubblewrap.detail, /\/nonexistent\/bwrap --version failed: .*ENOENT/);
  t.equal(layers.userNamespaces.available, false);
  t.match(layers.userNamespaces.detail, /bwrap --unshare-user failed/);
  t.end();
});
