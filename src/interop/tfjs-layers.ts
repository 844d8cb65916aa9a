// TensorFlow.js layers models (model.json + its weight files, as tf.LayersModel.save writes them and
// as the tensorflowjs converter produces) and modelbay's own checkpoint directories, as artifacts.
import fs from "node:fs/promises";
import path from "node:path";
import { decodeCheckpoint, tensorPlacement, unpackWeights, type WeightSpec } from "../checkpoints/checkpoint-codec.js";
import { CorruptCheckpointError, readVerified } from "../checkpoints/manifest.js";
import { DEFAULT_INPUT_NAME, DEFAULT_OUTPUT_NAME } from "../compute/model-spec.js";
import { resolveUnder } from "../datasets/data-root.js";
import { Code, ModelbayError } from "../errors.js";
import type { ImportedTrainable } from "./keras-file.js";

interface ModelJson {
  modelTopology?: unknown;
  weightsManifest?: { paths: string[]; weights: (WeightSpec & { quantization?: unknown })[] }[];
}

const bad = (label: string, what: string) => new ModelbayError(Code.INVALID_ARGUMENT, `${label}: ${what}`);

/** A layers model.json and its weights; weight files must lie inside the artifact root too. */
export async function readTfjsLayers(root: string, file: string, label: string): Promise<ImportedTrainable> {
  let model: ModelJson;
  try {
    model = JSON.parse(await fs.readFile(file, "utf8")) as ModelJson;
  } catch {
    throw bad(label, "not a readable TensorFlow.js model.json");
  }
  if (!model.modelTopology || !Array.isArray(model.weightsManifest)) {
    throw bad(label, "a layers model.json needs modelTopology and weightsManifest");
  }
  const groupsOk = model.weightsManifest.every(
    (g) =>
      Array.isArray(g?.paths) &&
      g.paths.every((p) => typeof p === "string") &&
      Array.isArray(g.weights) &&
      g.weights.every((w) => typeof w === "object" && w !== null && typeof w.name === "string"),
  );
  if (!groupsOk) throw bad(label, "each weightsManifest group needs a list of paths and a list of named weights");
  const specs = model.weightsManifest.flatMap((g) => g.weights);
  if (specs.some((w) => w.quantization)) throw bad(label, "quantized weights are not supported");
  const relativeDir = path.relative(root, path.dirname(file));
  const data = Buffer.concat(
    await Promise.all(
      model.weightsManifest
        .flatMap((g) => g.paths)
        .map(async (p) => {
          const weightsFile = await resolveUnder(root, path.join(relativeDir, p), "artifact_path", "artifact root");
          return fs.readFile(weightsFile).catch((err: NodeJS.ErrnoException) => {
            throw bad(label, `weights file "${p}" cannot be read (${err.code ?? err.message})`);
          });
        }),
    ),
  );
  const weights = unpackWeights(specs, data, label);
  return {
    spec: {
      topology: { kind: "keras-json", json: JSON.stringify({ modelTopology: model.modelTopology }) },
      blocks: [],
      compile: { optimizer: { kind: "adam" }, metrics: [] },
      inputName: DEFAULT_INPUT_NAME,
      outputName: DEFAULT_OUTPUT_NAME,
      preprocessing: "",
    },
    weights,
    optimizer: [],
    warnings: ["a TensorFlow.js model.json carries no loss or optimizer state: set them with a spec to train"],
  };
}

/** A modelbay checkpoint directory (with MANIFEST.json), verified by its hashes. */
export async function readCheckpointDirectory(dir: string, label: string): Promise<ImportedTrainable> {
  try {
    const { files } = await readVerified(dir, tensorPlacement);
    const content = decodeCheckpoint(files);
    return {
      spec: content.spec,
      weights: content.snapshot.weights,
      optimizer: content.snapshot.optimizer,
      warnings: [],
    };
  } catch (err) {
    if (err instanceof CorruptCheckpointError) throw new ModelbayError(Code.DATA_LOSS, `${label}: ${err.message}`);
    throw err;
  }
}
