// Keras 3's `model.to_json()` in the Keras 2 form TensorFlow.js reads. TensorFlow 2.16 and later
// write Keras 3 JSON, which TensorFlow.js 4 cannot build from: InputLayer's `batch_shape`, dtype
// policies as objects, functional layers' inbound nodes as call arguments holding tensors, single
// inputs and outputs as one reference instead of a list, and calls to a nested model numbered
// without its own input node. Layer classes and configs are the same, but for one activation:
// Keras 3's hard_sigmoid is not Keras 2's (src/compute/keras-activations.ts). Keras 2 JSON passes
// unchanged, but for calls of Keras' attention layers (src/compute/keras-attention-calls.ts) and
// calls that take one tensor twice (withRepeatedInputsCopied).
import { Code, ModelbayError } from "../errors.js";
import { isJsonObject } from "../json-object.js";
import { attentionCallsForTfjs } from "./keras-attention-calls.js";

type Json = Record<string, unknown>;

/** A dtype policy object (`{"class_name": "DTypePolicy", "config": {"name": "float32"}}`) as its name. */
function dtypeName(dtype: unknown): unknown {
  return isJsonObject(dtype) && isJsonObject(dtype.config) && typeof dtype.config.name === "string"
    ? dtype.config.name
    : dtype;
}

/** Dtype policies as names, at every depth (layers, and layers of nested models). */
function withDtypeNames(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withDtypeNames);
  if (!isJsonObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, k === "dtype" ? dtypeName(v) : withDtypeNames(v)]),
  );
}

/** The name a Keras 3 topology's "hard_sigmoid" is given here (src/compute/keras-activations.ts). */
export const KERAS3_HARD_SIGMOID = "keras3HardSigmoid";

/** A layer's name, as calls refer to it. */
const nameOf = (l: unknown) => (isJsonObject(l) ? String(l.name ?? (isJsonObject(l.config) ? l.config.name : "")) : "");

/** A reference to a layer's output: [layer name, node index, tensor index, ...]. */
type Ref = unknown[];

/** The layer outputs a Keras 3 call's arguments hold, in order: `keras_history` is [layer, node, tensor]. */
function tensorsIn(args: unknown, found: Ref[] = []): Ref[] {
  if (Array.isArray(args)) for (const a of args) tensorsIn(a, found);
  else if (isJsonObject(args)) {
    const history = isJsonObject(args.config) ? args.config.keras_history : undefined;
    if (args.class_name === "__keras_tensor__" && Array.isArray(history)) found.push([...history, {}]);
    else for (const v of Object.values(args)) tensorsIn(v, found);
  }
  return found;
}

const isKeras3Node = (node: unknown) => isJsonObject(node) && "args" in node;

/** `["x", 0, 0]` (Keras 3 with one input or output) as `[["x", 0, 0]]`. */
/**
 * A model's inputs or outputs as a list of references. Keras 3 writes one alone as the reference
 * itself, and a model called with dicts (`keras.Model({"a": a, "b": b}, {...})`) as a dict, which it
 * flattens in the order of its keys: so does this, and Predict takes and gives them in that order.
 */
const listOfRefs = (refs: unknown) => {
  if (isJsonObject(refs))
    return Object.keys(refs)
      .sort()
      .map((key) => refs[key]);
  return Array.isArray(refs) && typeof refs[0] === "string" ? [refs] : refs;
};

/**
 * Calls that take one tensor twice (`Multiply()([x, x])`, attention of a tensor to itself) take a
 * copy of it the second time, made by an Identity layer added before them. TensorFlow.js' executor
 * counts a tensor's takers by layer but lets go of it once per input, so it freed such a tensor
 * before the other layers that take it ran.
 */
function withRepeatedInputsCopied(layers: unknown[]): unknown[] {
  const names = new Set(layers.map(nameOf));
  return layers.flatMap((l) => {
    if (!isJsonObject(l) || !Array.isArray(l.inbound_nodes)) return [l];
    const copies: Json[] = [];
    const nodes = l.inbound_nodes.map((node) => {
      if (!Array.isArray(node)) return node;
      const seen = new Set<string>();
      return node.map((ref) => {
        if (!Array.isArray(ref)) return ref;
        const source = JSON.stringify(ref.slice(0, 3));
        if (!seen.has(source)) {
          seen.add(source);
          return ref;
        }
        let name = `${nameOf(l)}_copy`;
        for (let k = 1; names.has(name); k++) name = `${nameOf(l)}_copy_${k}`;
        names.add(name);
        copies.push({ class_name: "Identity", name, config: { name }, inbound_nodes: [[[...ref.slice(0, 3), {}]]] });
        return [name, 0, 0, ...ref.slice(3)];
      });
    });
    return [...copies, { ...l, inbound_nodes: nodes }];
  });
}

/** Keras' model classes: a layer of one of these is a model nested in another. */
export const KERAS_MODEL_CLASSES: ReadonlySet<string> = new Set(["Sequential", "Functional", "Model"]);

function layer(given: unknown): unknown {
  const value = attentionCallsForTfjs(given);
  if (!isJsonObject(value) || !isJsonObject(value.config)) return value;
  const config: Json = { ...value.config };
  if (value.class_name === "InputLayer" && config.batch_shape !== undefined && config.batch_input_shape === undefined) {
    config.batch_input_shape = config.batch_shape;
    delete config.batch_shape;
  }
  // A model nested as a layer.
  if (Array.isArray(config.layers)) Object.assign(config, modelConfig(config));
  return { ...value, config };
}

function modelConfig(config: Json): Json {
  const layers = (config.layers as unknown[]).map(layer);
  const out: Json = { ...config, layers };
  const keras3 = layers.some(
    (l) => isJsonObject(l) && Array.isArray(l.inbound_nodes) && l.inbound_nodes.some(isKeras3Node),
  );
  if (!keras3) return { ...out, layers: withRepeatedInputsCopied(layers) };
  // Keras 2 and TensorFlow.js count a nested model's own first node (its input) when they number
  // the calls to it; Keras 3 does not.
  const models = new Set(
    layers.flatMap((l) =>
      isJsonObject(l) && KERAS_MODEL_CLASSES.has(l.class_name as string)
        ? [l.config && (l.config as Json).name, l.name]
        : [],
    ),
  );
  const shifted = (ref: Ref): Ref =>
    models.has(ref[0]) && typeof ref[1] === "number" ? [ref[0], ref[1] + 1, ...ref.slice(2)] : ref;
  out.layers = layers.map((l) =>
    isOperation(l)
      ? operationLayer(l, shifted)
      : isJsonObject(l) && Array.isArray(l.inbound_nodes)
        ? {
            ...l,
            inbound_nodes: l.inbound_nodes.map((n) => (isKeras3Node(n) ? tensorsIn((n as Json).args).map(shifted) : n)),
          }
        : l,
  );
  for (const key of ["input_layers", "output_layers"]) {
    const refs = listOfRefs(out[key]);
    if (Array.isArray(refs)) out[key] = refs.map((r) => (Array.isArray(r) ? shifted(r) : r));
  }
  out.layers = withRepeatedInputsCopied(withoutUnusedOperations(out.layers as unknown[], out.output_layers));
  return out;
}

/**
 * Whether a topology was written by Keras 3, whose InputLayer has `batch_shape` (Keras 2's has
 * `batch_input_shape`). Keras 3 writes an InputLayer into every built model's JSON, Sequential too.
 */
function writtenByKeras3(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(writtenByKeras3);
  if (!isJsonObject(value)) return false;
  if (value.class_name === "InputLayer" && isJsonObject(value.config) && "batch_shape" in value.config) return true;
  return Object.values(value).some(writtenByKeras3);
}

/** Keras 3's "hard_sigmoid" under its own name here, at every depth. */
function withKeras3HardSigmoid(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withKeras3HardSigmoid);
  if (!isJsonObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      (k === "activation" || k === "recurrent_activation") && v === "hard_sigmoid"
        ? KERAS3_HARD_SIGMOID
        : withKeras3HardSigmoid(v),
    ]),
  );
}

/** Keras' merge layers, whose masks src/compute/keras-merge-masks.ts computes. */
export const KERAS_MERGE_CLASSES = [
  "Add",
  "Multiply",
  "Average",
  "Maximum",
  "Minimum",
  "Subtract",
  "Concatenate",
] as const;

/** Keras 3's rule for the mask of a merge (OR, where Keras 2 ANDs), at every depth. */
function withKeras3MergeMasks(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withKeras3MergeMasks);
  if (!isJsonObject(value)) return value;
  const out = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withKeras3MergeMasks(v)]));
  const merge = (KERAS_MERGE_CLASSES as readonly unknown[]).includes(value.class_name) && isJsonObject(out.config);
  return merge ? { ...out, config: { ...(out.config as Json), mask_merge: "or" } } : out;
}

/** A Keras 3 graph operation (`keras.ops` on a model's tensors, and the operators: `x + y`, `x[:, 0]`). */
const isOperation = (l: unknown): l is Json =>
  isJsonObject(l) && typeof l.module === "string" && l.module.startsWith("keras.src.ops");

/**
 * A graph operation as a KerasOperation layer (src/compute/keras-operation-layer.ts): its call's
 * tensors become the layer's inputs, referred to in the arguments as {"input": k}; constants,
 * slices and `...` are spelled in keys TensorFlow.js' camel-casing leaves alone.
 */
function operationLayer(entry: Json, shifted: (ref: Ref) => Ref): Json {
  const nodes = Array.isArray(entry.inbound_nodes) ? entry.inbound_nodes : [];
  const config = isJsonObject(entry.config) ? entry.config : {};
  const name = String(entry.name ?? config.name);
  if (nodes.length !== 1 || !isJsonObject(nodes[0])) {
    throw new ModelbayError(
      Code.INVALID_ARGUMENT,
      `spec.keras_json: Keras operation "${name}" is called ${nodes.length} times; an operation is called once`,
    );
  }
  const refs: Ref[] = [];
  const template = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(template);
    if (!isJsonObject(v)) return v;
    const inner = isJsonObject(v.config) ? v.config : {};
    switch (v.class_name) {
      case "__keras_tensor__":
        if (!Array.isArray(inner.keras_history)) {
          throw new ModelbayError(
            Code.INVALID_ARGUMENT,
            `spec.keras_json: Keras operation "${name}" takes a tensor without keras_history`,
          );
        }
        refs.push(shifted([...inner.keras_history, {}]));
        return { input: refs.length - 1, dtype: inner.dtype };
      case "__tensor__":
      case "__numpy__":
        return { constant: inner.value, dtype: inner.dtype };
      case "__slice__":
        return { slice: [inner.start ?? null, inner.stop ?? null, inner.step ?? null] };
      case "__ellipsis__":
        return { ellipsis: true };
      default:
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, template(x)]));
    }
  };
  const node = nodes[0] as Json;
  const args = template(node.args ?? []);
  const kwargs = template(node.kwargs ?? {});
  const { name: _, ...settings } = config;
  return {
    module: entry.module,
    class_name: "KerasOperation",
    name,
    config: { name, operation: entry.class_name, settings, args, kwargs },
    inbound_nodes: [refs],
  };
}

/**
 * Keras 3 writes the masks it hands a layer by keyword as operations of the graph (an Embedding's
 * `mask_zero` as NotEqual(ids, 0), merged masks as LogicalOr). TensorFlow.js passes masks along
 * itself, so those keywords are not taken here, and operations nothing else takes are left out.
 */
function withoutUnusedOperations(layers: unknown[], outputs: unknown): unknown[] {
  const sources = (refs: unknown): string[] =>
    Array.isArray(refs) ? (typeof refs[0] === "string" ? [refs[0]] : refs.flatMap(sources)) : [];
  let kept = layers;
  for (;;) {
    const used = new Set(sources(outputs));
    for (const l of kept) if (isJsonObject(l)) for (const s of sources(l.inbound_nodes)) used.add(s);
    const next = kept.filter((l) => !isOperation(l) || used.has(nameOf(l)));
    if (next.length === kept.length) return kept;
    kept = next;
  }
}

/** A Keras topology (2 or 3) as TensorFlow.js reads it. */
export function kerasTopologyForTfjs(topology: unknown): unknown {
  const keras3 = writtenByKeras3(topology);
  const plain = withDtypeNames(keras3 ? withKeras3MergeMasks(withKeras3HardSigmoid(topology)) : topology);
  if (!isJsonObject(plain)) return plain;
  const out: Json = { ...plain };
  if (isJsonObject(out.config) && Array.isArray(out.config.layers)) out.config = modelConfig(out.config);
  if (isJsonObject(out.model_config)) out.model_config = kerasTopologyForTfjs(out.model_config);
  return out;
}
