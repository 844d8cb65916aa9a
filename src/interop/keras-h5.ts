// Keras models saved whole as HDF5 (`model.save("model.h5")`): the format of TensorFlow 2's Keras
// (tf-keras) and the one Keras 3 still writes for a ".h5" name. The file's attributes hold the model's
// config (model_config) and its compile settings (training_config); model_weights/<layer> holds
// each layer's variables, named in its weight_names attribute in Keras' order (a nested model's
// group holds those of its layers); optimizer_weights holds the optimizer's step and slots.
import fs from "node:fs/promises";
import type { File as Hdf5File } from "h5wasm/node";
import type { NamedTensorData } from "../compute/engine.js";
import { KERAS_MODEL_CLASSES } from "../compute/keras3-topology.js";
import type { TensorData } from "../compute/tensor-data.js";
import { Code, ModelbayError } from "../errors.js";
import { isJsonObject } from "../json-object.js";
import { namedDataset, readHdf5, textAttribute, textListAttribute } from "./hdf5.js";
import { kerasConfigToSpec } from "./keras-config.js";
import { type ImportedTrainable, kerasOptimizerState } from "./keras-file.js";

const bad = (file: string, what: string) => new ModelbayError(Code.INVALID_ARGUMENT, `${file}: ${what}`);

function parsedAttribute(text: string | undefined, what: string, label: string): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (isJsonObject(parsed)) return parsed;
  } catch {}
  throw bad(label, `its ${what} attribute is not a JSON object`);
}

/** training_config as the compile_config of a .keras file: optimizer, loss, metrics. */
function compileConfig(training: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!training) return undefined;
  const optimizer = training.optimizer_config;
  return {
    loss: training.loss,
    metrics: training.metrics,
    // tf-keras registers its optimizers as "Custom>Adam".
    optimizer:
      isJsonObject(optimizer) && typeof optimizer.class_name === "string"
        ? { ...optimizer, class_name: optimizer.class_name.replace(/^Custom>/, "") }
        : optimizer,
  };
}

/** Names of the layers of `config` that are models (their groups hold their layers' variables). */
function nestedModels(config: Record<string, unknown>): Set<string> {
  const layers = isJsonObject(config.config) && Array.isArray(config.config.layers) ? config.config.layers : [];
  return new Set(
    layers
      .filter((l) => isJsonObject(l) && KERAS_MODEL_CLASSES.has(l.class_name as string) && isJsonObject(l.config))
      .map((l) => (l as { config: { name?: unknown } }).config.name)
      .filter((n): n is string => typeof n === "string"),
  );
}

/**
 * A layer's variables by layer path ("<layer>/vars/<i>", for a nested model's layers
 * "<model>/<layer>/vars/<i>"), as src/compute/layer-tree.ts names a built model's.
 */
function layerPathsOf(layer: string, weightNames: readonly string[], nested: boolean): string[] {
  if (!nested) return weightNames.map((_, i) => `${layer}/vars/${i}`);
  const counts = new Map<string, number>();
  return weightNames.map((name) => {
    // Keras 3 names them "<model>/<layer>/<variable>", tf-keras "<layer>/<variable>".
    const inner = (name.startsWith(`${layer}/`) ? name.slice(layer.length + 1) : name).split("/")[0] ?? "";
    const i = counts.get(inner) ?? 0;
    counts.set(inner, i + 1);
    return `${layer}/${inner}/vars/${i}`;
  });
}

/** The optimizer's step and its slots in Keras' order, (m, v) per trainable variable, by their names. */
function optimizerVariables(
  names: readonly string[],
  read: (name: string) => TensorData,
): { iterations: TensorData | undefined; slots: TensorData[] } {
  const m = names.filter((n) => /(\/m\/|\/m:0$|_momentum$)/.test(n));
  const v = names.filter((n) => /(\/v\/|\/v:0$|_velocity$)/.test(n));
  const step = names.find((n) => /(^|\/)iter(ation)?(:0)?$/.test(n));
  if (m.length !== v.length) return { iterations: undefined, slots: [] };
  return {
    iterations: step === undefined ? undefined : read(step),
    slots: m.flatMap((name, k) => [read(name), read(v[k] as string)]),
  };
}

export async function readKerasH5File(file: string, label: string): Promise<ImportedTrainable> {
  const bytes = await fs.readFile(file);
  let read: ReturnType<typeof readModel>;
  try {
    read = await readHdf5(bytes, (h5) => readModel(h5, label));
  } catch (err) {
    if (err instanceof ModelbayError) throw err;
    throw bad(label, `not readable HDF5 (${err instanceof Error ? err.message : String(err)})`);
  }
  const { spec, weights, iterations, slots } = read;
  return { spec, weights, ...kerasOptimizerState(spec, weights, iterations, slots) };
}

function readModel(h5: Hdf5File, label: string) {
  const config = parsedAttribute(textAttribute(h5, "", "model_config"), "model_config", label);
  if (!config) {
    throw bad(
      label,
      "holds no model_config: it is a weights file (model.save_weights); modelbay restores a whole model saved as .h5, or Keras 3 weights (.weights.h5)",
    );
  }
  const training = parsedAttribute(textAttribute(h5, "", "training_config"), "training_config", label);
  const spec = kerasConfigToSpec({ ...config, compile_config: compileConfig(training) });
  const nested = nestedModels(config);
  const weights: NamedTensorData[] = textListAttribute(h5, "model_weights", "layer_names", label).flatMap((layer) => {
    const names = textListAttribute(h5, `model_weights/${layer}`, "weight_names", label);
    const paths = layerPathsOf(layer, names, nested.has(layer));
    return names.map((name, i) => ({
      name: paths[i] as string,
      tensor: namedDataset(h5, `model_weights/${layer}/${name}`, label),
    }));
  });
  if (weights.length === 0) throw bad(label, "model_weights holds no weights");
  const optimizerNames = h5.get("optimizer_weights")
    ? textListAttribute(h5, "optimizer_weights", "weight_names", label)
    : [];
  const { iterations, slots } = optimizerVariables(optimizerNames, (name) =>
    namedDataset(h5, `optimizer_weights/${name}`, label),
  );
  return { spec, weights, iterations, slots };
}
