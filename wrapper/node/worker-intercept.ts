import workerThreads, { SHARE_ENV, type WorkerOptions } from "node:worker_threads";
import { type InheritedEnv, withInheritedEnvObject } from "./inherited-env.js";

/**
 * Every worker thread gets the preload, as every child process does. A worker runs the preload
 * through NODE_OPTIONS in its env, so `new Worker(f, { env: {} })` used to start one without it
 * (fs, net and child_process unpatched: a bridge-served path was merely absent, a child spawned
 * from it unintercepted). Now the preload is in the worker's execArgv whatever it was given, and
 * an env object of its own keeps the inherited variables (the channel dir, the proxy).
 */
export function installWorkerInterceptors(preload: string, inherited: InheritedEnv): void {
  const Original = workerThreads.Worker;
  class Worker extends Original {
    constructor(filename: string | URL, options: WorkerOptions = {}) {
      const execArgv = options.execArgv ?? process.execArgv;
      const env = options.env;
      super(filename, {
        ...options,
        execArgv: execArgv.includes(preload) ? execArgv : [...execArgv, "--require", preload],
        env: env && env !== SHARE_ENV && typeof env === "object" ? withInheritedEnvObject(env as NodeJS.ProcessEnv, inherited) : env,
      });
    }
  }
  (workerThreads as { Worker: typeof Original }).Worker = Worker;
}
