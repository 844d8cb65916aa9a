// `modelbay export`: a checkpoint as a file Python loads. `--format keras` (default) writes a Keras 3
// `.keras` file (keras.models.load_model: compiled, with weights and Adam's state); `--format tfjs`
// copies the checkpoint's TensorFlow.js layers model (model.json + weights.bin) into a directory.
import fs from "node:fs";
import path from "node:path";
import { decodeCheckpoint } from "../checkpoints/checkpoint-codec.js";
import { CheckpointStore } from "../checkpoints/checkpoint-store.js";
import { exportKerasFile } from "../interop/keras-export.js";
import { options, UsageError } from "./args.js";

const TFJS_FILES = ["model.json", "weights.bin"];

/** Writes `bytes` to `file` through a temporary name, so a reader never sees half a file. */
function writeAtomically(file: string, bytes: Uint8Array): void {
  const temp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(temp, bytes);
  fs.renameSync(temp, file);
}

export async function exportCommand(args: string[]): Promise<number> {
  const o = options(args, ["store", "model", "checkpoint", "out", "format"]);
  const format = o.get("format") ?? "keras";
  if (format !== "keras" && format !== "tfjs") throw new UsageError(`--format must be keras or tfjs, got "${format}"`);
  const modelId = o.require("model");
  const out = o.require("out");
  const store = new CheckpointStore(o.require("store"));
  const read = await store.read(modelId, o.get("checkpoint") ?? "latest");
  for (const w of read.warnings) process.stdout.write(`warning: ${w}\n`);
  if (format === "tfjs") {
    fs.mkdirSync(out, { recursive: true });
    for (const name of TFJS_FILES) {
      const data = read.files.get(name);
      if (!data) throw new Error(`checkpoint ${read.id} has no ${name}`);
      writeAtomically(path.join(out, name), data);
    }
  } else {
    const content = decodeCheckpoint(read.files);
    const exported = await exportKerasFile(content.spec, content.snapshot);
    for (const w of exported.warnings) process.stdout.write(`warning: ${w}\n`);
    writeAtomically(out, exported.bytes);
  }
  process.stdout.write(`exported ${modelId} ${read.id} as ${format} to ${out}\n`);
  return 0;
}
