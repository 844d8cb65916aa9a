// The compute seam: everything outside compute/ talks to TensorFlow through these interfaces.
// Methods are async so that an engine running models in worker threads or processes fits behind it.
import type { BackendInfo } from "./backend.js";
import type { ModelSpec } from "./model-spec.js";
import type { TensorData, TensorSignature } from "./tensor-data.js";

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
  dispose(): void;
}

export interface ComputeEngine {
  readonly backend: BackendInfo;
  buildModel(spec: ModelSpec): Promise<ComputeModel>;
  /** Live tensors and bytes held by the backend, to check that requests do not leak. */
  memory(): { numTensors: number; numBytes: number };
}
