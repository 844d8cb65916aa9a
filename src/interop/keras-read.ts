// Keras artifacts whose weights are HDF5, read in a thread of their own
// (src/interop/keras-reader-thread.ts) within a time budget, so that a damaged file cannot hold the
// RPC thread: h5wasm cannot be interrupted, and the artifact fuzz found an .h5 that keeps it busy
// forever. The thread is kept for the next read (starting one and loading h5wasm takes a while),
// and replaced once one is late. Reads take turns.
import fs from "node:fs/promises";
import type { Worker } from "node:worker_threads";
import type { ModelSpec } from "../compute/model-spec.js";
import { Code, ModelbayError } from "../errors.js";
import { answerWithin, moduleThread, soundFileBudgetMs } from "../threads.js";
import type { ImportedTrainable } from "./keras-file.js";

export interface KerasReadRequest {
  format: "keras" | "keras_h5" | "keras_weights";
  file: string;
  label: string;
  spec?: ModelSpec;
}

export type KerasReadAnswer = { imported: ImportedTrainable } | { error: { code: Code | undefined; message: string } };

const fromSource = import.meta.url.endsWith(".ts");
const ENTRY = new URL(`./keras-reader-thread${fromSource ? ".ts" : ".js"}`, import.meta.url);

let reader: Worker | undefined;
let turn: Promise<unknown> = Promise.resolve();

export function readKerasArtifact(request: KerasReadRequest): Promise<ImportedTrainable> {
  const read = turn.then(() => readInThread(request));
  turn = read.catch(() => undefined);
  return read;
}

async function readInThread(request: KerasReadRequest): Promise<ImportedTrainable> {
  const { size } = await fs.stat(request.file);
  const damaged = (what: string) => new ModelbayError(Code.INVALID_ARGUMENT, `${request.label}: ${what}`);
  if (!reader) {
    reader = moduleThread(ENTRY, {});
    // An idle reader does not keep the process alive.
    reader.unref();
  }
  const thread = reader;
  thread.postMessage(request);
  let answer: KerasReadAnswer;
  try {
    answer = await answerWithin<KerasReadAnswer>(thread, soundFileBudgetMs(size), {
      late: (seconds) => damaged(`reading it did not finish in ${seconds} s; the file is damaged`),
      failed: (reason) => damaged(`its reader failed: ${reason}`),
    });
  } catch (err) {
    if (reader === thread) reader = undefined;
    await thread.terminate();
    throw err;
  }
  if ("imported" in answer) return answer.imported;
  const { code, message } = answer.error;
  throw code === undefined ? new Error(message) : new ModelbayError(code, message);
}
