// The graph trainer (one TF_SessionRun per step) against the eager tfjs trainer on the same
// models, data and initial weights: the same losses and predictions within a stated tolerance, the
// optimizer state handed back complete (training resumes exactly), and models it does not cover
// fall back to eager training.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import { before, test } from "node:test";
import { type ComputeEngine, type ComputeModel, predictOne } from "../src/compute/engine.js";
import { trainStepThreads } from "../src/compute/graph/graph-trainer.js";
import { createInProcessEngine } from "../src/compute/in-process-engine.js";
import type { Activation, LossKind, MetricKind, ModelSpec, OptimizerSpec } from "../src/compute/model-spec.js";
import type { TensorData } from "../src/compute/tensor-data.js";
import { firstMismatch, seededFloats } from "./helpers/tensors.js";

let engine: ComputeEngine;
const native = () => engine.backend.name.startsWith("tensorflow");

before(async () => {
  engine = await createInProcessEngine("auto");
});

type Layer = { units: number; activation: Activation };
function spec(
  inputs: number,
  layers: Layer[],
  loss: LossKind,
  metrics: MetricKind[] = [],
  block = false,
  optimizer: OptimizerSpec = { kind: "adam" },
): ModelSpec {
  const dense = (l: Layer) => ({ kind: "dense" as const, units: l.units, activation: l.activation, useBias: true });
  return {
    topology: {
      kind: "sequential",
      inputShape: [inputs],
      // A custom block (the Layer-subclass analogue) wrapping the hidden layers, when asked.
      layers: block ? [{ kind: "block", block: "hidden" }, dense(layers.at(-1) as Layer)] : layers.map(dense),
    },
    blocks: block ? [{ name: "hidden", layers: layers.slice(0, -1).map(dense) }] : [],
    compile: { optimizer, loss, metrics },
    inputName: "input",
    outputName: "output",
    preprocessing: "",
    seed: 17,
  };
}

const data = (rows: number, width: number, seed: number): TensorData => ({
  dtype: "float32",
  shape: [rows, width],
  data: seededFloats(rows * width, seed),
});
const classes = (rows: number, k: number): TensorData => ({
  dtype: "float32",
  shape: [rows, 1],
  data: Float32Array.from({ length: rows }, (_, i) => (i * 7) % k),
});

/** Trains `epochs` epochs (numbered from `firstEpoch`, which picks each epoch's shuffle); returns the executor and losses. */
async function train(
  model: ComputeModel,
  x: TensorData,
  y: TensorData,
  loss: LossKind,
  metrics: MetricKind[],
  epochs: number,
  graph: boolean,
  firstEpoch = 0,
) {
  process.env.MODELBAY_GRAPH_TRAINING = graph ? "1" : "0";
  const trainer = await model.createTrainer([x], [y], { batchSize: 32, loss, metrics });
  const rows = x.shape[0] as number;
  const losses: number[] = [];
  const metricMeans: number[] = [];
  try {
    for (let e = firstEpoch; e < firstEpoch + epochs; e++) {
      const order = Int32Array.from({ length: rows }, (_, i) => (i * 37 + e * 11) % rows);
      let sum = 0;
      let samples = 0;
      let metricSum = 0;
      for (let b = 0; b < trainer.batchesPerEpoch; b += 16) {
        const r = await trainer.runBatches(order, b, 16);
        sum += r.lossSum;
        samples += r.samples;
        metricSum += Object.values(r.metricSums)[0] ?? 0;
      }
      losses.push(sum / samples);
      metricMeans.push(metricSum / samples);
    }
    return { executor: trainer.executor, losses, metricMeans };
  } finally {
    trainer.dispose();
    delete process.env.MODELBAY_GRAPH_TRAINING;
  }
}

const close = (a: number[], b: number[], atol: number, rtol: number) =>
  firstMismatch(Float32Array.from(a), Float32Array.from(b), atol, rtol) === undefined;

const CASES: { name: string; spec: ModelSpec; x: TensorData; y: TensorData; metrics: MetricKind[] }[] = [
  {
    name: "Dense(128, relu) -> Dense(1), mse with an mae metric",
    spec: spec(
      10,
      [
        { units: 128, activation: "relu" },
        { units: 1, activation: "linear" },
      ],
      "mean_squared_error",
      ["mean_absolute_error"],
    ),
    x: data(640, 10, 1),
    y: data(640, 1, 2),
    metrics: ["mean_absolute_error"],
  },
  {
    name: "a custom block of tanh and sigmoid layers -> Dense(2), mse",
    spec: spec(
      6,
      [
        { units: 16, activation: "tanh" },
        { units: 8, activation: "sigmoid" },
        { units: 2, activation: "linear" },
      ],
      "mean_squared_error",
      [],
      true,
    ),
    x: data(320, 6, 3),
    y: data(320, 2, 4),
    metrics: [],
  },
  {
    name: "MLP 20-32-5 softmax, sparse categorical crossentropy with accuracy",
    spec: spec(
      20,
      [
        { units: 32, activation: "relu" },
        { units: 5, activation: "softmax" },
      ],
      "sparse_categorical_crossentropy",
      ["accuracy"],
    ),
    x: data(480, 20, 5),
    y: classes(480, 5),
    metrics: ["accuracy"],
  },
  {
    name: "plain SGD, mse",
    spec: spec(
      8,
      [
        { units: 16, activation: "relu" },
        { units: 1, activation: "linear" },
      ],
      "mean_squared_error",
      [],
      false,
      {
        kind: "sgd",
        learningRate: 0.05,
      },
    ),
    x: data(320, 8, 6),
    y: data(320, 1, 7),
    metrics: [],
  },
  {
    name: "SGD with momentum, mean absolute error",
    spec: spec(
      8,
      [
        { units: 16, activation: "tanh" },
        { units: 1, activation: "linear" },
      ],
      "mean_absolute_error",
      [],
      false,
      {
        kind: "sgd",
        learningRate: 0.02,
        momentum: 0.9,
      },
    ),
    x: data(320, 8, 8),
    y: data(320, 1, 9),
    metrics: [],
  },
  {
    name: "RMSprop with momentum, binary crossentropy after a sigmoid, with accuracy",
    spec: spec(
      12,
      [
        { units: 16, activation: "relu" },
        { units: 1, activation: "sigmoid" },
      ],
      "binary_crossentropy",
      ["accuracy"],
      false,
      {
        kind: "rmsprop",
        learningRate: 0.005,
        momentum: 0.5,
      },
    ),
    x: data(384, 12, 10),
    y: classes(384, 2),
    metrics: ["accuracy"],
  },
];

for (const c of CASES) {
  test(`graph and eager training agree: ${c.name}`, async (ctx) => {
    if (!native()) return ctx.skip(`graph training needs the native backend; this one is ${engine.backend.name}`);
    const loss = c.spec.compile.loss as LossKind;
    const results = [];
    const predictions = [];
    for (const graph of [true, false]) {
      const model = await engine.buildModel(c.spec);
      try {
        results.push(await train(model, c.x, c.y, loss, c.metrics, 3, graph));
        // Predict reads the model: the graph's weights must have come back to it.
        predictions.push((await predictOne(model, c.x)).data as Float32Array);
      } finally {
        model.dispose();
      }
    }
    const [g, e] = results as [Awaited<ReturnType<typeof train>>, Awaited<ReturnType<typeof train>>];
    assert.equal(g.executor, "graph");
    assert.equal(e.executor, "eager");
    // Same update rules, but fused kernels and combined loss gradients round differently (and
    // Adam's epsilon enters in Keras' place, not tfjs'): close, not bit for bit. The losses must
    // also show the model learning.
    assert.ok(close(g.losses, e.losses, 1e-5, 1e-3), `losses graph ${g.losses} vs eager ${e.losses}`);
    // Accuracy counts rows: a rounding difference may flip a borderline one, so allow two per epoch.
    const metricAtol = c.metrics[0] === "accuracy" ? 2 / (c.x.shape[0] as number) : 1e-5;
    assert.ok(close(g.metricMeans, e.metricMeans, metricAtol, 1e-3), `metrics ${g.metricMeans} vs ${e.metricMeans}`);
    assert.ok((g.losses[2] as number) < (g.losses[0] as number), `graph losses fall: ${g.losses}`);
    const mismatch = firstMismatch(predictions[0] as Float32Array, predictions[1] as Float32Array, 1e-3, 1e-2);
    assert.equal(mismatch, undefined, `predictions differ at ${JSON.stringify(mismatch)}`);
  });
}

for (const c of [CASES[0], CASES[4], CASES[5]] as (typeof CASES)[number][]) {
  test(`graph training hands back its full state: a restored copy resumes to the same weights (${c.spec.compile.optimizer.kind}${c.spec.compile.optimizer.momentum ? " with momentum" : ""})`, async (ctx) => {
    if (!native()) return ctx.skip(`graph training needs the native backend; this one is ${engine.backend.name}`);
    const loss = c.spec.compile.loss as LossKind;
    const straight = await engine.buildModel(c.spec);
    const interrupted = await engine.buildModel(c.spec);
    try {
      await train(straight, c.x, c.y, loss, [], 2, true);
      await train(interrupted, c.x, c.y, loss, [], 1, true);
      // Weights and optimizer state read from the model (flushed from the graph) into a new model.
      const weights = await interrupted.getWeights();
      const capture = await interrupted.captureState();
      const optimizer = [];
      for (const [i, t] of capture.tensors.entries()) {
        if (t.group !== "optimizer") continue;
        const count = t.shape.reduce((n, d) => n * d, 1);
        const bytes = await capture.read(i, 0, count, new Uint8Array(count * 4));
        const data =
          t.dtype === "int32" ? new Int32Array(bytes.buffer, 0, count) : new Float32Array(bytes.buffer, 0, count);
        optimizer.push({ name: t.name, tensor: { dtype: t.dtype, shape: t.shape, data } as TensorData });
      }
      capture.release();
      assert.ok(
        optimizer.some((o) => o.name !== "iter" && !o.name.startsWith("modelbay/")),
        "slots were handed back",
      );
      const resumed = await engine.restoreModel(c.spec, { weights, optimizer });
      try {
        // The second epoch, with the shuffle the straight run used for it.
        await train(resumed, c.x, c.y, loss, [], 1, true, 1);
        const a = await straight.getWeights();
        const b = await resumed.getWeights();
        a.forEach((w, i) => {
          assert.deepEqual(b[i]?.tensor.data, w.tensor.data, `weight ${w.name} differs after resuming`);
        });
      } finally {
        resumed.dispose();
      }
    } finally {
      straight.dispose();
      interrupted.dispose();
    }
  });
}

test("models the graph does not cover train eagerly", async () => {
  const withDropout: ModelSpec = {
    ...spec(
      10,
      [
        { units: 8, activation: "relu" },
        { units: 1, activation: "linear" },
      ],
      "mean_squared_error",
    ),
  };
  if (withDropout.topology.kind === "sequential") {
    withDropout.topology.layers.splice(1, 0, { kind: "dropout", rate: 0.5 });
  }
  const elu = spec(
    10,
    [
      { units: 8, activation: "elu" },
      { units: 1, activation: "linear" },
    ],
    "mean_squared_error",
  );
  const crossentropyAfterLinear = spec(
    10,
    [
      { units: 8, activation: "relu" },
      { units: 1, activation: "linear" },
    ],
    "binary_crossentropy",
  );
  for (const s of [withDropout, elu, crossentropyAfterLinear]) {
    const model = await engine.buildModel(s);
    try {
      const r = await train(model, data(64, 10, 9), data(64, 1, 8), s.compile.loss as LossKind, [], 1, true);
      assert.equal(r.executor, "eager");
      assert.ok(Number.isFinite(r.losses[0]));
    } finally {
      model.dispose();
    }
  }
});

test("training, then reading the model, frees the optimizer's previous slots (no tensors pile up)", async () => {
  // Each read after graph training hands the slots back to tfjs, whose optimizers replace their
  // slot variables without freeing the old ones; this leaked twice the weights per cycle for Adam.
  for (const optimizer of [{ kind: "adam" }, { kind: "sgd", momentum: 0.9 }, { kind: "rmsprop" }] as OptimizerSpec[]) {
    const s = spec(
      10,
      [
        { units: 16, activation: "relu" },
        { units: 1, activation: "linear" },
      ],
      "mean_squared_error",
      [],
      false,
      optimizer,
    );
    const model = await engine.buildModel(s);
    try {
      const counts: number[] = [];
      for (let cycle = 0; cycle < 3; cycle++) {
        const r = await train(model, data(64, 10, 9), data(64, 1, 8), "mean_squared_error", [], 1, true, cycle);
        assert.equal(r.executor, native() ? "graph" : "eager");
        await predictOne(model, { dtype: "float32", shape: [2, 10], data: seededFloats(20, 3) });
        counts.push((await engine.memory()).numTensors);
      }
      assert.equal(counts[2], counts[1], `${optimizer.kind}: tensors after each cycle ${counts.join(", ")}`);
      assert.equal(counts[1], counts[0], `${optimizer.kind}: tensors after each cycle ${counts.join(", ")}`);
    } finally {
      model.dispose();
    }
  }
});

test("a small step's train session splits its ops across one thread, a large one's across TensorFlow's", async (ctx) => {
  if (!native()) return ctx.skip(`graph training needs the native backend; this one is ${engine.backend.name}`);
  if (process.platform !== "linux") return ctx.skip("threads are counted in /proc");
  if (process.env.TF_NUM_INTRAOP_THREADS) return ctx.skip("TF_NUM_INTRAOP_THREADS is set: it sizes every session");
  const c = CASES[0] as (typeof CASES)[number];
  // A session's own intra-op pool starts its threads when the session loads and joins them when
  // it closes (the trainer's dispose); the largest product is 10 x 128 multiply-adds a row.
  const poolThreads = async (batchSize: number) => {
    const model = await engine.buildModel(c.spec);
    try {
      const before = fs.readdirSync("/proc/self/task").length;
      const trainer = await model.createTrainer([c.x], [c.y], { batchSize, loss: "mean_squared_error", metrics: [] });
      const during = fs.readdirSync("/proc/self/task").length;
      assert.equal(trainer.executor, "graph");
      trainer.dispose();
      // Each Train call loads a session: its pool must not outlive it.
      assert.equal(fs.readdirSync("/proc/self/task").length, before, "the session's pool threads outlived it");
      return during - before;
    } finally {
      model.dispose();
    }
  };
  const small = 32; // 41k multiply-adds
  const large = 2048; // 2.6M
  assert.equal(trainStepThreads([{ inputDim: 10, units: 128 }], small), 1);
  assert.equal(trainStepThreads([{ inputDim: 10, units: 128 }], large), 0);
  assert.equal(await poolThreads(small), 1);
  assert.equal(await poolThreads(large), os.availableParallelism());
});
