// Trains a Dense stack through one TF_SessionRun per step (train-graph.ts), on the
// native backend. The graph's resource variables hold the live weights and slots while a job
// trains; the tfjs model and optimizer get them back (flush) before anything reads them, and the
// graph takes them again (invalidate) after anything writes them.
import * as tf from "@tensorflow/tfjs";
import { type DenseActivation, denseStackOf } from "../dense-stack.js";
import { setOptimizerTensors } from "../optimizer-state.js";
import { toTensor } from "../tensor-conversion.js";
import type { TensorData } from "../tensor-data.js";
import {
  type BatchRunResult,
  batchRows,
  evaluateModel,
  reportedNames,
  sumBatches,
  type Trainer,
  type TrainerOptions,
} from "../trainer.js";
import { floatInfo, graphDir, loadGraphSession, sessionBackend } from "./graph-session.js";
import { type GraphLoss, type GraphOptimizer, SLOTS, trainGraph } from "./train-graph.js";

const TAG = "train";

/**
 * Multiply-adds of a step's largest matrix product up to which the step's session runs on one
 * thread. Splitting a small op across TensorFlow's threads costs more than it saves: on two cores,
 * training the seed model (largest product 41k multiply-adds at batch 32, 328k at 256) ran 1.3-1.6x
 * faster on one thread; the 784-256-10 MLP at batch 128 (25.7M) ran about as fast, and
 * Dense(1024) -> Dense(1024) at batch 256 (268M) at 0.64-0.71x (docs/benchmarks.md, server settings).
 */
const ONE_THREAD_STEP_MACS = 2 ** 21;

/**
 * Intra-op threads for the train session of `layers` at `batchSize`: 1 for small steps, else 0
 * (TensorFlow's default). An explicit TF_NUM_INTRAOP_THREADS is the operator's choice and wins.
 */
export function trainStepThreads(layers: readonly { inputDim: number; units: number }[], batchSize: number): number {
  if (process.env.TF_NUM_INTRAOP_THREADS) return 0;
  const largest = Math.max(0, ...layers.map((l) => l.inputDim * l.units));
  return batchSize * largest <= ONE_THREAD_STEP_MACS ? 1 : 0;
}

export interface GraphTrainer extends Trainer {
  /**
   * Copies the graph's weights and slots into the tfjs model and optimizer, if they moved. After
   * dispose() the session lives on until this has run once, so the last steps are never lost.
   */
  flush(): Promise<void>;
  /** The tfjs side changed (restore, setWeights): the graph reloads it before the next step. */
  invalidate(): void;
  /** Disposed, and nothing left to flush: the owner may forget it. */
  readonly finished: boolean;
  /** Frees the session without flushing (the model itself is going away). */
  close(): void;
}

/** tfjs' optimizer as the graph's update rule, or why the graph does not cover it. */
function graphOptimizer(optimizer: tf.Optimizer): GraphOptimizer | string {
  const className = (optimizer.constructor as { className?: string }).className;
  const c = optimizer.getConfig() as Record<string, number | boolean>;
  const lr = Number(c.learningRate);
  switch (className) {
    case "Adam":
      return {
        kind: "adam",
        learningRate: lr,
        beta1: Number(c.beta1),
        beta2: Number(c.beta2),
        epsilon: Number(c.epsilon),
      };
    case "SGD":
      return { kind: "sgd", learningRate: lr };
    case "Momentum":
      if (c.useNesterov) return "Nesterov momentum";
      return { kind: "momentum", learningRate: lr, momentum: Number(c.momentum) };
    case "RMSProp":
      if (c.centered) return "centered RMSprop";
      return {
        kind: "rmsprop",
        learningRate: lr,
        rho: Number(c.decay),
        momentum: Number(c.momentum),
        epsilon: Number(c.epsilon),
      };
    default:
      return `optimizer ${className}`;
  }
}

const GRAPH_LOSSES = new Set<string>([
  "mean_squared_error",
  "mean_absolute_error",
  "binary_crossentropy",
  "categorical_crossentropy",
  "sparse_categorical_crossentropy",
]);
/** The last layer's activation each crossentropy needs (the graph differentiates them together). */
const CROSSENTROPY_ACTIVATION: Partial<Record<GraphLoss, DenseActivation>> = {
  binary_crossentropy: "sigmoid",
  categorical_crossentropy: "softmax",
  sparse_categorical_crossentropy: "softmax",
};

/**
 * A graph trainer when the model, loss, metrics and optimizer are ones the graph covers (Dense
 * stacks with linear/relu/sigmoid/tanh layers; MSE or MAE; binary crossentropy after a sigmoid,
 * (sparse) categorical crossentropy after a softmax; Adam, SGD, momentum or RMSprop) on the native
 * backend; otherwise the reason, and the caller trains eagerly.
 */
export function createGraphTrainer(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  xData: TensorData,
  yData: TensorData,
  opts: TrainerOptions,
): GraphTrainer | string {
  const backend = sessionBackend();
  if (typeof backend === "string") return backend;
  if (process.env.MODELBAY_GRAPH_TRAINING === "0") return "MODELBAY_GRAPH_TRAINING=0";
  const rule = graphOptimizer(optimizer);
  if (typeof rule === "string") return rule;
  if (!GRAPH_LOSSES.has(opts.loss)) return `loss ${opts.loss}`;
  const loss = opts.loss as GraphLoss;
  const plan = denseStackOf(model);
  if (typeof plan === "string") return plan;
  const lastActivation = plan.layers[plan.layers.length - 1]?.activation;
  const needed = CROSSENTROPY_ACTIVATION[loss];
  if (needed ? lastActivation !== needed : lastActivation === "softmax") {
    return `loss ${loss} after a ${lastActivation} last layer`;
  }
  const graph = trainGraph(plan.layers, loss, opts.metrics, rule);
  let session: number;
  try {
    session = loadGraphSession(backend, graphDir(graph.nodes, TAG), TAG, trainStepThreads(plan.layers, opts.batchSize));
  } catch (err) {
    // A TensorFlow that rejects the graph still trains the model, eagerly.
    return `the train graph did not load: ${err instanceof Error ? err.message : String(err)}`;
  }

  const x = toTensor(xData);
  // The graph takes float labels (class indices too: they are cast back inside).
  const yGiven = toTensor(yData);
  const y = yGiven.dtype === "float32" ? yGiven : tf.tidy(() => yGiven.toFloat());
  if (y !== yGiven) yGiven.dispose();
  const rows = x.shape[0] ?? 0;
  const { batchSize } = opts;
  const batchesPerEpoch = Math.ceil(rows / batchSize);
  const slotName = (v: tf.LayerVariable, slot: string) => `${(v.read() as tf.Variable).name}/${slot}`;
  let iterations = 0;
  let graphCurrent = false; // the graph holds the latest state
  let tfjsCurrent = true; // the tfjs model and optimizer hold the latest state
  let disposed = false;
  let closed = false;
  const close = () => {
    if (!closed) backend.deleteSavedModel(session);
    closed = true;
  };

  const slotKinds = SLOTS[rule.kind];
  /** tfjs -> graph: weights, slots (zeros before the first step) and the step count. */
  const load = async () => {
    // tfjs' order: the iteration count, then each slot kind for every variable, by position (the
    // names carry another model's variable names after a restore); none before the first step.
    const [iter, ...slots] = await optimizer.getWeights();
    iterations = Number((iter?.tensor.dataSync() ?? [0])[0]);
    iter?.tensor.dispose();
    const n = plan.variables.length;
    const haveSlots = slots.length === slotKinds.length * n;
    const values = tf.tidy(() => [
      ...plan.variables.map((v) => v.read()),
      ...slotKinds.flatMap((_, k) =>
        plan.variables.map((v, i) =>
          haveSlots ? (slots[k * n + i] as { tensor: tf.Tensor }).tensor : tf.zerosLike(v.read()),
        ),
      ),
    ]);
    const done = backend.runSavedModel(
      session,
      values,
      graph.variables.map((v) => floatInfo(graph.initFeed(v.name), v.shape)),
      [graph.initDone],
    );
    // Only the zeros made here are ours to free; weights and slots belong to the model.
    tf.dispose([...done, ...(haveSlots ? [] : values.slice(n))]);
    graphCurrent = true;
  };

  const flush = async () => {
    if (tfjsCurrent) return;
    const state = backend.runSavedModel(
      session,
      [],
      [],
      graph.variables.map((v) => graph.readFetch(v.name)),
    );
    try {
      const n = plan.variables.length;
      for (const [i, v] of plan.variables.entries()) v.write(state[i] as tf.Tensor);
      // Straight from the fetched tensors, no trip through host memory: the iteration count, each
      // slot kind for every variable, and for Adam the running powers tfjs keeps (beta^(t+1): it
      // multiplies them after each step).
      const iter = tf.scalar(iterations, "int32");
      try {
        await setOptimizerTensors(
          optimizer,
          [
            { name: "iter", tensor: iter },
            ...slotKinds.flatMap((kind, k) =>
              plan.variables.map((v, i) => ({ name: slotName(v, kind), tensor: state[(k + 1) * n + i] as tf.Tensor })),
            ),
          ],
          rule.kind === "adam"
            ? { beta1: rule.beta1 ** (iterations + 1), beta2: rule.beta2 ** (iterations + 1) }
            : undefined,
        );
      } finally {
        iter.dispose();
      }
    } finally {
      tf.dispose(state);
    }
    tfjsCurrent = true;
    if (disposed) close();
  };

  // Sparse labels go in as one class index per row (the graph makes them one-hot).
  const labelsOf = (order: Int32Array | null, start: number, size: number) => {
    const rowsOf = batchRows(y, order, start, size);
    if (loss !== "sparse_categorical_crossentropy") return rowsOf;
    const flat = rowsOf.reshape([-1]);
    rowsOf.dispose();
    return flat;
  };

  return {
    executor: "graph",
    rows,
    batchesPerEpoch,
    flush,
    invalidate() {
      graphCurrent = false;
    },
    get finished() {
      return disposed && tfjsCurrent;
    },
    close,

    async runBatches(order, firstBatch, count): Promise<BatchRunResult> {
      if (!graphCurrent) await load();
      const fetched: tf.Tensor[] = [];
      const sizes: number[] = [];
      const last = Math.min(firstBatch + count, batchesPerEpoch);
      try {
        for (let b = firstBatch; b < last; b++) {
          const start = b * batchSize;
          const size = Math.min(batchSize, rows - start);
          const xb = batchRows(x, order, start, size);
          const yb = labelsOf(order, start, size);
          iterations += 1;
          // Adam's bias corrections for this step, computed in double precision like Keras' pow.
          const powers =
            rule.kind === "adam" ? [tf.scalar(rule.beta1 ** iterations), tf.scalar(rule.beta2 ** iterations)] : [];
          const powerInfos = powers.length ? [floatInfo("beta1_power:0", []), floatInfo("beta2_power:0", [])] : [];
          fetched.push(
            ...backend.runSavedModel(
              session,
              [xb, yb, ...powers],
              [floatInfo("x:0", xb.shape), floatInfo("y:0", yb.shape), ...powerInfos],
              graph.stepFetches,
            ),
          );
          tf.dispose([xb, yb, ...powers]);
          tfjsCurrent = false;
          sizes.push(size);
        }
        const all = fetched.length ? tf.stack(fetched) : undefined;
        const values = all ? await all.data() : new Float32Array();
        all?.dispose();
        return sumBatches(values as Float32Array, sizes, reportedNames(opts));
      } finally {
        tf.dispose(fetched);
      }
    },

    async evaluate(xEval, yEval) {
      await flush();
      return evaluateModel(model, opts, xEval, yEval);
    },

    dispose() {
      x.dispose();
      y.dispose();
      disposed = true;
      if (tfjsCurrent) close();
    },
  };
}
