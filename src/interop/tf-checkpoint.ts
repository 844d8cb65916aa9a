// TensorFlow checkpoints of Keras models (model.save_weights / ModelCheckpoint with
// save_weights_only, or tf.train.Checkpoint(model=..., optimizer=...)) loaded into a modelbay spec.
// A variable's key names its layer as "layer_with_weights-<n>" (the n-th of the model's layers that
// has weights; a nested model's by a path of such names) and then the variable by attribute
// ("kernel", "forward_layer/cell/bias", "moving_mean"). Each goes by
// "layer_with_weights-<n>/vars/<i>", i its place in Keras' order of the layer's variables (the
// order they are made in), which the device matches to the built model's layers.
import type { NamedTensorData } from "../compute/engine.js";
import type { ModelSpec } from "../compute/model-spec.js";
import type { TensorData } from "../compute/tensor-data.js";
import { Code, ModelbayError } from "../errors.js";
import { type ImportedTrainable, kerasOptimizerState } from "./keras-file.js";
import { TensorBundle } from "./tensor-bundle.js";

const VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE";
const SLOT_MARK = "/.OPTIMIZER_SLOT/";
// Keras makes a layer's variables in this order: Dense, convolutions (depthwise, then pointwise),
// recurrent cells, batch and layer normalization, Embedding, PReLU.
const VARIABLE_RANK: Record<string, number> = {
  kernel: 0,
  depthwise_kernel: 0,
  embeddings: 0,
  alpha: 0,
  gamma: 0,
  pointwise_kernel: 1,
  recurrent_kernel: 1,
  beta: 1,
  bias: 2,
  moving_mean: 3,
  moving_variance: 4,
};

/** A variable's layer ("layer_with_weights-2", or a nested model's "layer_with_weights-0/layer_with_weights-1") and its place in it. */
function placeOf(key: string): { layer: string; inner: string[] } {
  const parts = key.split("/");
  let last = -1;
  parts.forEach((p, i) => {
    if (/^layer_with_weights-\d+$/.test(p)) last = i;
  });
  return { layer: parts.slice(0, last + 1).join("/"), inner: parts.slice(last + 1) };
}

const layerNumbers = (layer: string) => [...layer.matchAll(/layer_with_weights-(\d+)/g)].map((m) => Number(m[1]));

function compareLayers(a: string, b: string): number {
  const na = layerNumbers(a);
  const nb = layerNumbers(b);
  for (let i = 0; i < Math.min(na.length, nb.length); i++) if (na[i] !== nb[i]) return (na[i] ?? 0) - (nb[i] ?? 0);
  return na.length - nb.length;
}

// The layers inside a layer, in the order Keras makes them: a Bidirectional's two, a
// MultiHeadAttention's projections.
const INNER_LAYER_RANK: Record<string, number> = {
  forward_layer: 0,
  backward_layer: 1,
  _query_dense: 0,
  _key_dense: 1,
  _value_dense: 2,
  _output_dense: 3,
};

/** Within a layer: its inner layers in Keras' order (see INNER_LAYER_RANK), then Keras' order of making. */
function compareInLayer(a: string[], b: string[]): number {
  const inner = (p: string[]) => INNER_LAYER_RANK[p[0] ?? ""] ?? 0;
  const rank = (p: string[]) => VARIABLE_RANK[p.at(-1) ?? ""] ?? Object.keys(VARIABLE_RANK).length;
  return inner(a) - inner(b) || rank(a) - rank(b) || a.join("/").localeCompare(b.join("/"));
}

function isModelVariable(name: string): boolean {
  return (
    !name.startsWith("optimizer/") && !name.includes(SLOT_MARK) && name !== "save_counter" && !name.startsWith("_")
  );
}

/** The optimizer's iteration count and slots in Keras' order, (m, v) per trainable variable. */
async function kerasOptimizerSlots(
  bundle: TensorBundle,
  weightKeys: string[],
): Promise<{ iterations: TensorData | undefined; slots: TensorData[] }> {
  const has = (k: string) => bundle.entries.has(k + VALUE_SUFFIX);
  const read = (k: string) => bundle.read(k + VALUE_SUFFIX);
  const iterKey = ["optimizer/_iterations", "optimizer/iter"].find(has);
  if (!iterKey) return { iterations: undefined, slots: [] };
  // Keras 2.11+ optimizers: optimizer/_variables/1.. hold (m, v) per variable in variable order.
  const numbered = [...bundle.entries.keys()]
    .map((k) => /^optimizer\/_variables\/(\d+)\/\.ATTRIBUTES\/VARIABLE_VALUE$/.exec(k))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .filter((i) => i > 0)
    .sort((a, b) => a - b);
  const keys =
    numbered.length > 0
      ? numbered.map((i) => `optimizer/_variables/${i}`)
      : // Legacy optimizers: slots stored under the name of each trainable variable.
        weightKeys
          .filter((w) => has(`${w}${SLOT_MARK}optimizer/m`))
          .flatMap((w) => [`${w}${SLOT_MARK}optimizer/m`, `${w}${SLOT_MARK}optimizer/v`]);
  if (!keys.every(has)) return { iterations: undefined, slots: [] };
  return { iterations: await read(iterKey), slots: await Promise.all(keys.map(read)) };
}

/**
 * Loads the checkpoint at `prefix` as weights (and Adam state, when present) for `spec`. Shapes are
 * checked when the model is built from the spec; here, the count of variables.
 */
export async function readTfCheckpoint(prefixPath: string, spec: ModelSpec, label: string): Promise<ImportedTrainable> {
  const bundle = await TensorBundle.open(prefixPath);
  const variables = [...bundle.entries.keys()]
    .filter((k) => k.endsWith(VALUE_SUFFIX))
    .map((k) => k.slice(0, -VALUE_SUFFIX.length));
  // tf.train.Checkpoint(model=..., optimizer=...) nests everything under "model/".
  const nested = variables.some((k) => k.startsWith("model/"));
  const modelPrefix = nested ? "model/" : "";
  const places = variables
    .filter((k) => k.startsWith(modelPrefix) && isModelVariable(k.slice(modelPrefix.length)))
    .map((key) => ({ key, ...placeOf(key.slice(modelPrefix.length)) }))
    .sort((a, b) => compareLayers(a.layer, b.layer) || compareInLayer(a.inner, b.inner));
  if (places.length === 0) {
    throw new ModelbayError(Code.INVALID_ARGUMENT, `${label}: the checkpoint holds no model variables`);
  }
  const inLayer = new Map<string, number>();
  const weights: NamedTensorData[] = await Promise.all(
    places.map(async ({ key, layer }) => {
      const i = inLayer.get(layer) ?? 0;
      inLayer.set(layer, i + 1);
      return { name: `${layer}/vars/${i}`, tensor: await bundle.read(key + VALUE_SUFFIX), calledInFile: key };
    }),
  );
  const { iterations, slots } = await kerasOptimizerSlots(
    bundle,
    places.map((p) => p.key),
  );
  if (slots.length === 0) {
    return {
      spec,
      weights,
      optimizer: [],
      warnings: ["the checkpoint holds no optimizer state; training starts the optimizer afresh"],
    };
  }
  return { spec, weights, ...kerasOptimizerState(spec, weights, iterations, slots) };
}
