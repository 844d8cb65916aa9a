// Keras 3 model configs (config.json of a .keras file) as modelbay specs: Sequential stacks of Dense
// and Dropout layers as modelbay's own sequential spec, other models as Keras JSON; where each
// layer's weights are in model.weights.h5; and back again for export.

import { KERAS_MODEL_CLASSES } from "../compute/keras3-topology.js";
import {
  ACTIVATIONS,
  type Activation,
  type CompileSpec,
  DEFAULT_INPUT_NAME,
  DEFAULT_OUTPUT_NAME,
  type LayerSpec,
  type LossKind,
  type MetricKind,
  type ModelSpec,
  type OptimizerSpec,
} from "../compute/model-spec.js";
import { checkedSpec } from "../compute/spec-check.js";
import { Code, ModelbayError } from "../errors.js";
import { isJsonObject } from "../json-object.js";

interface KerasObject {
  class_name: string;
  config: Record<string, unknown>;
}

const LOSSES: Record<string, LossKind> = {
  mse: "mean_squared_error",
  mean_squared_error: "mean_squared_error",
  mae: "mean_absolute_error",
  mean_absolute_error: "mean_absolute_error",
  binary_crossentropy: "binary_crossentropy",
  categorical_crossentropy: "categorical_crossentropy",
  sparse_categorical_crossentropy: "sparse_categorical_crossentropy",
};
const METRICS: Record<string, MetricKind> = {
  mae: "mean_absolute_error",
  mean_absolute_error: "mean_absolute_error",
  mse: "mean_squared_error",
  mean_squared_error: "mean_squared_error",
  accuracy: "accuracy",
};

const unsupported = (what: string) =>
  new ModelbayError(Code.INVALID_ARGUMENT, `${what}; modelbay cannot import this model`);

const malformed = (what: string) => new ModelbayError(Code.INVALID_ARGUMENT, `config.json: ${what}`);

/** A serialized Keras object: a class name and a config object (anything else is malformed). */
const isObject = (v: unknown): v is KerasObject =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as KerasObject).class_name === "string" &&
  typeof (v as KerasObject).config === "object" &&
  (v as KerasObject).config !== null;

function num(v: unknown): number | undefined {
  return typeof v === "number" ? v : undefined;
}

/** A config entry that is either a plain name ("mse") or a serialized Keras object. */
function nameOf(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObject(v)) return (v.config.name as string | undefined) ?? v.class_name;
  return undefined;
}

function layerOf(layer: KerasObject, where: string): LayerSpec {
  const c = layer.config;
  const name = typeof c.name === "string" ? c.name : undefined;
  if (layer.class_name === "Dense") {
    const activation = (nameOf(c.activation) ?? "linear") as Activation;
    if (!(ACTIVATIONS as readonly string[]).includes(activation))
      throw unsupported(`${where} (${name}) uses activation "${activation}"`);
    const units = c.units;
    if (typeof units !== "number" || !Number.isInteger(units) || units <= 0)
      throw malformed(`${where} (${name}) has units ${JSON.stringify(units)}; expected a positive integer`);
    return { kind: "dense", units, activation, useBias: c.use_bias !== false, ...(name ? { name } : {}) };
  }
  if (layer.class_name === "Dropout") {
    const rate = c.rate;
    if (typeof rate !== "number" || !(rate >= 0 && rate < 1))
      throw malformed(`${where} (${name}) has rate ${JSON.stringify(rate)}; expected a number in [0, 1)`);
    return { kind: "dropout", rate, ...(name ? { name } : {}) };
  }
  throw unsupported(`${where} (${name}) is a ${layer.class_name} layer`);
}

const OPTIMIZERS: Record<string, OptimizerSpec["kind"]> = { Adam: "adam", SGD: "sgd", RMSprop: "rmsprop" };

function optimizerOf(o: unknown): OptimizerSpec {
  if (!isObject(o)) return { kind: "adam" };
  const kind = OPTIMIZERS[o.class_name];
  if (!kind) throw unsupported(`the optimizer is ${o.class_name} (modelbay trains with Adam, SGD or RMSprop)`);
  const c = o.config;
  const params: Record<string, number | undefined> = {
    learningRate: num(c.learning_rate),
    ...(kind === "adam" ? { beta1: num(c.beta_1), beta2: num(c.beta_2) } : {}),
    ...(kind !== "sgd" ? { epsilon: num(c.epsilon) } : {}),
    ...(kind !== "adam" ? { momentum: num(c.momentum) } : {}),
    ...(kind === "rmsprop" ? { rho: num(c.rho) } : {}),
  };
  // Hyperparameters Keras left out take the Keras defaults, as an absent OptimizerSpec field does.
  return { kind, ...Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) };
}

/**
 * The one loss a model was compiled with. A model of several outputs may list one per output (a
 * list, or a dict by output name): modelbay trains on the sum of one loss over every output, which
 * is what Keras does when each output has the same loss and no loss_weights. Other losses per
 * output leave the model without a loss: it restores and predicts, and is not trained here.
 */
function lossNameOf(compile: Record<string, unknown>): string | undefined {
  const { loss } = compile;
  const perOutput = Array.isArray(loss)
    ? loss
    : isJsonObject(loss) && !isObject(loss)
      ? Object.values(loss)
      : undefined;
  if (!perOutput) return nameOf(loss);
  const names = [...new Set(perOutput.map((l) => nameOf(l) ?? JSON.stringify(l)))];
  const weights = compile.loss_weights;
  const weightList = Array.isArray(weights) ? weights : isJsonObject(weights) ? Object.values(weights) : [];
  return names.length === 1 && weightList.every((w) => w === 1) ? names[0] : undefined;
}

function compileOf(compile: Record<string, unknown> | undefined): CompileSpec {
  if (!compile) return { optimizer: { kind: "adam" }, metrics: [] };
  const lossName = lossNameOf(compile);
  const loss = lossName === undefined ? undefined : LOSSES[lossName];
  if (lossName !== undefined && !loss) throw unsupported(`the model was compiled with loss "${lossName}"`);
  const metrics = (Array.isArray(compile.metrics) ? compile.metrics : [])
    .map(nameOf)
    .map((m) => (m === undefined ? undefined : METRICS[m]))
    .filter((m): m is MetricKind => m !== undefined);
  return { optimizer: optimizerOf(compile.optimizer), ...(loss ? { loss } : {}), metrics };
}

/** A Sequential stack of Dense (with an activation modelbay names) and Dropout layers. */
function isDenseStack(config: KerasObject): boolean {
  const layers = config.config.layers;
  return (
    config.class_name === "Sequential" &&
    Array.isArray(layers) &&
    layers.every(
      (l) =>
        isObject(l) &&
        (["InputLayer", "Dropout"].includes(l.class_name) ||
          (l.class_name === "Dense" &&
            (ACTIVATIONS as readonly string[]).includes(nameOf(l.config.activation) ?? "linear"))),
    )
  );
}

/**
 * A Keras 3 model config as a modelbay spec: a Sequential stack of Dense and Dropout layers as
 * modelbay's own sequential spec (which it predicts with its fastest path and exports back to
 * .keras); any other model as a Keras JSON spec, which TensorFlow.js builds (naming what it cannot).
 */
export function kerasConfigToSpec(config: unknown): ModelSpec {
  if (!isObject(config)) throw malformed("not a Keras model config");
  const compile = (config as unknown as { compile_config?: Record<string, unknown> }).compile_config;
  if (!isDenseStack(config)) {
    if (!KERAS_MODEL_CLASSES.has(config.class_name)) throw unsupported(`the model class is ${config.class_name}`);
    const { compile_config: _, ...topology } = config as KerasObject & { compile_config?: unknown };
    return checkedSpec(
      {
        topology: { kind: "keras-json", json: JSON.stringify(topology) },
        blocks: [],
        compile: compileOf(isJsonObject(compile) ? compile : undefined),
        inputName: DEFAULT_INPUT_NAME,
        outputName: DEFAULT_OUTPUT_NAME,
        preprocessing: "",
      },
      (problem) => malformed(`the model it describes has ${problem}`),
    );
  }
  const layers = (config.config.layers ?? []) as KerasObject[];
  if (!Array.isArray(layers)) throw malformed("config.layers is not a list");
  let inputShape: number[] | undefined;
  let inputName = "input";
  const specLayers: LayerSpec[] = [];
  layers.forEach((layer, i) => {
    if (!isObject(layer)) throw malformed(`layer ${i} is malformed`);
    if (layer.class_name === "InputLayer") {
      const shape = layer.config.batch_shape ?? layer.config.batch_input_shape;
      if (shape !== undefined && !Array.isArray(shape))
        throw malformed(`layer ${i} has a batch shape that is not a list`);
      inputShape = shape?.slice(1).map(Number);
      if (typeof layer.config.name === "string") inputName = layer.config.name;
    } else {
      specLayers.push(layerOf(layer, `layer ${i}`));
    }
  });
  const built = config.config.build_input_shape ?? [];
  if (!Array.isArray(built)) throw malformed("build_input_shape is not a list");
  inputShape ??= built.slice(1).map(Number);
  if (inputShape.length === 0 || inputShape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw unsupported("the model has no fixed input shape");
  }
  const spec = {
    topology: { kind: "sequential", inputShape, layers: specLayers },
    blocks: [],
    compile: compileOf(isJsonObject(compile) ? compile : undefined),
    inputName,
    outputName: DEFAULT_OUTPUT_NAME,
    preprocessing: "",
  };
  // What the lines above did not check one by one (optimizer settings, names), checked once.
  return checkedSpec(spec, (problem) => malformed(`the model it describes has ${problem}`));
}

/**
 * Where Keras 3 keeps each layer's variables in model.weights.h5: "layers/<name>", where the name is
 * the layer's class in snake case, numbered per class ("dense", "dense_1", ...) whatever the layers
 * are called.
 */
export function kerasWeightGroups(classNames: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return classNames.map((className) => {
    // Keras' own to_snake_case: "BatchNormalization" -> "batch_normalization", "Conv2D" -> "conv2d".
    const snake = className
      .replace(/\W+/g, "")
      .replace(/(.)([A-Z][a-z]+)/g, "$1_$2")
      .replace(/([a-z])([A-Z])/g, "$1_$2")
      .toLowerCase();
    const n = seen.get(snake) ?? 0;
    seen.set(snake, n + 1);
    return `layers/${n === 0 ? snake : `${snake}_${n}`}`;
  });
}

const RNN_CLASSES = new Set(["SimpleRNN", "LSTM", "GRU"]);

/**
 * The HDF5 groups that hold a layer's variables, in TensorFlow.js' order of its weights: its own
 * "vars", a recurrent layer's "cell/vars", a Bidirectional's forward then backward layer's, a
 * TimeDistributed's wrapped layer's, MultiHeadAttention's query, key, value and output projections'.
 */
function variablePlaces(layer: KerasObject, group: string): string[] {
  const inner = layer.config.layer;
  if (layer.class_name === "Bidirectional" && isObject(inner)) {
    const backward = isObject(layer.config.backward_layer) ? layer.config.backward_layer : inner;
    return [...variablePlaces(inner, `${group}/forward_layer`), ...variablePlaces(backward, `${group}/backward_layer`)];
  }
  if (layer.class_name === "TimeDistributed" && isObject(inner)) return variablePlaces(inner, `${group}/layer`);
  if (layer.class_name === "MultiHeadAttention") {
    return ["query_dense", "key_dense", "value_dense", "output_dense"].map((dense) => `${group}/${dense}/vars`);
  }
  return [RNN_CLASSES.has(layer.class_name) ? `${group}/cell/vars` : `${group}/vars`];
}

/**
 * Where model.weights.h5 keeps the variables of each layer that is not a model (one or more groups,
 * see variablePlaces), and the layer's path of names ("dense", or "inner/dense" in a nested model
 * "inner"), which names its variables "<path>/vars/<i>" (src/compute/layer-tree.ts).
 */
export function kerasVariableGroups(config: unknown, prefix = ""): { places: string[]; layerPath: string }[] {
  if (!isObject(config) || !Array.isArray(config.config.layers)) throw malformed("config.layers is not a list");
  const layers = (config.config.layers as unknown[]).filter(
    (l): l is KerasObject => isObject(l) && l.class_name !== "InputLayer",
  );
  const groups = kerasWeightGroups(layers.map((l) => l.class_name));
  return layers.flatMap((layer, k) => {
    const group = `${prefix}${groups[k]}`;
    const name = String(layer.config.name);
    return KERAS_MODEL_CLASSES.has(layer.class_name)
      ? kerasVariableGroups(layer, `${group}/`).map((g) => ({ ...g, layerPath: `${name}/${g.layerPath}` }))
      : [{ places: variablePlaces(layer, group), layerPath: name }];
  });
}

/** A Dense or Dropout layer of the exported Keras model, with the weights it takes. */
export interface KerasLayerPlan {
  name: string;
  className: "Dense" | "Dropout";
  /** Number of weight tensors it owns (kernel, bias). */
  weights: number;
  config: Record<string, unknown>;
}

const KERAS_DEFAULTS = { adam: { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } };

/** Blocks flattened into their Dense/Dropout layers: the same math as plain Keras layers. */
function flatten(
  spec: ModelSpec,
  layers: readonly LayerSpec[],
  prefix: string,
): Array<{ layer: LayerSpec; name: string }> {
  return layers.flatMap((layer, i) => {
    const name = `${prefix}${layer.name || `${layer.kind}_${i}`}`;
    if (layer.kind !== "block") return [{ layer, name }];
    const block = spec.blocks.find((b) => b.name === layer.block);
    if (!block) throw new ModelbayError(Code.INTERNAL, `block "${layer.block}" is not defined`);
    return flatten(spec, block.layers, `${name}_`);
  });
}

function optimizerConfig(o: OptimizerSpec): Record<string, unknown> {
  const lr = o.learningRate ?? KERAS_DEFAULTS.adam.learningRate;
  const body = (className: string, config: Record<string, unknown>) => ({
    module: "keras.optimizers",
    class_name: className,
    config: { name: className.toLowerCase(), learning_rate: lr, ...config },
    registered_name: null,
  });
  switch (o.kind) {
    case "adam":
      return body("Adam", {
        beta_1: o.beta1 ?? KERAS_DEFAULTS.adam.beta1,
        beta_2: o.beta2 ?? KERAS_DEFAULTS.adam.beta2,
        epsilon: o.epsilon ?? KERAS_DEFAULTS.adam.epsilon,
      });
    case "sgd":
      return body("SGD", { momentum: o.momentum ?? 0 });
    case "rmsprop":
      return body("RMSprop", { rho: o.rho ?? 0.9, momentum: o.momentum ?? 0, epsilon: o.epsilon ?? 1e-7 });
  }
}

/**
 * The Keras 3 config.json of a Sequential model equivalent to `spec` (blocks flattened), and the
 * layers in weight order. Refuses Keras-JSON topologies, which modelbay did not design.
 */
export function specToKerasConfig(spec: ModelSpec): { config: Record<string, unknown>; layers: KerasLayerPlan[] } {
  if (spec.topology.kind !== "sequential") {
    throw new ModelbayError(Code.FAILED_PRECONDITION, "export to .keras supports models built from a sequential spec");
  }
  let width = spec.topology.inputShape.at(-1) ?? 0;
  const inputShape = [null, ...spec.topology.inputShape];
  const layers: KerasLayerPlan[] = flatten(spec, spec.topology.layers, "").map(({ layer, name }) => {
    const buildConfig = { input_shape: [null, width] };
    if (layer.kind === "dense") {
      width = layer.units;
      return {
        name,
        className: "Dense" as const,
        weights: layer.useBias ? 2 : 1,
        config: {
          module: "keras.layers",
          class_name: "Dense",
          config: {
            name,
            trainable: true,
            dtype: "float32",
            units: layer.units,
            activation: layer.activation,
            use_bias: layer.useBias,
          },
          registered_name: null,
          build_config: buildConfig,
        },
      };
    }
    if (layer.kind === "dropout") {
      return {
        name,
        className: "Dropout" as const,
        weights: 0,
        config: {
          module: "keras.layers",
          class_name: "Dropout",
          config: { name, trainable: true, dtype: "float32", rate: layer.rate },
          registered_name: null,
          build_config: buildConfig,
        },
      };
    }
    throw new ModelbayError(Code.INTERNAL, `unflattened ${layer.kind} layer`);
  });
  const input = {
    module: "keras.layers",
    class_name: "InputLayer",
    config: { batch_shape: inputShape, dtype: "float32", sparse: false, name: spec.inputName || "input" },
    registered_name: null,
  };
  const config = {
    module: "keras",
    class_name: "Sequential",
    config: { name: "sequential", trainable: true, dtype: "float32", layers: [input, ...layers.map((l) => l.config)] },
    registered_name: null,
    build_config: { input_shape: inputShape },
    compile_config: compileConfig(spec),
  };
  return { config, layers };
}

function compileConfig(spec: ModelSpec): Record<string, unknown> {
  return {
    optimizer: optimizerConfig(spec.compile.optimizer),
    loss: spec.compile.loss ?? null,
    metrics: spec.compile.metrics.length ? spec.compile.metrics : null,
    loss_weights: null,
    weighted_metrics: null,
    run_eagerly: false,
    steps_per_execution: 1,
    jit_compile: false,
  };
}

/**
 * The Keras 3 topology of a spec: a sequential spec's equivalent, or a Keras 3 keras_json as it
 * came (from a .keras file or a Keras 3 `to_json()`). Undefined for TensorFlow.js and Keras 2 JSON,
 * which Keras 3 does not read back and whose weights it lays out otherwise.
 */
export function kerasTopologyOf(spec: ModelSpec): Record<string, unknown> | undefined {
  if (spec.topology.kind === "sequential") return specToKerasConfig(spec).config;
  let parsed: unknown;
  try {
    parsed = JSON.parse(spec.topology.json);
  } catch (err) {
    throw new ModelbayError(Code.INVALID_ARGUMENT, "spec.keras_json: not valid JSON", { cause: err });
  }
  const topology = isJsonObject(parsed) && isJsonObject(parsed.modelTopology) ? parsed.modelTopology : parsed;
  return isJsonObject(topology) && typeof topology.module === "string" ? topology : undefined;
}

/** The Keras 3 config.json of a model whose spec holds a Keras 3 topology, compiled as the spec says. */
export function kerasJsonToKerasConfig(spec: ModelSpec): Record<string, unknown> {
  const topology = kerasTopologyOf(spec);
  if (!topology) {
    throw new ModelbayError(
      Code.FAILED_PRECONDITION,
      "export to .keras supports sequential specs and Keras 3 topologies; this model's is TensorFlow.js or Keras 2 JSON (--format tfjs exports it)",
    );
  }
  return { ...topology, compile_config: compileConfig(spec) };
}
