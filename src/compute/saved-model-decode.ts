// tfjs-node reads saved_model.pb with google-protobuf, in the calling thread, before TensorFlow sees
// it. Some damaged files send that decoder into minutes of work (the artifact fuzz found one of
// 4.5 KB that took 170 s), which would hold the device thread and every model on it. So the file
// is decoded once first in a thread of its own, which is ended if it takes too long.
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { Code, ModelbayError } from "../errors.js";
import { answerWithin, soundFileBudgetMs } from "../threads.js";

// CommonJS, so that the thread needs only the generated messages, not the TensorFlow addon.
const DECODE = `
const { parentPort, workerData } = require("node:worker_threads");
require(workerData.messages).SavedModel.deserializeBinary(workerData.bytes);
parentPort.postMessage("decoded");
`;

const unreadable = (what: string) => new ModelbayError(Code.INVALID_ARGUMENT, `not a readable SavedModel: ${what}`);

/** Resolves once `dir`/saved_model.pb decodes as a SavedModel message within its time budget. */
export async function checkSavedModelDecodes(pkg: string, dir: string): Promise<void> {
  const bytes = await fs.readFile(path.join(dir, "saved_model.pb")).catch(() => {
    throw unreadable("there is no readable saved_model.pb");
  });
  const messages = createRequire(import.meta.url).resolve(`${pkg}/dist/proto/api_pb`);
  const worker = new Worker(DECODE, { eval: true, workerData: { messages, bytes } });
  try {
    await answerWithin(worker, soundFileBudgetMs(bytes.byteLength), {
      late: (seconds) => unreadable(`decoding saved_model.pb did not finish in ${seconds} s; the file is damaged`),
      failed: (reason) => unreadable(`saved_model.pb: ${reason}`),
    });
  } finally {
    await worker.terminate();
  }
}
