// How many rows tfjs-layers' predict runs at once for a model of any layers. Its batch bounds the
// activations held at once: every layer's output for every row of the batch. A fixed 8192 rows
// suits Dense stacks (a few KB a row) but not a convolution over an image: two Conv2D of 64 filters
// over 32x32 pixels make 0.5 MB a row, and 3,000 rows raised the peak RSS by 3.1 GB, against 232 MB
// in batches sized to 128 MiB (bench/predict-batch.ts: 0.9-0.96x the speed once the big batch's
// memory is already mapped, 1.4x when it is not). Keras predicts 32 rows at a time by default; this
// takes as many as fit the budget.
import type * as tf from "@tensorflow/tfjs";
import { activationsPerRow } from "./activation-size.js";
import { FORWARD_CHUNK_ROWS } from "./dense-forward.js";
import { layerApplications } from "./layer-tree.js";

/** Bytes of layer outputs one predict batch may hold. */
export const PREDICT_ACTIVATION_BYTES = 128 * 2 ** 20;

/** Elements of every layer's output for one row, or undefined where an output has a free axis. */
export function activationElementsPerRow(model: tf.LayersModel): number | undefined {
  let total = 0;
  for (const shape of layerApplications(model).flatMap((applied) => applied.outputs)) {
    if (!Array.isArray(shape)) return undefined;
    const row = shape.slice(1);
    if (!row.every((d) => Number.isSafeInteger(d) && d >= 0)) return undefined;
    total += row.reduce((a: number, d: number) => a * d, 1);
  }
  return total;
}

/**
 * Rows per predict batch: as many as keep their activations within PREDICT_ACTIVATION_BYTES, at
 * least 1 and at most FORWARD_CHUNK_ROWS. `perRow` is from activationElementsPerRow; without it, a
 * row is estimated from the request's own row of `inputRowElements` (activation-size.ts).
 */
export function predictBatchRows(perRow: number | undefined, inputRowElements: number): number {
  const rows = Math.floor(PREDICT_ACTIVATION_BYTES / (activationsPerRow(perRow, inputRowElements) * 4));
  return Math.max(1, Math.min(FORWARD_CHUNK_ROWS, rows));
}
