// The direct forward pass of Dense stacks (src/compute/dense-forward.ts) gives exactly what
// tfjs-layers' predict gives, bit for bit, for the activations and custom blocks it covers; other
// models are left to tfjs-layers.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { initBackend } from "../src/compute/backend.js";
import { denseForward } from "../src/compute/dense-forward.js";
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

for (const [name, s] of COVERED) {
  test(`direct forward equals tfjs-layers predict bit for bit: ${name}`, async () => {
    const model = await buildModel(s);
    try {
      const forward = denseForward(model);
      assert.ok(forward, "a Dense stack has a direct forward pass");
      const width = (s.topology.kind === "sequential" && s.topology.inputShape[0]) as number;
      for (const rows of [1, 37, 4096]) {
        const x = toTensor({ dtype: "float32", shape: [rows, width], data: seededFloats(rows * width, rows) });
        const direct: Tensor = forward(x);
        const layers = model.predict(x, { batchSize: 8192 }) as Tensor;
        const a = await fromTensor(direct);
        const b = await fromTensor(layers);
        assert.deepEqual(a.shape, b.shape);
        assert.deepEqual(a.data, b.data, `rows ${rows}`);
        for (const t of [x, direct, layers]) t.dispose();
      }
    } finally {
      model.dispose();
    }
  });
}

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
  ]) {
    const model = await buildModel(s);
    try {
      assert.equal(denseForward(model), undefined);
    } finally {
      model.dispose();
    }
  }
});
