// What a training job is asked to do, and the checks it passes before any step runs.
import type { RetentionPolicy } from "../checkpoints/retention.js";
import { activationsPerRow, trainStepBytes } from "../compute/activation-size.js";
import type { LossKind } from "../compute/model-spec.js";
import {
  elementsPerRow,
  emptyAxisProblem,
  sliceRows,
  type TensorData,
  type TensorSignature,
} from "../compute/tensor-data.js";
import { Code, invalidArgument, ModelbayError } from "../errors.js";
import { inSignatureOrder, type NamedTensor } from "../sessions/input-check.js";

export interface CheckpointPolicy {
  everyEpochs: number;
  everySteps: number;
  everySeconds: number;
  onBest: boolean;
  monitor: string;
  retention?: RetentionPolicy;
}

export interface EarlyStoppingSettings {
  monitor: string;
  patience: number;
  minDelta: number;
  restoreBestWeights: boolean;
}

/** Examples: a tensor per model input (x) and per model output (y), all with the same rows. */
export interface Dataset {
  /** One unnamed tensor feeds a model's only input; otherwise each is named as the model names its inputs. */
  x: NamedTensor[];
  /** Likewise, the labels of each of the model's outputs. */
  y: NamedTensor[];
}

export interface TrainSettings {
  data: Dataset;
  validation?: Dataset;
  validationSplit: number;
  epochs: number;
  batchSize: number;
  shuffle: boolean;
  seed: bigint;
  checkpointPolicy: CheckpointPolicy;
  earlyStopping?: EarlyStoppingSettings;
  progressIntervalMs: number;
}

export interface TrainLimits {
  maxBatchSize: number;
  /** Memory one training step may take, as estimated from the model's activations (activation-size.ts). */
  maxTrainStepBytes: number;
}

const rowsOf = (t: TensorData) => t.shape[0] ?? 0;
const examplesIn = (d: Dataset) => rowsOf((d.x[0] as NamedTensor).tensor);

/** Holds out the last `fraction` of the rows for validation, as Keras' validation_split does. */
export function splitValidation(data: Dataset, fraction: number): { train: Dataset; validation?: Dataset } {
  if (fraction <= 0) return { train: data };
  const rows = examplesIn(data);
  const cut = Math.floor(rows * (1 - fraction));
  if (cut <= 0 || cut >= rows)
    throw invalidArgument("validation_split", `leaves no training or no validation rows out of ${rows}`);
  const rowsFrom = (d: Dataset, start: number, end: number): Dataset => {
    const slice = (list: NamedTensor[]) => list.map((t) => ({ name: t.name, tensor: sliceRows(t.tensor, start, end) }));
    return { x: slice(d.x), y: slice(d.y) };
  };
  return { train: rowsFrom(data, 0, cut), validation: rowsFrom(data, cut, rows) };
}

/**
 * The settings with each dataset's tensors in the model's order, named as the model names its
 * inputs and outputs: a tensor per input in x, per output in y, found by name (INVALID_ARGUMENT
 * names what is missing).
 */
export function inModelOrder(
  s: TrainSettings,
  model: { inputs: TensorSignature[]; outputs: TensorSignature[] },
): TrainSettings {
  const order = (d: Dataset, field: string): Dataset => {
    const ordered = (given: NamedTensor[], signatures: TensorSignature[], what: string, side: string) =>
      inSignatureOrder(signatures, given, `${field}.${what}`, side).map(({ tensor }, i) => ({
        name: (signatures[i] as TensorSignature).name,
        tensor,
      }));
    return { x: ordered(d.x, model.inputs, "inputs", "input"), y: ordered(d.y, model.outputs, "targets", "output") };
  };
  return {
    ...s,
    data: order(s.data, "data"),
    ...(s.validation ? { validation: order(s.validation, "validation_data") } : {}),
  };
}

function checkFeatures(x: TensorData, input: TensorSignature, field: string): void {
  const fmt = (s: readonly number[]) => `[${s.join(", ")}]`;
  if (x.dtype !== input.dtype)
    throw invalidArgument(field, `dtype ${x.dtype} does not match the model's ${input.dtype}`);
  const ok = x.shape.length === input.shape.length && input.shape.every((d, i) => d === -1 || d === x.shape[i]);
  if (!ok) throw invalidArgument(field, `shape ${fmt(x.shape)} does not match the model's input ${fmt(input.shape)}`);
  const empty = emptyAxisProblem(x.shape);
  if (empty) throw invalidArgument(field, empty);
}

function checkLabels(y: TensorData, loss: LossKind, output: TensorSignature, field: string): void {
  const units = output.shape[output.shape.length - 1] ?? 1;
  const rows = rowsOf(y);
  if (loss === "sparse_categorical_crossentropy") {
    const flat = y.shape.length === 1 || (y.shape.length === 2 && y.shape[1] === 1);
    if (!flat)
      throw invalidArgument(
        field,
        `sparse categorical labels must have shape [n] or [n, 1], got [${y.shape.join(", ")}]`,
      );
    for (let i = 0; i < rows; i++) {
      const label = y.data[i] as number;
      if (!Number.isInteger(label) || label < 0 || label >= units) {
        throw invalidArgument(field, `label ${label} at row ${i} is not a class index in [0, ${units})`);
      }
    }
    return;
  }
  // A free dimension of the output (-1) takes whatever size the model makes of its input.
  const want = [rows, ...output.shape.slice(1)];
  if (y.shape.length !== want.length || want.some((d, i) => d !== -1 && d !== y.shape[i])) {
    throw invalidArgument(
      field,
      `labels of shape [${y.shape.join(", ")}] do not fit loss ${loss} with the model's output [${output.shape.join(", ")}]; expected [${want.join(", ")}]`,
    );
  }
  if (y.dtype === "bool") throw invalidArgument(field, "labels must be numbers, not bool");
}

export function checkSettings(
  s: TrainSettings,
  model: {
    inputs: TensorSignature[];
    outputs: TensorSignature[];
    trainableParameterCount: number;
    activationsPerRow?: number;
  },
  loss: LossKind | undefined,
  limits: TrainLimits,
): LossKind {
  if (!loss)
    throw new ModelbayError(
      Code.FAILED_PRECONDITION,
      "the model's spec has no loss (spec.compile.loss); it cannot be trained",
    );
  if (model.trainableParameterCount === 0)
    throw new ModelbayError(Code.FAILED_PRECONDITION, "the model has no trainable weights; it cannot be trained");
  if (!Number.isInteger(s.epochs) || s.epochs <= 0)
    throw invalidArgument("epochs", `must be positive, got ${s.epochs}`);
  if (!Number.isInteger(s.batchSize) || s.batchSize <= 0)
    throw invalidArgument("batch_size", `must be positive, got ${s.batchSize}`);
  if (s.batchSize > limits.maxBatchSize)
    throw invalidArgument("batch_size", `${s.batchSize} exceeds the server's maximum of ${limits.maxBatchSize}`);
  if (!(s.validationSplit >= 0 && s.validationSplit < 1))
    throw invalidArgument("validation_split", `must be in [0, 1), got ${s.validationSplit}`);
  for (const [name, d] of [
    ["data", s.data],
    ["validation_data", s.validation],
  ] as const) {
    if (!d) continue;
    // Fields as the request spells them: x and y for one input and output, else inputs and targets
    // by name (their order here is the model's, not necessarily the request's).
    const single = d.x.length === 1 && d.y.length === 1;
    const tensorName = (side: "x" | "y", i: number) =>
      single ? side : `${side === "x" ? "inputs" : "targets"} ("${(side === "x" ? d.x : d.y)[i]?.name}")`;
    const field = (side: "x" | "y", i: number) => `${name}.${tensorName(side, i)}`;
    const rows = examplesIn(d);
    if (rows === 0) throw invalidArgument(field("x", 0), "has no rows");
    for (const [side, list] of [
      ["x", d.x],
      ["y", d.y],
    ] as const) {
      for (const [i, t] of list.entries()) {
        if (rowsOf(t.tensor) === rows) continue;
        const counts = `${tensorName("x", 0)} has ${rows} rows but ${tensorName(side, i)} has ${rowsOf(t.tensor)}`;
        throw invalidArgument(name, counts);
      }
    }
    for (const [i, t] of d.x.entries()) checkFeatures(t.tensor, model.inputs[i] as TensorSignature, field("x", i));
    for (const [i, t] of d.y.entries()) checkLabels(t.tensor, loss, model.outputs[i] as TensorSignature, field("y", i));
  }
  checkStepMemory(s, model.activationsPerRow, limits.maxTrainStepBytes);
  return loss;
}

/**
 * A batch whose activations do not fit would take the whole server down with it (a step of 65,536
 * images through two convolutions asks for some 300 GB); it is refused up front, naming the largest
 * batch that fits.
 */
function checkStepMemory(s: TrainSettings, perRowKnown: number | undefined, maxBytes: number): void {
  const perRow = activationsPerRow(perRowKnown, elementsPerRow(s.data.x.map((t) => t.tensor)));
  const rows = Math.min(s.batchSize, examplesIn(s.data));
  const bytes = trainStepBytes(perRow, rows);
  if (bytes <= maxBytes) return;
  const fits = Math.floor(maxBytes / trainStepBytes(perRow, 1));
  throw new ModelbayError(
    Code.RESOURCE_EXHAUSTED,
    `batch_size: a training step of ${rows} rows would take about ${bytes} bytes (the layers' outputs, ${perRow} values a row, with their gradients), over the limit of ${maxBytes} (--max-train-step-bytes); ${fits > 0 ? `at most ${fits} rows fit` : "not even one row fits"}`,
  );
}
