// Runs optimizer steps over a dataset resident on the backend. The caller decides the example
// order (the training domain shuffles with its own seeded PRNG) and how many batches one call runs,
// so progress, cancellation and checkpoints happen between calls, never inside a step.
import * as tf from "@tensorflow/tfjs";
import { Code, ModelbayError } from "../errors.js";
import { refusedByLayers } from "./layer-errors.js";
import { computeLoss, computeMetric, METRIC_NAME } from "./losses.js";
import type { LossKind, MetricKind } from "./model-spec.js";
import { activationElementsPerRow, predictBatchRows } from "./predict-batch.js";
import { applyConstraints, withPenalties } from "./regularization.js";
import { toTensor } from "./tensor-conversion.js";
import { elementCount, type TensorData } from "./tensor-data.js";

export interface TrainerOptions {
  batchSize: number;
  loss: LossKind;
  metrics: MetricKind[];
}

/** Sums over the batches of one call; divide by `samples` for means. */
export interface BatchRunResult {
  steps: number;
  samples: number;
  /** Sample-weighted sum of batch losses. */
  lossSum: number;
  /** Loss of the last batch run. */
  lastLoss: number;
  /** Sample-weighted sums of batch metrics, by metric name. */
  metricSums: Record<string, number>;
  /** Whether any batch loss was NaN or infinite. */
  nonFinite: boolean;
}

export interface Trainer {
  /** "graph": one TensorFlow session run per step (graph/graph-trainer.ts); "eager": tfjs ops. */
  readonly executor: "graph" | "eager";
  readonly rows: number;
  readonly batchesPerEpoch: number;
  /**
   * Runs batches [firstBatch, firstBatch + count) of one epoch. `order` lists the example indices of
   * the epoch (a permutation of 0..rows-1), or null for the natural order.
   */
  runBatches(order: Int32Array | null, firstBatch: number, count: number): Promise<BatchRunResult>;
  /** Loss and metrics over a dataset without training, e.g. validation data. */
  evaluate(x: TensorData, y: TensorData): Promise<Record<string, number>>;
  dispose(): void;
}

export function createTrainer(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  xData: TensorData,
  yData: TensorData,
  opts: TrainerOptions,
): Trainer {
  const x = toTensor(xData);
  const y = toTensor(yData);
  const rows = x.shape[0] ?? 0;
  const { batchSize, loss, metrics } = opts;
  const batchesPerEpoch = Math.ceil(rows / batchSize);
  const variables = () => model.trainableWeights.map((w) => w.read() as tf.Variable);

  return {
    executor: "eager",
    rows,
    batchesPerEpoch,

    async runBatches(order, firstBatch, count) {
      const pending: { size: number; scalars: tf.Tensor }[] = [];
      const last = Math.min(firstBatch + count, batchesPerEpoch);
      try {
        for (let b = firstBatch; b < last; b++) {
          const start = b * batchSize;
          const size = Math.min(batchSize, rows - start);
          const scalars = refusedByLayers("the model cannot train on this data", () =>
            tf.tidy(() => {
              const xb = batchRows(x, order, start, size);
              const yb = batchRows(y, order, start, size);
              let metricValues: tf.Scalar[] = [];
              const cost = optimizer.minimize(
                () => {
                  const prediction = model.apply(xb, { training: true }) as tf.Tensor;
                  // Metrics use this step's predictions (before the update), as Keras reports them;
                  // kept, because minimize() disposes everything else computed in here.
                  metricValues = metrics.map((m) => tf.keep(computeMetric(m, loss, yb, prediction)));
                  return withPenalties(model, computeLoss(loss, yb, prediction));
                },
                true,
                variables(),
              ) as tf.Scalar;
              applyConstraints(model);
              return tf.stack([cost, ...metricValues]);
            }),
          );
          pending.push({ size, scalars });
        }
        // One read per call rather than per step keeps the backend busy between steps.
        const all = pending.length ? tf.concat(pending.map((p) => p.scalars)) : undefined;
        const values = all ? await all.data() : new Float32Array();
        all?.dispose();
        return sumBatches(
          values as Float32Array,
          pending.map((p) => p.size),
          metrics,
        );
      } finally {
        for (const p of pending) p.scalars.dispose();
      }
    },

    evaluate: (xEval, yEval) => evaluateModel(model, opts, xEval, yEval),

    dispose() {
      x.dispose();
      y.dispose();
    },
  };
}

/** Loss and metrics of the model over a dataset, without training (validation data). */
export async function evaluateModel(
  model: tf.LayersModel,
  opts: TrainerOptions,
  xEval: TensorData,
  yEval: TensorData,
): Promise<Record<string, number>> {
  const { loss, metrics } = opts;
  if (xEval.shape[0] === 0) throw new ModelbayError(Code.INVALID_ARGUMENT, "validation data is empty");
  const scalars = refusedByLayers("the model cannot evaluate this validation data", () =>
    tf.tidy(() => {
      const xt = toTensor(xEval);
      const yt = toTensor(yEval);
      const batchSize = predictBatchRows(activationElementsPerRow(model), elementCount(xEval.shape.slice(1)));
      const prediction = model.predict(xt, { batchSize }) as tf.Tensor;
      return tf.stack([
        withPenalties(model, computeLoss(loss, yt, prediction)),
        ...metrics.map((m) => computeMetric(m, loss, yt, prediction)),
      ]);
    }),
  );
  try {
    const values = await scalars.data();
    const out: Record<string, number> = { loss: values[0] as number };
    metrics.forEach((m, j) => {
      out[METRIC_NAME[m]] = values[1 + j] as number;
    });
    return out;
  } finally {
    scalars.dispose();
  }
}

/** The rows of one batch: gathered in the epoch's order, or a slice in the natural order. */
export function batchRows(source: tf.Tensor, order: Int32Array | null, start: number, size: number): tf.Tensor {
  return tf.tidy(() =>
    order ? tf.gather(source, tf.tensor1d(order.subarray(start, start + size), "int32")) : source.slice(start, size),
  );
}

/** One call's sums from its batches' [loss, ...metrics] values, read back together. */
export function sumBatches(
  values: Float32Array,
  sizes: readonly number[],
  metrics: readonly MetricKind[],
): BatchRunResult {
  const result: BatchRunResult = {
    steps: 0,
    samples: 0,
    lossSum: 0,
    lastLoss: Number.NaN,
    metricSums: {},
    nonFinite: false,
  };
  const width = 1 + metrics.length;
  sizes.forEach((size, i) => {
    const batchLoss = values[i * width] as number;
    result.steps += 1;
    result.samples += size;
    result.lossSum += batchLoss * size;
    result.lastLoss = batchLoss;
    if (!Number.isFinite(batchLoss)) result.nonFinite = true;
    metrics.forEach((m, j) => {
      const name = METRIC_NAME[m];
      result.metricSums[name] = (result.metricSums[name] ?? 0) + (values[i * width + 1 + j] as number) * size;
    });
  });
  return result;
}
