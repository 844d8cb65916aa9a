// The compute seam: everything outside compute/ talks to TensorFlow through these interfaces.
// Methods are async so that an engine running models in worker threads or processes fits behind it.
import { Code, ModelbayError } from "../errors.js";
import type { BackendInfo } from "./backend-choice.js";
import type { ModelSpec } from "./model-spec.js";
import type { DType, TensorData, TensorSignature } from "./tensor-data.js";
import type { Trainer, TrainerOptions } from "./trainer.js";

export type { BatchRunResult, Trainer, TrainerOptions } from "./trainer.js";

export interface NamedTensorData {
  name: string;
  tensor: TensorData;
  /** What the file it came from calls it, where `name` is modelbay's (for messages). */
  calledInFile?: string;
}

export interface ModelDescription {
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  parameterCount: number;
  /** Of those, the ones training updates (a model without any cannot be trained). */
  trainableParameterCount: number;
  weightBytes: number;
  /** Elements of every layer's output for one row; absent where an output has a free axis or the layers are not known. */
  activationsPerRow?: number;
}

/** Everything needed to rebuild a model exactly: topology, weights and optimizer state. */
/**
 * The name prefix of optimizer slots given in Keras' order: m and v of each trainable variable in
 * turn, the variables in the order of the snapshot's weights, which are named by layer path
 * ("<layer>/vars/<i>"). Which of those are trainable is the built model's to say, so the device
 * puts such slots in its own order only once it has built the model.
 */
export const KERAS_ORDERED_SLOT = "keras/slot/";

export interface ModelSnapshot {
  /** Keras-style JSON topology of the model (TensorFlow.js `model.toJSON`). */
  topology: unknown;
  /** Model weights in layer order. */
  weights: NamedTensorData[];
  /** Optimizer state (iteration count, then slots in variable order). */
  optimizer: NamedTensorData[];
}

/** One tensor of a captured state: the file it goes in, its name and layout. */
export interface CapturedTensor {
  group: "weights" | "optimizer";
  name: string;
  dtype: DType;
  shape: number[];
}

/**
 * A model's full state pinned at one moment without copying it out: TensorFlow tensors are
 * immutable, so holding them keeps that moment's values while training goes on. It is read out in
 * slices (each a short pause of the device between training steps), then released.
 */
export interface StateCapture {
  topology: unknown;
  tensors: CapturedTensor[];
  /**
   * Writes elements [start, start + count) of tensor `index`, flattened in row-major order, as raw
   * little-endian bytes into `into` and returns the filled part of it. When `into` lies in a
   * SharedArrayBuffer, a device thread writes straight into it: no copy crosses the threads.
   */
  read(index: number, start: number, count: number, into: Uint8Array): Promise<Uint8Array>;
  release(): void;
}

/**
 * How long the caller of a predict waits. An engine that queues requests (a device worker) drops a
 * predict still queued when its caller stops waiting, unrun: its answer would reach no one, and
 * running it would make the requests behind it late too.
 */
export interface PredictWait {
  /** When the caller stops waiting, in epoch milliseconds (`Date.now()`); absent for no deadline. */
  readonly deadline?: number | undefined;
  /** Registers `listener`, called once if the caller cancels before it has its answer. */
  readonly onCancel?: ((listener: () => void) => void) | undefined;
}

/**
 * Whether a caller's cancel is its deadline passing. grpc-js cancels a call when its deadline timer
 * fires, which can be a millisecond before `Date.now()` reaches the deadline.
 */
export function cancelIsDeadline(deadline: number | undefined, now = Date.now()): boolean {
  return deadline !== undefined && now >= deadline - 2;
}

/** A built model owned by an engine. */
export interface ComputeModel {
  readonly description: ModelDescription;
  /**
   * Runs the model on one batch: a tensor per input and one per output, in the order of
   * `description`; the inputs were already checked against it (the same rows in each). A request
   * still queued when its caller's `wait` ends is answered DEADLINE_EXCEEDED or CANCELLED, unrun.
   */
  predict(inputs: readonly TensorData[], wait?: PredictWait): Promise<TensorData[]>;
  /** The model's weights in layer order, named as TensorFlow.js names them. */
  getWeights(): Promise<NamedTensorData[]>;
  /** Replaces the weights; shapes must match getWeights() element by element. */
  setWeights(weights: readonly NamedTensorData[]): Promise<void>;
  /** Pins the full state without copying it (see StateCapture). */
  captureState(): Promise<StateCapture>;
  /** Loads a dataset onto the backend for training with the model's optimizer. */
  /** A tensor per model input (x) and per output (y), in the model's order. */
  createTrainer(x: readonly TensorData[], y: readonly TensorData[], opts: TrainerOptions): Promise<Trainer>;
  dispose(): void;
}

/** The output of a model with one input and one output. */
export async function predictOne(model: ComputeModel, input: TensorData, wait?: PredictWait): Promise<TensorData> {
  const [output] = await model.predict([input], wait);
  if (!output) throw new ModelbayError(Code.INTERNAL, "the model answered without an output");
  return output;
}

export interface ComputeEngine {
  readonly backend: BackendInfo;
  buildModel(spec: ModelSpec): Promise<ComputeModel>;
  /**
   * Builds the model of `spec` and loads a snapshot's weights and optimizer state into it. The
   * engine may take the snapshot's buffers over (a device thread moves them rather than copy a large
   * state): callers pass a snapshot they no longer need.
   */
  restoreModel(spec: ModelSpec, snapshot: Pick<ModelSnapshot, "weights" | "optimizer">): Promise<ComputeModel>;
  /** Loads a TensorFlow SavedModel directory as a predict-only model (native backend only). */
  loadSavedModel(dir: string): Promise<ComputeModel>;
  /** Live tensors and bytes held by the backend, to check that requests do not leak. */
  memory(): Promise<{ numTensors: number; numBytes: number }>;
  /** Releases the engine's threads, if it has any. */
  close?(): Promise<void>;
}
