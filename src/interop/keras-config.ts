// Keras 3 model configs (config.json of a .keras file) as modelbay specs. modelbay builds Sequential
// stacks of Dense and Dropout layers; anything else is refused with the layer or class it met.
import {
  type Activation,
  type CompileSpec,
  DEFAULT_OUTPUT_NAME,
  type LayerSpec,
  type LossKind,
  type MetricKind,
  type ModelSpec,
  type OptimizerSpec,
} from "../compute/model-spec.js";
import { Code, ModelbayError } from "../errors.js";

interface KerasObject {
  class_name: string;
  config: Record<string, unknown>;
}

const ACTIVATIONS: readonly Activation[] = [
  "linear",
  "relu",
  "sigmoid",
  "tanh",
  "softmax",
  "elu",
  "selu",
  "softplus",
  "swish",
];
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
  new ModelbayError(
    Code.INVALID_ARGUMENT,
    `${what}; modelbay imports Sequential stacks of Dense and Dropout layers from .keras files`,
  );

const isObject = (v: unknown): v is KerasObject =>
  typeof v === "object" && v !== null && typeof (v as KerasObject).class_name === "string";

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
    if (!ACTIVATIONS.includes(activation)) throw unsupported(`${where} (${name}) uses activation "${activation}"`);
    return {
      kind: "dense",
      units: Number(c.units),
      activation,
      useBias: c.use_bias !== false,
      ...(name ? { name } : {}),
    };
  }
  if (layer.class_name === "Dropout") return { kind: "dropout", rate: Number(c.rate), ...(name ? { name } : {}) };
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

function compileOf(compile: Record<string, unknown> | undefined): CompileSpec {
  if (!compile) return { optimizer: { kind: "adam" }, metrics: [] };
  const lossName = nameOf(compile.loss);
  const loss = lossName === undefined ? undefined : LOSSES[lossName];
  if (lossName !== undefined && !loss) throw unsupported(`the model was compiled with loss "${lossName}"`);
  const metrics = (Array.isArray(compile.metrics) ? compile.metrics : [])
    .map(nameOf)
    .map((m) => (m === undefined ? undefined : METRICS[m]))
    .filter((m): m is MetricKind => m !== undefined);
  return { optimizer: optimizerOf(compile.optimizer), ...(loss ? { loss } : {}), metrics };
}

export function kerasConfigToSpec(config: unknown): ModelSpec {
  if (!isObject(config)) throw new ModelbayError(Code.INVALID_ARGUMENT, "config.json is not a Keras model config");
  if (config.class_name !== "Sequential") throw unsupported(`the model class is ${config.class_name}`);
  const layers = (config.config.layers ?? []) as KerasObject[];
  let inputShape: number[] | undefined;
  let inputName = "input";
  const specLayers: LayerSpec[] = [];
  layers.forEach((layer, i) => {
    if (!isObject(layer)) throw new ModelbayError(Code.INVALID_ARGUMENT, `config.json: layer ${i} is malformed`);
    if (layer.class_name === "InputLayer") {
      const shape = (layer.config.batch_shape ?? layer.config.batch_input_shape) as (number | null)[] | undefined;
      inputShape = shape?.slice(1).map(Number);
      if (typeof layer.config.name === "string") inputName = layer.config.name;
    } else {
      specLayers.push(layerOf(layer, `layer ${i}`));
    }
  });
  inputShape ??= ((config.config.build_input_shape as (number | null)[] | undefined) ?? []).slice(1).map(Number);
  if (inputShape.length === 0 || inputShape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw unsupported("the model has no fixed input shape");
  }
  const compile = (config as unknown as { compile_config?: Record<string, unknown> }).compile_config;
  return {
    topology: { kind: "sequential", inputShape, layers: specLayers },
    blocks: [],
    compile: compileOf(compile),
    inputName,
    outputName: DEFAULT_OUTPUT_NAME,
    preprocessing: "",
  };
}
