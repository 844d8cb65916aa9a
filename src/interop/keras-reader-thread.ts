// The entry point of the thread that reads Keras artifacts whose weights are HDF5 (a .keras file, a
// whole model saved as .h5, Keras 3 weights), one request at a time: it answers each with what it
// read, or with the error (src/interop/keras-read.ts).
import { parentPort } from "node:worker_threads";
import { ModelbayError } from "../errors.js";
import { readKerasFile, readKerasWeightsFile } from "./keras-file.js";
import { readKerasH5File } from "./keras-h5.js";
import type { KerasReadAnswer, KerasReadRequest } from "./keras-read.js";

function read({ format, file, label, spec }: KerasReadRequest) {
  if (format === "keras") return readKerasFile(file, label);
  if (format === "keras_h5") return readKerasH5File(file, label);
  if (!spec) throw new Error("Keras weights are read for a spec");
  return readKerasWeightsFile(file, spec, label);
}

parentPort?.on("message", (request: KerasReadRequest) => {
  Promise.resolve()
    .then(() => read(request))
    .then(
      (imported) => parentPort?.postMessage({ imported } satisfies KerasReadAnswer),
      (err: unknown) =>
        parentPort?.postMessage({
          error: {
            code: err instanceof ModelbayError ? err.code : undefined,
            message: err instanceof Error ? err.message : String(err),
          },
        } satisfies KerasReadAnswer),
    );
});
