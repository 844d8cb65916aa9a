// TensorFlow checkpoints of Keras models (model.save_weights / ModelCheckpoint with
// save_weights_only, or tf.train.Checkpoint(model=..., optimizer=...)) loaded into a modelbay spec.
// Variables are matched to the spec's weights by their position: layer_with_weights-N in order,
// kernel before bias, as Keras and TensorFlow.js both order a layer's weights.
import type { NamedTensorData } from "../compute/engine.js";
import type { ModelSpec } from "../compute/model-spec.js";
import type { TensorData } from "../compute/tensor-data.js";
import { Code, ModelbayError } from "../errors.js";
import type { ImportedTrainable } from "./keras-file.js";
import { adamStateFromKeras } from "./optimizer-slots.js";
import { TensorBundle } from "./tensor-bundle.js";

const VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE";
const SLOT_MARK = "/.OPTIMIZER_SLOT/";
const WEIGHT_RANK: Record<string, number> = { kernel: 0, bias: 1 };

/** Sort key of a model variable: its layer's position, then its place within the layer. */
function weightOrder(key: string): [number, number, string] {
  const layer = /layer_with_weights-(\d+)\//.exec(key);
  const last = key.split("/").pop() ?? "";
  return [layer ? Number(layer[1]) : Number.MAX_SAFE_INTEGER, WEIGHT_RANK[last] ?? 2, key];
}

function compareOrder(a: string, b: string): number {
  const [la, ra, ka] = weightOrder(a);
  const [lb, rb, kb] = weightOrder(b);
  return la - lb || ra - rb || ka.localeCompare(kb);
}

function isModelVariable(name: string): boolean {
  return (
    !name.startsWith("optimizer/") && !name.includes(SLOT_MARK) && name !== "save_counter" && !name.startsWith("_")
  );
}

/** The optimizer's iteration count and slots, in either Keras layout, or undefined if absent. */
async function kerasAdamSlots(
  bundle: TensorBundle,
  weightKeys: string[],
): Promise<{ iterations: TensorData; slots: TensorData[] } | undefined> {
  const has = (k: string) => bundle.entries.has(k + VALUE_SUFFIX);
  const read = (k: string) => bundle.read(k + VALUE_SUFFIX);
  const iterKey = ["optimizer/_iterations", "optimizer/iter"].find(has);
  if (!iterKey) return undefined;
  // Keras 2.11+ optimizers: optimizer/_variables/1.. hold (m, v) per variable in variable order.
  const numbered = [...bundle.entries.keys()]
    .map((k) => /^optimizer\/_variables\/(\d+)\/\.ATTRIBUTES\/VARIABLE_VALUE$/.exec(k))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .filter((i) => i > 0)
    .sort((a, b) => a - b);
  if (numbered.length > 0) {
    return {
      iterations: await read(iterKey),
      slots: await Promise.all(numbered.map((i) => read(`optimizer/_variables/${i}`))),
    };
  }
  // Legacy optimizers: a slot per variable, stored under the variable's own name.
  const legacy = weightKeys.flatMap((w) => [`${w}${SLOT_MARK}optimizer/m`, `${w}${SLOT_MARK}optimizer/v`]);
  if (!legacy.every(has)) return undefined;
  return { iterations: await read(iterKey), slots: await Promise.all(legacy.map(read)) };
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
  const weightKeys = variables
    .filter((k) => k.startsWith(modelPrefix) && isModelVariable(k.slice(modelPrefix.length)))
    .sort(compareOrder);
  if (weightKeys.length === 0) {
    throw new ModelbayError(Code.INVALID_ARGUMENT, `${label}: the checkpoint holds no model variables`);
  }
  const weights = await Promise.all(
    weightKeys.map(async (k) => ({ name: k, tensor: await bundle.read(k + VALUE_SUFFIX) })),
  );
  const warnings: string[] = [];
  let optimizer: NamedTensorData[] = [];
  const adam = await kerasAdamSlots(bundle, weightKeys);
  if (adam && spec.compile.optimizer.kind === "adam") optimizer = adamStateFromKeras(adam, weights);
  else if (adam)
    warnings.push(
      `the checkpoint's optimizer state was not imported: the spec trains with ${spec.compile.optimizer.kind}`,
    );
  else warnings.push("the checkpoint holds no optimizer state; training starts the optimizer afresh");
  return { spec, weights, optimizer, warnings };
}
