"use strict";
/**
 * Shared by the Node escape probes, as _probe.py is by the Python ones:
 *
 *     node <file>.cjs <attack>[,<attack>...] '<targets as JSON>'
 *
 * An attack resolves with a sentence saying what it observed when it worked (ESCAPED), and throws
 * (an errno error, or Blocked for an observation such as NO_REPLY) when it did not (BLOCKED). One
 * JSON line goes to stdout: {attack, result, code, detail}.
 */

class Blocked extends Error {
  constructor(code, detail) {
    super(detail);
    this.code = code;
  }
}

/** Rejects with Blocked(NO_REPLY) when `promise` has not settled within `ms`. */
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Blocked("NO_REPLY", `${what}: no reply within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function emit(attack, result, code, detail) {
  process.stdout.write(`${JSON.stringify({ attack, result, code, detail: String(detail).slice(0, 500) })}\n`);
}

/** Runs the attacks named (comma-separated) by argv[2], one line each; one in `fatal` (a bomb) runs alone and dies of its error after reporting it. */
async function main(attacks, { fatal = [] } = {}) {
  const names = process.argv[2].split(",");
  const targets = process.argv[3] ? JSON.parse(process.argv[3]) : {};
  const unknown = names.find((n) => !attacks[n]);
  if (unknown) {
    emit(unknown, "ERROR", "UNKNOWN_ATTACK", `no attack ${unknown} in ${process.argv[1]}`);
    process.exit(2);
  }
  for (const name of names) {
    try {
      emit(name, "ESCAPED", null, await attacks[name](targets));
    } catch (e) {
      // fetch() wraps the socket's error in its cause.
      const cause = e.cause && e.cause.code ? e.cause : e;
      emit(name, "BLOCKED", cause.code || e.name, cause === e ? e.message : `${e.message}: ${cause.message}`);
      if (fatal.includes(name) && names.length === 1) throw e;
    }
  }
}

module.exports = { Blocked, main, within };
