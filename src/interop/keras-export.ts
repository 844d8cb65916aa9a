// Exports a modelbay model (spec + snapshot, as a checkpoint holds them) as a Keras 3 `.keras`
// file that `keras.models.load_model` opens compiled, with its weights and Adam's state, so Python
// can predict with it and continue training.

import { zipSync } from "fflate";
import type { File as Hdf5File } from "h5wasm/node";
import type { ModelSnapshot, NamedTensorData } from "../compute/engine.js";
import type { ModelSpec } from "../compute/model-spec.js";
import type { TensorData } from "../compute/tensor-data.js";
import { Code, ModelbayError } from "../errors.js";
import { ensureGroup, writeHdf5 } from "./hdf5.js";
import { kerasJsonToKerasConfig, kerasVariableGroups, kerasWeightGroups, specToKerasConfig } from "./keras-config.js";
import { adamStateToKeras, type KerasAdamState } from "./optimizer-slots.js";

// The Keras version whose format this writes (the one the fixtures and tests use).
const KERAS_VERSION = "3.15.1";
const MODELBAY_STATE_PREFIX = "modelbay/";

function datasetArgs(name: string, t: TensorData) {
  return {
    name,
    data: t.data,
    shape: t.shape,
    dtype: t.dtype === "float32" ? "<f" : t.dtype === "int32" ? "<i" : "|u1",
  };
}

export interface KerasExport {
  bytes: Uint8Array;
  warnings: string[];
}

/** A weight, and its place in the snapshot's (TensorFlow.js') order of the model's weights. */
interface ModelWeight {
  tensor: TensorData;
  index: number;
}

/**
 * A Keras 3 topology's weights by layer, for model.weights.h5. The snapshot holds them in
 * TensorFlow.js' model order (every trainable weight first), named after their layer first (a
 * nested model's layers by their own names); a layer's own weights keep Keras' order within that.
 */
function weightsByKerasGroup(
  config: Record<string, unknown>,
  weights: readonly NamedTensorData[],
): { place: string; tensors: ModelWeight[] }[] {
  const byLayer = new Map<string, ModelWeight[]>();
  for (const [index, w] of weights.entries()) {
    // "<layer>/<weight>", or for a wrapper's "<layer>/<wrapped>/<weight>".
    const layer = w.name.split("/")[0] ?? "";
    byLayer.set(layer, [...(byLayer.get(layer) ?? []), { tensor: w.tensor, index }]);
  }
  const layers = kerasVariableGroups(config).map(({ places, layerPath }) => ({
    places,
    layer: layerPath.split("/").at(-1) ?? "",
  }));
  const repeated = layers.find((l, i) => layers.findIndex((m) => m.layer === l.layer) !== i);
  // Weights are named by their layer alone, so two layers of one name cannot be told apart.
  if (repeated) {
    throw new ModelbayError(
      Code.FAILED_PRECONDITION,
      `two layers are named "${repeated.layer}"; Keras needs them apart`,
    );
  }
  const groups = layers.flatMap(({ places, layer }) => {
    const tensors = byLayer.get(layer) ?? [];
    byLayer.delete(layer);
    // A Bidirectional layer's two places (forward, backward) hold one half each.
    const share = tensors.length / places.length;
    return places.map((place, k) => ({ place, tensors: tensors.slice(k * share, (k + 1) * share) }));
  });
  if (byLayer.size > 0) {
    throw new ModelbayError(
      Code.FAILED_PRECONDITION,
      `weights of ${[...byLayer.keys()].join(", ")} belong to no layer of the Keras topology`,
    );
  }
  return groups;
}

export async function exportKerasFile(
  spec: ModelSpec,
  snapshot: Pick<ModelSnapshot, "weights" | "optimizer">,
): Promise<KerasExport> {
  if (spec.topology.kind === "keras-json") return exportKerasJsonModel(spec, snapshot);
  const { config, layers } = specToKerasConfig(spec);
  const needed = layers.reduce((n, l) => n + l.weights, 0);
  if (needed !== snapshot.weights.length) {
    throw new ModelbayError(
      Code.FAILED_PRECONDITION,
      `the spec's layers own ${needed} weight tensors, the checkpoint holds ${snapshot.weights.length}`,
    );
  }
  const warnings: string[] = [];
  const optimizerState = snapshot.optimizer.filter((w) => !w.name.startsWith(MODELBAY_STATE_PREFIX));
  // A model that never trained has only an iteration count: Keras then builds a fresh optimizer.
  const hasSlots = optimizerState.length > 1;
  const adam =
    spec.compile.optimizer.kind === "adam" && hasSlots
      ? adamStateToKeras(optimizerState, snapshot.weights.length)
      : undefined;
  if (!adam && hasSlots) warnings.push(`the ${spec.compile.optimizer.kind} optimizer's state is not exported`);

  const h5 = await writeHdf5((file) => {
    let next = 0;
    const groups = kerasWeightGroups(layers.map((l) => l.className));
    layers.forEach((layer, k) => {
      const group = `${groups[k]}/vars`;
      ensureGroup(file, group).create_attribute("name", layer.name);
      for (let i = 0; i < layer.weights; i++) {
        const w = snapshot.weights[next++] as NamedTensorData;
        file.create_dataset(datasetArgs(`${group}/${i}`, w.tensor));
      }
    });
    ensureGroup(file, "vars").create_attribute("name", "sequential");
    if (adam) writeAdam(file, adam, spec.compile.optimizer.learningRate);
  });
  return { bytes: kerasZip(config, h5), warnings };
}

/**
 * A model with a Keras 3 topology: its config as it came, its weights per layer, and Adam's state
 * in Keras' order: (m, v) per trainable variable, layer by layer. The snapshot's first weights are
 * the trainable ones, in the order of the optimizer's slots (every m, then every v).
 */
async function exportKerasJsonModel(
  spec: ModelSpec,
  snapshot: Pick<ModelSnapshot, "weights" | "optimizer">,
): Promise<KerasExport> {
  const config = kerasJsonToKerasConfig(spec);
  const groups = weightsByKerasGroup(config, snapshot.weights);
  const optimizerState = snapshot.optimizer.filter((w) => !w.name.startsWith(MODELBAY_STATE_PREFIX));
  const trainable = (optimizerState.length - 1) / 2;
  let adam: KerasAdamState | undefined;
  if (spec.compile.optimizer.kind === "adam" && trainable >= 1) {
    const inModelOrder = adamStateToKeras(optimizerState, trainable);
    const slotsOf = (index: number) => inModelOrder.slots.slice(2 * index, 2 * index + 2);
    adam = {
      iterations: inModelOrder.iterations,
      slots: groups.flatMap((g) => g.tensors.filter((w) => w.index < trainable).flatMap((w) => slotsOf(w.index))),
    };
  }
  const warnings =
    !adam && optimizerState.length > 1 ? [`the ${spec.compile.optimizer.kind} optimizer's state is not exported`] : [];
  const h5 = await writeHdf5((file) => {
    for (const { place, tensors } of groups) {
      ensureGroup(file, place);
      for (const [i, w] of tensors.entries()) file.create_dataset(datasetArgs(`${place}/${i}`, w.tensor));
    }
    if (adam) writeAdam(file, adam, spec.compile.optimizer.learningRate);
  });
  return { bytes: kerasZip(config, h5), warnings };
}

/** Adam's variables as Keras keeps them: iterations, learning rate, then (m, v) per variable. */
function writeAdam(file: Hdf5File, adam: KerasAdamState, learningRate = 0.001): void {
  ensureGroup(file, "optimizer/vars").create_attribute("name", "adam");
  const iterations = BigInt64Array.of(BigInt(Number(adam.iterations.data[0] ?? 0)));
  file.create_dataset({ name: "optimizer/vars/0", data: iterations, shape: [], dtype: "<q" });
  file.create_dataset({ name: "optimizer/vars/1", data: Float32Array.of(learningRate), shape: [], dtype: "<f" });
  for (const [i, slot] of adam.slots.entries()) file.create_dataset(datasetArgs(`optimizer/vars/${i + 2}`, slot));
}

function kerasZip(config: Record<string, unknown>, h5: ArrayBuffer | Uint8Array): Uint8Array {
  const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  return zipSync(
    {
      "metadata.json": text({
        keras_version: KERAS_VERSION,
        date_saved: new Date().toISOString(),
        exported_by: "modelbay",
      }),
      "config.json": text(config),
      "model.weights.h5": new Uint8Array(h5),
    },
    { level: 0 },
  );
}
