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
import { elementsPerRow, type TensorData } from "./tensor-data.js";

export interface TrainerOptions {
  batchSize: number;
  loss: LossKind;
  metrics: MetricKind[];
  /**
   * The model's output names. A model of several outputs is trained on the sum of the loss over
   * them (Keras' rule for one loss given for several) and reports each output's loss and metrics
   * under its name ("score_loss", "score_mae"), as Keras does.
   */
  outputNames?: string[];
}

/** The names of the values a step reports besides the total loss, in the order stepValues gives them. */
export function reportedNames(opts: TrainerOptions): string[] {
  const names = opts.outputNames ?? [];
  const metrics = opts.metrics.map((m) => METRIC_NAME[m]);
  if (names.length <= 1) return metrics;
  return names.flatMap((output) => [`${output}_loss`, ...metrics.map((m) => `${output}_${m}`)]);
}

/**
 * The total loss of a step or an evaluation (with the layers' penalties) and the values named by
 * reportedNames: for each output, the loss over it and the metrics.
 */
function stepValues(
  model: tf.LayersModel,
  opts: TrainerOptions,
  labels: readonly tf.Tensor[],
  predictions: readonly tf.Tensor[],
): { loss: tf.Scalar; reported: tf.Scalar[] } {
  const { loss, metrics } = opts;
  const perOutput = predictions.map((p, i) => computeLoss(loss, labels[i] as tf.Tensor, p));
  const metricsOf = (i: number) =>
    metrics.map((m) => computeMetric(m, loss, labels[i] as tf.Tensor, predictions[i] as tf.Tensor));
  if (perOutput.length === 1) return { loss: withPenalties(model, perOutput[0] as tf.Scalar), reported: metricsOf(0) };
  return {
    loss: withPenalties(model, tf.addN(perOutput) as tf.Scalar),
    reported: perOutput.flatMap((outputLoss, i) => [outputLoss, ...metricsOf(i)]),
  };
}

/** tfjs-layers' outputs as a list, whether the model has one or several. */
export const listed = (out: tf.Tensor | tf.Tensor[]) => (Array.isArray(out) ? out : [out]);
/** One input alone, as tfjs-layers takes it; several as a list. */
export const fed = (xs: tf.Tensor[]) => (xs.length === 1 ? (xs[0] as tf.Tensor) : xs);

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
  /** Loss and metrics over a dataset without training, e.g. validation data (a tensor per input, and per output). */
  evaluate(x: readonly TensorData[], y: readonly TensorData[]): Promise<Record<string, number>>;
  dispose(): void;
}

export function createTrainer(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  xData: readonly TensorData[],
  yData: readonly TensorData[],
  opts: TrainerOptions,
): Trainer {
  const xs = xData.map(toTensor);
  const ys = yData.map(toTensor);
  const rows = xs[0]?.shape[0] ?? 0;
  const { batchSize } = opts;
  const names = reportedNames(opts);
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
              const xb = xs.map((x) => batchRows(x, order, start, size));
              const yb = ys.map((y) => batchRows(y, order, start, size));
              let metricValues: tf.Scalar[] = [];
              const cost = optimizer.minimize(
                () => {
                  const predictions = listed(model.apply(fed(xb), { training: true }) as tf.Tensor | tf.Tensor[]);
                  const { loss, reported } = stepValues(model, opts, yb, predictions);
                  // Metrics use this step's predictions (before the update), as Keras reports them;
                  // kept, because minimize() disposes everything else computed in here.
                  metricValues = reported.map((v) => tf.keep(v));
                  return loss;
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
          names,
        );
      } finally {
        for (const p of pending) p.scalars.dispose();
      }
    },

    evaluate: (xEval, yEval) => evaluateModel(model, opts, xEval, yEval),

    dispose() {
      for (const t of [...xs, ...ys]) t.dispose();
    },
  };
}

/** Loss and metrics of the model over a dataset, without training (validation data). */
export async function evaluateModel(
  model: tf.LayersModel,
  opts: TrainerOptions,
  xEval: readonly TensorData[],
  yEval: readonly TensorData[],
): Promise<Record<string, number>> {
  if ((xEval[0]?.shape[0] ?? 0) === 0) throw new ModelbayError(Code.INVALID_ARGUMENT, "validation data is empty");
  const scalars = refusedByLayers("the model cannot evaluate this validation data", () =>
    tf.tidy(() => {
      const batchSize = predictBatchRows(activationElementsPerRow(model), elementsPerRow(xEval));
      const predictions = listed(model.predict(fed(xEval.map(toTensor)), { batchSize }));
      const { loss, reported } = stepValues(model, opts, yEval.map(toTensor), predictions);
      return tf.stack([loss, ...reported]);
    }),
  );
  try {
    const values = await scalars.data();
    const out: Record<string, number> = { loss: values[0] as number };
    reportedNames(opts).forEach((name, j) => {
      out[name] = values[1 + j] as number;
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

/** One call's sums from its batches' [loss, ...reported] values (reportedNames), read back together. */
export function sumBatches(values: Float32Array, sizes: readonly number[], names: readonly string[]): BatchRunResult {
  const result: BatchRunResult = {
    steps: 0,
    samples: 0,
    lossSum: 0,
    lastLoss: Number.NaN,
    metricSums: {},
    nonFinite: false,
  };
  const width = 1 + names.length;
  sizes.forEach((size, i) => {
    const batchLoss = values[i * width] as number;
    result.steps += 1;
    result.samples += size;
    result.lossSum += batchLoss * size;
    result.lastLoss = batchLoss;
    if (!Number.isFinite(batchLoss)) result.nonFinite = true;
    names.forEach((name, j) => {
      result.metricSums[name] = (result.metricSums[name] ?? 0) + (values[i * width + 1 + j] as number) * size;
    });
  });
  return result;
}
