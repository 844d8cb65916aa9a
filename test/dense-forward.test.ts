// The direct forward pass of Dense stacks (src/compute/dense-forward.ts) gives exactly what
// tfjs-layers' predict gives, bit for bit, for the activations and custom blocks it covers; other
// models are left to tfjs-layers.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/compute/backend.js";
import { denseForward } from "../src/compute/dense-forward.js";
import { loadedForwardSessions } from "../src/compute/graph/forward-graph.js";
import { buildModel } from "../src/compute/model-builder.js";
import type { Activation, ModelSpec } from "../src/compute/model-spec.js";
import { fromTensor, toTensor } from "../src/compute/tensor-conversion.js";
import { seededFloats } from "./helpers/tensors.js";

type Tensor = ReturnType<typeof toTensor>;

before(async () => {
  await initBackend("auto");
});

function spec(inputs: number, layers: [number, Activation][], block = false): ModelSpec {
  const dense = ([units, activation]: [number, Activation]) => ({
    kind: "dense" as const,
    units,
    activation,
    useBias: true,
  });
  return {
    topology: {
      kind: "sequential",
      inputShape: [inputs],
      layers: block
        ? [{ kind: "block", block: "hidden" }, dense(layers.at(-1) as [number, Activation])]
        : layers.map(dense),
    },
    blocks: block ? [{ name: "hidden", layers: layers.slice(0, -1).map(dense) }] : [],
    compile: { optimizer: { kind: "adam" }, loss: "mean_squared_error", metrics: [] },
    inputName: "input",
    outputName: "output",
    preprocessing: "",
    seed: 3,
  };
}

const COVERED: [string, ModelSpec][] = [
  [
    "Dense(128, relu) -> Dense(1)",
    spec(10, [
      [128, "relu"],
      [1, "linear"],
    ]),
  ],
  [
    "a custom block of tanh and sigmoid layers -> softmax",
    spec(
      6,
      [
        [16, "tanh"],
        [8, "sigmoid"],
        [3, "softmax"],
      ],
      true,
    ),
  ],
];

/** The forward pass with graph sessions allowed, or kept on eager ops. */
function forwardOf(model: Parameters<typeof denseForward>[0], executor: "graph" | "eager") {
  const before = process.env.MODELBAY_GRAPH_PREDICT;
  if (executor === "eager") process.env.MODELBAY_GRAPH_PREDICT = "0";
  else delete process.env.MODELBAY_GRAPH_PREDICT;
  try {
    return denseForward(model);
  } finally {
    if (before === undefined) delete process.env.MODELBAY_GRAPH_PREDICT;
    else process.env.MODELBAY_GRAPH_PREDICT = before;
  }
}

for (const [name, s] of COVERED) {
  for (const executor of ["graph", "eager"] as const) {
    test(`direct forward (${executor}) equals tfjs-layers predict bit for bit: ${name}`, async (t) => {
      const native = tf.getBackend().startsWith("tensorflow");
      if (executor === "graph" && !native) return t.skip(`backend ${tf.getBackend()} has no graph sessions`);
      const model = await buildModel(s);
      const forward = forwardOf(model, executor);
      try {
        assert.ok(forward, "a Dense stack has a direct forward pass");
        assert.equal(forward.executor, executor);
        const width = (s.topology.kind === "sequential" && s.topology.inputShape[0]) as number;
        for (const rows of [1, 37, 4096, 20_000]) {
          const x = toTensor({ dtype: "float32", shape: [rows, width], data: seededFloats(rows * width, rows) });
          const direct: Tensor = forward.run(x);
          const layers = model.predict(x, { batchSize: 8192 }) as Tensor;
          const a = await fromTensor(direct);
          const b = await fromTensor(layers);
          assert.deepEqual(a.shape, b.shape);
          assert.deepEqual(a.data, b.data, `rows ${rows}`);
          for (const t of [x, direct, layers]) t.dispose();
        }
      } finally {
        forward?.release();
        model.dispose();
      }
    });
  }
}

test("the graph forward pass follows weight updates and shares one session between same-shaped models", async (t) => {
  if (!tf.getBackend().startsWith("tensorflow")) return t.skip(`backend ${tf.getBackend()} has no graph sessions`);
  const s = COVERED[0]?.[1] as ModelSpec;
  const a = await buildModel(s);
  const b = await buildModel({ ...s, seed: 99 });
  const fa = forwardOf(a, "graph");
  const fb = forwardOf(b, "graph");
  assert.equal(loadedForwardSessions(), 1, "two models of one shape share a session");
  try {
    const x = toTensor({ dtype: "float32", shape: [5, 10], data: seededFloats(50, 1) });
    const run = async (f: typeof fa, m: typeof a) => {
      const direct = (f as NonNullable<typeof fa>).run(x);
      const layers = m.predict(x) as Tensor;
      const out = { direct: (await fromTensor(direct)).data, layers: (await fromTensor(layers)).data };
      tf.dispose([direct, layers]);
      return out;
    };
    const before = await run(fa, a);
    // b's weights go into a: the same session must now compute b's function through a.
    a.setWeights(b.getWeights());
    const after = await run(fa, a);
    const other = await run(fb, b);
    assert.notDeepEqual(after.direct, before.direct);
    assert.deepEqual(after.direct, after.layers);
    assert.deepEqual(after.direct, other.direct);
    x.dispose();
  } finally {
    fa?.release();
    assert.equal(loadedForwardSessions(), 1, "the session outlives its first user");
    fb?.release();
    assert.equal(loadedForwardSessions(), 0, "the last user closes it");
    a.dispose();
    b.dispose();
  }
});

test("models that are not plain Dense stacks have no direct forward pass", async () => {
  const withDropout = spec(10, [
    [8, "relu"],
    [1, "linear"],
  ]);
  if (withDropout.topology.kind === "sequential")
    withDropout.topology.layers.splice(1, 0, { kind: "dropout", rate: 0.5 });
  for (const s of [
    withDropout,
    spec(10, [
      [8, "elu"],
      [1, "linear"],
    ]),
    // Dense layers that are not matrix products of vectors, or that train with more than the loss.
    keras([{ units: 8, batch_input_shape: [null, 1, 6] }]),
    keras([
      { units: 8, batch_input_shape: [null, 6], kernel_regularizer: { class_name: "L1L2", config: { l2: 0.1 } } },
    ]),
    keras([{ units: 8, batch_input_shape: [null, 6], kernel_constraint: { class_name: "NonNeg", config: {} } }]),
  ]) {
    const model = await buildModel(s);
    try {
      assert.equal(denseForward(model), undefined, JSON.stringify(s.topology));
    } finally {
      model.dispose();
    }
  }
});

test("a functional model that applies one Dense twice predicts both applications", async () => {
  // Listed once among the model's layers, the shared Dense was taken for a one-layer stack: the
  // direct forward pass (and the one-call train step) applied it once.
  const input = tf.input({ shape: [4] });
  const shared = tf.layers.dense({ units: 4, activation: "relu", name: "shared" });
  const twice = tf.model({ inputs: input, outputs: shared.apply(shared.apply(input)) as tf.SymbolicTensor });
  const json = JSON.stringify(twice.toJSON(undefined, false));
  twice.dispose();
  const model = await buildModel({ ...spec(4, []), topology: { kind: "keras-json", json } });
  try {
    assert.equal(denseForward(model), undefined);
    const x = toTensor({ dtype: "float32", shape: [3, 4], data: seededFloats(12, 5) });
    const [kernel, bias] = model.getWeights() as [Tensor, Tensor];
    const once = (t: Tensor) => tf.relu(tf.add(tf.matMul(t, kernel), bias));
    const expected = await fromTensor(once(once(x)));
    const got = await fromTensor(model.predict(x) as Tensor);
    assert.deepEqual(got.data, expected.data);
  } finally {
    model.dispose();
  }
});

/** A Keras JSON Sequential topology of Dense layers with the given configs. */
function keras(configs: Record<string, unknown>[]): ModelSpec {
  const layers = configs.map((config) => ({ class_name: "Dense", config }));
  const json = JSON.stringify({ class_name: "Sequential", config: { name: "k", layers } });
  return { ...spec(6, []), topology: { kind: "keras-json", json } };
}
