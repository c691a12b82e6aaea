import workerThreads, { SHARE_ENV, type WorkerOptions } from "node:worker_threads";
import { type InheritedEnv, withInheritedEnvObject } from "./inherited-env.js";

/**
 * Every worker thread gets the preload, as every child process does. A worker runs the preload
 * through NODE_OPTIONS in its env, so `new Worker(f, { env: {} })` used to start one without it
 * (fs, net and child_process unpatched: a bridge-served path was merely absent, a child spawned
 * from it unintercepted). Now a worker's env, its own or the default copy of process.env, keeps
 * the inherited variables (NODE_OPTIONS with the preload, the channel dir, the proxy). execArgv is
 * left alone: Node refuses some of a process's flags in a worker's execArgv when they are given
 * explicitly. SHARE_ENV shares process.env itself, which the program owns.
 */
export function installWorkerInterceptors(inherited: InheritedEnv): void {
  const Original = workerThreads.Worker;
  class Worker extends Original {
    constructor(filename: string | URL, options: WorkerOptions = {}) {
      const env = options.env ?? process.env;
      super(filename, { ...options, env: env !== SHARE_ENV && typeof env === "object" ? withInheritedEnvObject(env as NodeJS.ProcessEnv, inherited) : env });
    }
  }
  (workerThreads as { Worker: typeof Original }).Worker = Worker;
}
