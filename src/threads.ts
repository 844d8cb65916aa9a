// Threads that run modelbay's modules (device workers, readers of model files), and throwaway ones:
// work on files that may be damaged in ways that send a parser into minutes of work or an endless
// loop (the artifact fuzz found both: a saved_model.pb for google-protobuf, an .h5 attribute for
// h5wasm). JavaScript cannot interrupt such a call, so it runs in a thread of its own, which is
// ended once it has answered, failed, or taken longer than a sound file would.
import { Worker, type WorkerOptions } from "node:worker_threads";

/** The time a sound file of `bytes` takes at worst: generous, as parsing speed varies by machine. */
export const soundFileBudgetMs = (bytes: number) => 10_000 + bytes / 1_000;

/** A thread running the module at `url`, from modelbay's TypeScript sources (through tsx) or its build. */
export function moduleThread(url: URL, options: WorkerOptions): Worker {
  if (!url.href.endsWith(".ts")) return new Worker(url, options);
  // The thread registers tsx's loader before it imports the module.
  const bootstrap = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

export interface ThreadFailures {
  /** The thread took longer than its budget (in seconds). */
  late: (seconds: number) => Error;
  /** It threw, or stopped without answering. */
  failed: (reason: string) => Error;
}

/**
 * The next message `worker` sends, within `budgetMs`. A thread that is late is ended (its work
 * cannot be interrupted otherwise); one that answers is left running for the caller to reuse or end.
 */
export async function answerWithin<T>(worker: Worker, budgetMs: number, failures: ThreadFailures): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let settle: { message: (answer: T) => void; error: (err: Error) => void; exit: (code: number) => void } | undefined;
  try {
    return await new Promise<T>((resolve, reject) => {
      timer = setTimeout(() => {
        void worker.terminate();
        reject(failures.late(Math.round(budgetMs) / 1000));
      }, budgetMs);
      settle = {
        message: resolve,
        error: (err) => reject(failures.failed(err.message)),
        exit: (code) => reject(failures.failed(`it stopped (exit ${code})`)),
      };
      worker.on("message", settle.message).on("error", settle.error).on("exit", settle.exit);
    });
  } finally {
    clearTimeout(timer);
    if (settle) worker.off("message", settle.message).off("error", settle.error).off("exit", settle.exit);
  }
}
