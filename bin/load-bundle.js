// Loads a CommonJS bundle through vm.Script with a V8 code cache beside it (<bundle>.cache), made at
// build time: compiling mcpw's 1.1 MB CLI bundle is a good part of every `mcpw run` start. A cache
// from another V8 version is simply rejected by V8, and the bundle is compiled as usual. Code run
// this way cannot import() (V8 drops the loader with the cache): it uses globalThis.__mcpwImport,
// which bin/mcpw.js lends (client/import-module.ts).
"use strict";
const { existsSync, readFileSync, writeFileSync } = require("node:fs");
const Module = require("node:module");
const { createRequire } = Module;
const { dirname } = require("node:path");
const vm = require("node:vm");

function loadBundle(file, { writeCache = false } = {}) {
  const source = readFileSync(file, "utf8");
  const cacheFile = `${file}.cache`;
  const cachedData = !writeCache && existsSync(cacheFile) ? readFileSync(cacheFile) : undefined;
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  // After the module has run: the cache then also holds the functions its start-up compiled.
  if (writeCache) writeFileSync(cacheFile, script.createCachedData());
  return module.exports;
}

module.exports = { loadBundle };
