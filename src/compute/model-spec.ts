// The domain description of a model: what to build and how to train it. api/ translates the wire
// ModelSpec into this (validating field by field); compute/ builds TensorFlow models from it.

/** The values of each domain enum, listed once (the types below are read from them). */
export const ACTIVATIONS = [
  "linear",
  "relu",
  "sigmoid",
  "tanh",
  "softmax",
  "elu",
  "selu",
  "softplus",
  "swish",
] as const;
export const OPTIMIZER_KINDS = ["adam", "sgd", "rmsprop"] as const;
export const LOSS_KINDS = [
  "mean_squared_error",
  "mean_absolute_error",
  "binary_crossentropy",
  "categorical_crossentropy",
  "sparse_categorical_crossentropy",
] as const;
export const METRIC_KINDS = ["mean_absolute_error", "mean_squared_error", "accuracy"] as const;

export type Activation = (typeof ACTIVATIONS)[number];

export type LayerKind =
  | { kind: "dense"; units: number; activation: Activation; useBias: boolean }
  | { kind: "dropout"; rate: number }
  | { kind: "block"; block: string };

export type LayerSpec = LayerKind & { name?: string };

/** A reusable composite layer (the analogue of a Keras Layer subclass wrapping other layers). */
export interface BlockDefinition {
  name: string;
  layers: LayerSpec[];
}

export type Topology =
  | { kind: "sequential"; inputShape: number[]; layers: LayerSpec[] }
  | { kind: "keras-json"; json: string };

export type OptimizerKind = (typeof OPTIMIZER_KINDS)[number];

/** Hyperparameters left undefined take the Keras defaults for the optimizer. */
export interface OptimizerSpec {
  kind: OptimizerKind;
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  momentum?: number;
  rho?: number;
}

export type LossKind = (typeof LOSS_KINDS)[number];

export type MetricKind = (typeof METRIC_KINDS)[number];

export interface CompileSpec {
  optimizer: OptimizerSpec;
  loss?: LossKind;
  metrics: MetricKind[];
}

export interface ModelSpec {
  topology: Topology;
  blocks: BlockDefinition[];
  compile: CompileSpec;
  inputName: string;
  outputName: string;
  preprocessing: string;
  seed?: number;
  /** Count NaN/Inf in each prediction's inputs and outputs and return the counts. */
  reportNonFinite?: boolean;
}

export const DEFAULT_INPUT_NAME = "input";
export const DEFAULT_OUTPUT_NAME = "output";
