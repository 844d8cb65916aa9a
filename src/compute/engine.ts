// The compute seam: everything outside compute/ talks to TensorFlow through these interfaces.
// Methods are async so that an engine running models in worker threads or processes fits behind it.
import type { BackendInfo } from "./backend.js";
import type { ModelSpec } from "./model-spec.js";
import type { TensorData, TensorSignature } from "./tensor-data.js";
import type { Trainer, TrainerOptions } from "./trainer.js";

export type { BatchRunResult, Trainer, TrainerOptions } from "./trainer.js";

export interface NamedTensorData {
  name: string;
  tensor: TensorData;
}

export interface ModelDescription {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  parameterCount: number;
  weightBytes: number;
}

/** A built model owned by an engine. */
export interface ComputeModel {
  readonly description: ModelDescription;
  /** Runs the model on one batch; the input was already checked against `description`. */
  predict(input: TensorData): Promise<TensorData>;
  /** The model's weights in layer order, named as TensorFlow.js names them. */
  getWeights(): Promise<NamedTensorData[]>;
  /** Replaces the weights; shapes must match getWeights() element by element. */
  setWeights(weights: readonly NamedTensorData[]): Promise<void>;
  /** Loads a dataset onto the backend for training with the model's optimizer. */
  createTrainer(x: TensorData, y: TensorData, opts: TrainerOptions): Promise<Trainer>;
  dispose(): void;
}

export interface ComputeEngine {
  readonly backend: BackendInfo;
  buildModel(spec: ModelSpec): Promise<ComputeModel>;
  /** Live tensors and bytes held by the backend, to check that requests do not leak. */
  memory(): { numTensors: number; numBytes: number };
}
