// How much memory a model's activations take per row, for sizing predict batches and refusing
// training batches that would not fit. No TensorFlow here: the training domain reads it on the RPC
// thread, which never loads TensorFlow.js.

/** Where a layer's output size depends on the input (a free axis), a row is taken at this many times the input row. */
const FREE_SIZE_FACTOR = 16;

/**
 * A training step's memory over its layers' outputs: kept for the backward pass, their gradients,
 * and the kernels' workspace. Measured for two Conv2D of 64 filters over 32x32x3 with Adam: a
 * step of 256 rows (128 MiB of outputs) raised the peak RSS by 1,092 MiB, one of 1,024 rows by
 * 4,225 MiB (8.3-8.5x).
 */
export const TRAIN_STEP_FACTOR = 9;

/** Elements of every layer's output for one row: `perRow` when the model's shapes say, else estimated from the input row. */
export function activationsPerRow(perRow: number | undefined, inputRowElements: number): number {
  return Math.max(1, perRow ?? inputRowElements * FREE_SIZE_FACTOR);
}

/** Bytes a training step of `rows` rows is expected to take. */
export function trainStepBytes(perRow: number, rows: number): number {
  return perRow * 4 * TRAIN_STEP_FACTOR * rows;
}
