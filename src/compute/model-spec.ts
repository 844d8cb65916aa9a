// The domain description of a model: what to build and how to train it. api/ translates the wire
// ModelSpec into this (validating field by field); compute/ builds TensorFlow models from it.

export type Activation = "linear" | "relu" | "sigmoid" | "tanh" | "softmax" | "elu" | "selu" | "softplus" | "swish";

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

export type OptimizerKind = "adam" | "sgd" | "rmsprop";

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

export type LossKind =
  | "mean_squared_error"
  | "mean_absolute_error"
  | "binary_crossentropy"
  | "categorical_crossentropy"
  | "sparse_categorical_crossentropy";

export type MetricKind = "mean_absolute_error" | "mean_squared_error" | "accuracy";

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

/** What a sequential spec builds, counted without building it. */
export interface SequentialSize {
  /** Kernel and bias elements. */
  parameters: number;
  /** Layers once every block placement is expanded (a block counts as one more layer). */
  layers: number;
}

/**
 * Counts a sequential spec's weights and layers before anything is allocated, so that a spec
 * asking for more than the server holds is refused up front. Undefined for a Keras JSON topology,
 * which only TensorFlow.js reads. Blocks are acyclic (they place only blocks declared before them);
 * each block's count is kept per input width, so nested placements cost no more than the blocks.
 */
export function sequentialSize(spec: Pick<ModelSpec, "topology" | "blocks">): SequentialSize | undefined {
  if (spec.topology.kind !== "sequential") return undefined;
  const blocks = new Map(spec.blocks.map((b) => [b.name, b.layers]));
  const counted = new Map<string, SequentialSize & { width: number }>();
  const count = (layers: readonly LayerSpec[], inputWidth: number): SequentialSize & { width: number } => {
    let width = inputWidth;
    let parameters = 0;
    let total = 0;
    for (const layer of layers) {
      total += 1;
      if (layer.kind === "dense") {
        parameters += width * layer.units + (layer.useBias ? layer.units : 0);
        width = layer.units;
      } else if (layer.kind === "block") {
        const key = `${layer.block}\u0000${width}`;
        const inner = counted.get(key) ?? count(blocks.get(layer.block) ?? [], width);
        counted.set(key, inner);
        parameters += inner.parameters;
        total += inner.layers;
        width = inner.width;
      }
    }
    return { parameters, layers: total, width };
  };
  const { parameters, layers } = count(spec.topology.layers, spec.topology.inputShape.at(-1) ?? 0);
  return { parameters, layers };
}
