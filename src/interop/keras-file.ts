// Keras 3 model files (.keras): a zip holding config.json (the model and its compile config) and
// model.weights.h5 (HDF5: layers/<name>/vars/<i> per layer, optimizer/vars/<i> for the optimizer);
// and Keras 3 weights files (.weights.h5), which hold the HDF5 part only.
import fs from "node:fs/promises";
import { unzipSync } from "fflate";
import { KERAS_ORDERED_SLOT, type NamedTensorData } from "../compute/engine.js";
import type { ModelSpec } from "../compute/model-spec.js";
import type { TensorData } from "../compute/tensor-data.js";
import { Code, ModelbayError } from "../errors.js";
import { numberedDatasets, readHdf5 } from "./hdf5.js";
import { kerasConfigToSpec, kerasTopologyOf, kerasVariableGroups } from "./keras-config.js";
import { adamStateFromKeras, adamStepFromKeras } from "./optimizer-slots.js";

export interface ImportedTrainable {
  spec: ModelSpec;
  weights: NamedTensorData[];
  optimizer: NamedTensorData[];
  warnings: string[];
}

const bad = (file: string, what: string) => new ModelbayError(Code.INVALID_ARGUMENT, `${file}: ${what}`);

export async function readKerasFile(file: string, label: string): Promise<ImportedTrainable> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(new Uint8Array(await fs.readFile(file)));
  } catch (err) {
    throw bad(label, `not a readable .keras zip (${err instanceof Error ? err.message : String(err)})`);
  }
  const config = entries["config.json"];
  const weightsH5 = entries["model.weights.h5"];
  if (!config || !weightsH5) throw bad(label, "a .keras file needs config.json and model.weights.h5");
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(config));
  } catch {
    throw bad(label, "config.json is not JSON");
  }
  const spec = kerasConfigToSpec(parsed);
  return readKerasWeights(weightsH5, spec, parsed, label);
}

/**
 * Keras 3 weights (`model.save_weights`, `ModelCheckpoint(save_weights_only=True)`: the same HDF5
 * layout as a .keras file's model.weights.h5) for the model `spec` describes.
 */
export async function readKerasWeightsFile(file: string, spec: ModelSpec, label: string): Promise<ImportedTrainable> {
  const topology = kerasTopologyOf(spec);
  if (!topology) {
    throw new ModelbayError(
      Code.INVALID_ARGUMENT,
      "spec: Keras weights need a sequential spec or a Keras 3 topology to match them to; this one is TensorFlow.js or Keras 2 JSON",
    );
  }
  return readKerasWeights(await fs.readFile(file), spec, topology, label);
}

/** Each layer's weights from model.weights.h5, named "<layer path>/vars/<i>", and Adam's state where it maps. */
async function readKerasWeights(
  weightsH5: Uint8Array,
  spec: ModelSpec,
  topology: unknown,
  label: string,
): Promise<ImportedTrainable> {
  const groups = kerasVariableGroups(topology);
  let weights: NamedTensorData[];
  let optimizerVars: TensorData[];
  try {
    [weights, optimizerVars] = await readHdf5(weightsH5, (h5) => [
      groups.flatMap(({ places, layerPath }) =>
        places
          .flatMap((place) => numberedDatasets(h5, place, label))
          .map((tensor, i) => ({ name: `${layerPath}/vars/${i}`, tensor })),
      ),
      numberedDatasets(h5, "optimizer/vars", label),
    ]);
  } catch (err) {
    if (err instanceof ModelbayError) throw err;
    throw bad(label, `model.weights.h5 is not readable HDF5 (${err instanceof Error ? err.message : String(err)})`);
  }
  // Iterations and learning rate, then the slots, (m, v) per trainable variable.
  const [iterations, , ...slots] = optimizerVars;
  return { spec, weights, ...kerasOptimizerState(spec, weights, iterations, slots) };
}

/**
 * Keras' optimizer state (`slots`: m and v per trainable variable, in Keras' order) for modelbay,
 * with a warning where it does not come along. Keras makes the slots at the first step: a model
 * saved before training has none, and Adam starts afresh here as it would in Keras.
 */
export function kerasOptimizerState(
  spec: ModelSpec,
  weights: readonly NamedTensorData[],
  iterations: TensorData | undefined,
  slots: readonly TensorData[],
): { optimizer: NamedTensorData[]; warnings: string[] } {
  if (slots.length === 0) return { optimizer: [], warnings: [] };
  if (spec.compile.optimizer.kind !== "adam" || !iterations) {
    return {
      optimizer: [],
      warnings: [`the ${spec.compile.optimizer.kind} optimizer's state was not imported; training starts it afresh`],
    };
  }
  // A Dense stack's weights are all trainable and in Keras' order here; for any other model the
  // device sorts the slots out once it has built the model.
  if (spec.topology.kind === "sequential") {
    return { optimizer: adamStateFromKeras({ iterations, slots: [...slots] }, weights), warnings: [] };
  }
  return {
    optimizer: [
      adamStepFromKeras(iterations),
      ...slots.map((tensor, j) => ({ name: `${KERAS_ORDERED_SLOT}${j}`, tensor })),
    ],
    warnings: [],
  };
}
