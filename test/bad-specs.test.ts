// A malformed spec gets INVALID_ARGUMENT naming the field, and the server keeps serving.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { specFromWire } from "../src/api/spec-codec.js";
import { parametersBeforeBuild, sequentialSize } from "../src/compute/spec-size.js";
import type { Activation, ModelSpec } from "../src/gen/modelbay/v1/model.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { blockSpec, denseSpec } from "./helpers/specs.js";
import { floatTensor, inlineXY } from "./helpers/tensors.js";
import { collect, ofKind, trainRequest } from "./helpers/training.js";

/** Training data given inline. */

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(() => t.close());

function sequential(spec: ModelSpec) {
  if (spec.topology?.$case !== "sequential") throw new Error("not sequential");
  return spec.topology.sequential;
}

/** A functional Keras 2 topology: an input of 3 into "dense", and `more` layers after it. */
function functional(more: { name: string; calls: unknown[][] }[], outputs: unknown[] = [["dense", 0, 0]]): ModelSpec {
  const layer = (name: string, className: string, config: object, calls: unknown[][]) => ({
    class_name: className,
    name,
    config: { name, ...config },
    inbound_nodes: calls,
  });
  const kerasJson = JSON.stringify({
    class_name: "Model",
    config: {
      name: "m",
      layers: [
        layer("in", "InputLayer", { batch_input_shape: [null, 3] }, []),
        layer("dense", "Dense", { units: 2 }, [[["in", 0, 0, {}]]]),
        ...more.map((m) => layer(m.name, "Dense", { units: 1 }, m.calls)),
      ],
      input_layers: [["in", 0, 0]],
      output_layers: outputs,
    },
  });
  return { ...denseSpec(), topology: { $case: "kerasJson", kerasJson } };
}

const cases: { name: string; spec: () => ModelSpec | undefined; field: RegExp }[] = [
  // TensorFlow.js would retry these calls forever, holding the device (found by the artifact fuzz).
  {
    name: "keras_json calling a layer it does not have",
    spec: () => functional([{ name: "out", calls: [[["nowhere", 0, 0, {}]]] }], [["out", 0, 0]]),
    field: /^spec\.keras_json: layer "out" is called on output 0 of call 0 of "nowhere", which never exists/,
  },
  {
    name: "keras_json calling a call that never happens",
    spec: () => functional([{ name: "out", calls: [[["dense", 1, 0, {}]]] }], [["out", 0, 0]]),
    field: /^spec\.keras_json: layer "out" is called on output 0 of call 1 of "dense", which never exists/,
  },
  {
    name: "keras_json whose layers wait on each other",
    spec: () =>
      functional(
        [
          { name: "a", calls: [[["b", 0, 0, {}]]] },
          { name: "b", calls: [[["a", 0, 0, {}]]] },
        ],
        [["a", 0, 0]],
      ),
    field: /^spec\.keras_json: layer "a" is called on output 0 of call 0 of "b", which never exists/,
  },
  {
    name: "keras_json with an empty call upstream",
    spec: () =>
      functional(
        [
          { name: "mid", calls: [[]] },
          { name: "out", calls: [[["mid", 0, 0, {}]]] },
        ],
        [["out", 0, 0]],
      ),
    field: /^spec\.keras_json: layer "out" is called on output 0 of call 0 of "mid", which never exists/,
  },
  { name: "no spec", spec: () => undefined, field: /^spec: is required/ },
  {
    name: "an unknown layer (no kind the server knows)",
    spec: () => {
      const s = denseSpec();
      sequential(s).layers[1] = { name: "", kind: undefined };
      return s;
    },
    field: /^spec\.sequential\.layers\[1\]: no layer kind set/,
  },
  {
    name: "negative units",
    spec: () => {
      const s = denseSpec();
      const layer = sequential(s).layers[0];
      if (layer?.kind?.$case === "dense") layer.kind.dense.units = -5;
      return s;
    },
    field: /^spec\.sequential\.layers\[0\]\.dense\.units: must be positive, got -5/,
  },
  {
    name: "missing input shape",
    spec: () => {
      const s = denseSpec();
      sequential(s).inputShape = [];
      return s;
    },
    field: /^spec\.sequential\.input_shape: is required/,
  },
  {
    name: "a block that is not declared",
    spec: () => {
      const s = blockSpec();
      s.blocks = [];
      return s;
    },
    field: /^spec\.sequential\.layers\[0\]\.block\.block: unknown block "hidden"/,
  },
  {
    name: "an unknown activation number",
    spec: () => {
      const s = denseSpec();
      const layer = sequential(s).layers[0];
      if (layer?.kind?.$case === "dense") layer.kind.dense.activation = 99 as Activation;
      return s;
    },
    field: /^spec\.sequential\.layers\[0\]\.dense\.activation: unknown value 99/,
  },
  {
    name: "a dropout rate of 1",
    spec: () => {
      const s = denseSpec();
      sequential(s).layers.splice(1, 0, { name: "", kind: { $case: "dropout", dropout: { rate: 1 } } });
      return s;
    },
    field: /^spec\.sequential\.layers\[1\]\.dropout\.rate: must be in \[0, 1\)/,
  },
  {
    name: "blocks that place each other twice over, 2^20 layers",
    spec: () => {
      const s = denseSpec();
      const place = (block: string) => ({ name: "", kind: { $case: "block" as const, block: { block } } });
      s.blocks = [{ name: "b0", layers: [sequential(denseSpec()).layers[1] as ModelSpec["blocks"][0]["layers"][0]] }];
      for (let i = 1; i <= 20; i++) s.blocks.push({ name: `b${i}`, layers: [place(`b${i - 1}`), place(`b${i - 1}`)] });
      sequential(s).layers = [place("b20")];
      return s;
    },
    field:
      /^spec\.sequential\.layers: expands to \d+ layers once its blocks are placed; the most a model may have is 10000/,
  },
  {
    name: "keras_json that is not JSON",
    spec: () => ({ ...denseSpec(), topology: { $case: "kerasJson", kerasJson: "{not json" } }),
    field: /^spec\.keras_json: not valid JSON/,
  },
  {
    name: "keras_json naming an unknown layer class",
    spec: () => kerasSequential([{ class_name: "NoSuchLayer", config: { batch_input_shape: [null, 3] } }]),
    field: /^spec\.keras_json: layer "NoSuchLayer" is not one modelbay \(TensorFlow\.js [\d.]+\) builds$/,
  },
  {
    name: "keras_json naming an activation modelbay does not compute",
    spec: () =>
      kerasSequential([
        { class_name: "Dense", config: { units: 2, activation: "sparsemax", batch_input_shape: [null, 3] } },
      ]),
    // The activations it does compute are named, Keras 3's own among them.
    field:
      /^spec\.keras_json: activation "sparsemax" is not one modelbay computes; it computes celu, elu, .*leaky_relu, .*silu/,
  },
  {
    name: "keras_json calling MultiHeadAttention with an attention_mask tensor",
    spec: () => kerasAttention([{ args: [series, series], kwargs: { attention_mask: series } }]),
    field:
      /^spec\.keras_json: MultiHeadAttention "mha" is called with an attention_mask tensor, which modelbay does not take/,
  },
  {
    name: "keras_json asking MultiHeadAttention for its scores",
    spec: () => kerasAttention([{ args: [series, series], kwargs: { return_attention_scores: true } }]),
    field: /^spec\.keras_json: MultiHeadAttention "mha" is called with return_attention_scores/,
  },
  {
    name: "keras_json calling one MultiHeadAttention causally and not",
    spec: () =>
      kerasAttention([
        { args: [series, series], kwargs: { use_causal_mask: true } },
        { args: [series, series], kwargs: {} },
      ]),
    field: /^spec\.keras_json: MultiHeadAttention "mha" is called both with and without use_causal_mask/,
  },
  {
    name: "keras_json with a gated MultiHeadAttention",
    spec: () => kerasAttention([{ args: [series, series], kwargs: {} }], { use_gate: true }),
    field: /^spec\.keras_json: .*MultiHeadAttention with use_gate is not one modelbay computes/,
  },
  {
    name: "keras_json with Attention over rows (its scores would mix the rows of a batch)",
    spec: () => kerasSequential([{ class_name: "Attention", config: { batch_input_shape: [null, 3] } }]),
    field: /^spec\.keras_json: .*Attention takes \[batch, steps, features\] inputs, got \[null,3\]/,
  },
  {
    name: "keras_json attending to a masked value other than the query",
    // The value's mask (padding of the token ids) would not reach the layer.
    spec: () => {
      const ids = {
        class_name: "InputLayer",
        name: "ids",
        config: { name: "ids", batch_shape: [null, 6], dtype: "int32" },
        inbound_nodes: [],
      };
      const words = {
        class_name: "Embedding",
        name: "words",
        config: { name: "words", input_dim: 20, output_dim: 4, mask_zero: true },
        inbound_nodes: [{ args: [kerasTensor("ids", [null, 6])], kwargs: {} }],
      };
      return kerasAttention([{ args: [], kwargs: { query: series, value: kerasTensor("words") } }], {}, [ids, words]);
    },
    field: /^spec\.keras_json: MultiHeadAttention "mha" attends to a masked tensor of "words" other than its query/,
  },
  {
    name: "keras_json with a graph operation modelbay does not compute",
    spec: () => kerasOperation("Sort", { axis: -1 }, [series]),
    field: /^spec\.keras_json: Keras operation "Sort" is not one modelbay computes; it computes Absolute, Add, /,
  },
  {
    name: "keras_json with a graph operation that reduces the batch away (mean over axis 0)",
    spec: () => kerasOperation("Mean", { axis: 0, keepdims: false }, [series]),
    field:
      /^spec\.keras_json: Keras operation "Mean" \(layer "op"\) gives shape \[6,4\] for a batch of 2: the batch must stay the first axis/,
  },
  {
    name: "keras_json with a graph operation that mixes the rows of a batch (cumsum over axis 0)",
    spec: () => kerasOperation("Cumsum", { axis: 0, dtype: null }, [series]),
    field: /^spec\.keras_json: Keras operation "Cumsum" \(layer "op"\) mixes the rows of a batch/,
  },
  {
    name: "keras_json with a graph operation indexing by a tensor",
    spec: () => kerasOperation("GetItem", {}, [series, kerasTensor("series")]),
    field: /^spec\.keras_json: .*indexing with a tensor is not supported/,
  },
];

for (const c of cases) {
  test(`${c.name} is INVALID_ARGUMENT naming the field`, async () => {
    const spec = c.spec();
    await assert.rejects(
      // A deadline, so that a spec that holds the device fails here rather than hanging the run.
      t.client.createModel(spec ? { modelId: "", spec } : { modelId: "" }, { deadline: Date.now() + 60_000 }),
      (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
        assert.match(err.details, c.field);
        return true;
      },
    );
    assert.equal(await t.client.health(), "SERVING");
  });
}

test("a model id with path characters is INVALID_ARGUMENT", async () => {
  await assert.rejects(t.client.createModel({ modelId: "../etc", spec: denseSpec() }), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /^model_id: /);
    return true;
  });
});

test("a taken model id is ALREADY_EXISTS and the first model is untouched", async () => {
  await t.client.createModel({ modelId: "taken", spec: denseSpec() });
  await assert.rejects(t.client.createModel({ modelId: "taken", spec: blockSpec() }), {
    code: grpc.status.ALREADY_EXISTS,
  });
  const { model } = await t.client.getModel({ modelId: "taken" });
  assert.equal(model?.parameterCount, 10 * 128 + 128 + 128 + 1);
});

test("a spec too large for the memory budget is RESOURCE_EXHAUSTED before anything is allocated", async () => {
  const before = (await t.client.getServerInfo({})).devices.reduce((n, d) => n + d.usedBytes, 0);
  // 2^31 inputs into Dense(128): 275 G weights, far over the 8 GiB default budget. Building it
  // would first try to allocate the kernel (an error from deep in TensorFlow.js, or the memory).
  const s = denseSpec();
  sequential(s).inputShape = [2 ** 31];
  await assert.rejects(t.client.createModel({ modelId: "huge", spec: s }), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, err.details);
    // Weights, then two Adam slots per weight.
    const bytes = (2 ** 31 * 128 + 128 + 128 * 1 + 1) * 4 * 3;
    assert.match(err.details, new RegExp(`needs about ${bytes} bytes.*--max-session-bytes`));
    return true;
  });
  await assert.rejects(t.client.getModel({ modelId: "huge" }), { code: grpc.status.NOT_FOUND });
  assert.equal(
    (await t.client.getServerInfo({})).devices.reduce((n, d) => n + d.usedBytes, 0),
    before,
  );
});

/** A Keras JSON Sequential topology of Dense layers after an input of `width`. */
function kerasDense(width: number, units: number[]): ModelSpec {
  return kerasSequential(
    units.map((u, i) => ({
      class_name: "Dense",
      config: { units: u, ...(i === 0 ? { batch_input_shape: [null, width] } : {}) },
    })),
  );
}

/** A Keras JSON Sequential topology of the given layers (the first declares the input). */
/** A Keras 3 call's reference to output 0 of a layer's first call. */
function kerasTensor(layer: string, shape: (number | null)[] = [null, 6, 4]) {
  return { class_name: "__keras_tensor__", config: { shape, dtype: "float32", keras_history: [layer, 0, 0] } };
}
const series = kerasTensor("series");

/** A Keras 3 functional model of a [6, 4] series input, `before` layers and MultiHeadAttention "mha" called as `calls` say. */
function kerasAttention(calls: unknown[], config: Record<string, unknown> = {}, before: unknown[] = []): ModelSpec {
  const input = { name: "series", batch_shape: [null, 6, 4], dtype: "float32" };
  const layers = [
    { class_name: "InputLayer", name: "series", config: input, inbound_nodes: [] },
    ...before,
    {
      class_name: "MultiHeadAttention",
      name: "mha",
      config: { name: "mha", num_heads: 2, key_dim: 3, ...config },
      inbound_nodes: calls,
    },
  ];
  const inputs = [["series", 0, 0], ...(before.length ? [["ids", 0, 0]] : [])];
  const model = {
    module: "keras",
    class_name: "Functional",
    config: { name: "m", layers, input_layers: inputs, output_layers: [["mha", 0, 0]] },
  };
  return { ...denseSpec(), topology: { $case: "kerasJson", kerasJson: JSON.stringify(model) } };
}

/** A Keras 3 functional model whose output is graph operation "op" of class `operation` called on `args`. */
function kerasOperation(operation: string, settings: Record<string, unknown>, args: unknown[]): ModelSpec {
  const input = { name: "series", batch_shape: [null, 6, 4], dtype: "float32" };
  const layers = [
    { class_name: "InputLayer", name: "series", config: input, inbound_nodes: [] },
    {
      module: "keras.src.ops.numpy",
      class_name: operation,
      name: "op",
      config: { name: "op", ...settings },
      inbound_nodes: [{ args, kwargs: {} }],
    },
  ];
  const model = {
    module: "keras",
    class_name: "Functional",
    config: { name: "m", layers, input_layers: [["series", 0, 0]], output_layers: [["op", 0, 0]] },
  };
  return { ...denseSpec(), topology: { $case: "kerasJson", kerasJson: JSON.stringify(model) } };
}

function kerasSequential(layers: { class_name: string; config: Record<string, unknown> }[]): ModelSpec {
  const kerasJson = JSON.stringify({ class_name: "Sequential", config: { name: "k", layers } });
  return { ...denseSpec(), topology: { $case: "kerasJson", kerasJson } };
}

test("a Keras JSON topology with a Dense too large for the budget is RESOURCE_EXHAUSTED before it is built", async () => {
  const peak = process.resourceUsage().maxRSS;
  // 3 inputs into Dense(2^28): 1.07 G weights, 12.9 GB with Adam's slots; TensorFlow.js would
  // allocate the 4.3 GB of weights first and only then be measured against the budget.
  const spec = kerasDense(3, [2 ** 28]);
  await assert.rejects(t.client.createModel({ modelId: "huge-keras", spec }), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, err.details);
    assert.match(err.details, new RegExp(`needs about ${(3 * 2 ** 28 + 2 ** 28) * 12} bytes`));
    return true;
  });
  const grewKiB = process.resourceUsage().maxRSS - peak;
  assert.ok(grewKiB < 512 * 1024, `the process's peak memory grew by ${grewKiB} KiB`);
});

test("a Keras JSON layer of any kind too large for the budget is refused before its weights are allocated", async () => {
  const peak = process.resourceUsage().maxRSS;
  // Layers that are not sized before building: the build counts each weight as TensorFlow.js asks
  // for it. Unguarded, the first is TensorFlow.js's own "Invalid typed array length", the second
  // allocates its 4.3 GB kernel first.
  const cases = [
    {
      layer: {
        class_name: "Conv2D",
        config: { name: "wide", filters: 2 ** 20, kernel_size: [3, 3], batch_input_shape: [null, 8, 8, 1024] },
      },
      refused: /counted up to layer "wide" weight "kernel" of shape \[3, 3, 1024, 1048576\]/,
    },
    {
      layer: {
        class_name: "LSTM",
        config: { name: "long", units: 2 ** 15, batch_input_shape: [null, 4, 8192] },
      },
      refused: /counted up to layer "long" weight "kernel" of shape \[8192, 131072\]/,
    },
  ];
  for (const c of cases) {
    await assert.rejects(
      t.client.createModel({ modelId: "huge-layer", spec: kerasSequential([c.layer]) }),
      (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, err.details);
        assert.match(err.details, c.refused);
        assert.match(err.details, /more than the whole budget of 8589934592 \(--max-session-bytes\)/);
        return true;
      },
    );
  }
  const grewKiB = process.resourceUsage().maxRSS - peak;
  assert.ok(grewKiB < 256 * 1024, `the process's peak memory grew by ${grewKiB} KiB`);
  await assert.rejects(t.client.getModel({ modelId: "huge-layer" }), { code: grpc.status.NOT_FOUND });
});

test("a build refused half way frees the weights it had made", async () => {
  const before = (await t.server.sessions.engine.memory()).numTensors;
  // The first LSTM is built, then the second's kernel (8.4M elements); its recurrent kernel is over
  // the budget and refused. What was made before it belongs to no model and must be freed.
  const spec = kerasSequential([
    {
      class_name: "LSTM",
      config: { name: "first", units: 16, return_sequences: true, batch_input_shape: [null, 4, 16] },
    },
    { class_name: "LSTM", config: { name: "second", units: 2 ** 17 } },
  ]);
  await assert.rejects(t.client.createModel({ modelId: "half-built", spec }), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, err.details);
    assert.match(err.details, /layer "second" weight "recurrent_kernel"/);
    return true;
  });
  assert.equal((await t.server.sessions.engine.memory()).numTensors, before);
  // The same holds for a build that TensorFlow.js itself refuses half way (here, a bad activation).
  const bad = kerasSequential([
    { class_name: "Dense", config: { name: "ok", units: 8, batch_input_shape: [null, 10] } },
    { class_name: "Dense", config: { name: "bad", units: 1, activation: "no-such-activation" } },
  ]);
  await assert.rejects(t.client.createModel({ modelId: "half-built", spec: bad }), {
    code: grpc.status.INVALID_ARGUMENT,
  });
  assert.equal((await t.server.sessions.engine.memory()).numTensors, before);
});

test("the size counted before building is what the built model holds", async () => {
  const keras = kerasDense(10, [32, 16, 1]);
  await t.client.createModel({ modelId: "size-keras", spec: keras });
  const built = (await t.client.getModel({ modelId: "size-keras" })).model?.parameterCount;
  assert.equal(built, 10 * 32 + 32 + 32 * 16 + 16 + 16 + 1);
  assert.equal(parametersBeforeBuild(specFromWire(keras)), built, "a Dense-only Sequential is counted exactly");
  await t.client.deleteModel({ modelId: "size-keras", deleteCheckpoints: false });
  for (const [modelId, spec] of [
    ["size-dense", denseSpec()],
    ["size-block", blockSpec()],
  ] as const) {
    await t.client.createModel({ modelId, spec });
    const { model } = await t.client.getModel({ modelId });
    const counted = sequentialSize(specFromWire(spec));
    assert.equal(model?.parameterCount, counted?.parameters, modelId);
    await t.client.deleteModel({ modelId, deleteCheckpoints: false });
  }
});

test("an unknown model is NOT_FOUND", async () => {
  await assert.rejects(t.client.getModel({ modelId: "nobody" }), { code: grpc.status.NOT_FOUND });
});

test("a Keras JSON model that builds but cannot compute is INVALID_ARGUMENT when it is made", async () => {
  // TensorFlow.js builds this softmax (over axis 1 of a rank-3 input) but cannot run it.
  const spec = kerasSequential([{ class_name: "Softmax", config: { axis: 1, batch_input_shape: [null, 2, 2] } }]);
  await assert.rejects(t.client.createModel({ modelId: "no-compute", spec }), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
    assert.match(
      err.details,
      /^spec: the model builds but cannot compute an input of shape \[1, 2, 2\]: Softmax along/,
    );
    return true;
  });
  await assert.rejects(t.client.getModel({ modelId: "no-compute" }), { code: grpc.status.NOT_FOUND });
  // A declared dimension of size 0: such a Conv3DTranspose, run, ended the process with SIGFPE.
  const zero = kerasSequential([
    {
      class_name: "Conv3DTranspose",
      config: { name: "up", filters: 2, kernel_size: 2, batch_input_shape: [null, 3, 5, 2, 0] },
    },
  ]);
  await assert.rejects(t.client.createModel({ modelId: "zero", spec: zero }), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
    assert.match(err.details, /layer "up" has an input of shape \[null,3,5,2,0\], with a dimension of size 0/);
    return true;
  });
  // A declared shape that is not a list of sizes is refused by name, not as an internal error.
  const odd = kerasSequential([{ class_name: "Dense", config: { units: 1, batch_input_shape: {} } }]);
  await assert.rejects(t.client.createModel({ modelId: "odd-shape", spec: odd }), {
    code: grpc.status.INVALID_ARGUMENT,
  });
});

test("what a Keras JSON model's layers refuse at Predict or Train is the caller's INVALID_ARGUMENT", async () => {
  const embedding = kerasSequential([
    { class_name: "Embedding", config: { input_dim: 5, output_dim: 2, batch_input_shape: [null, 3] } },
    { class_name: "Flatten", config: {} },
    { class_name: "Dense", config: { units: 1 } },
  ]);
  await t.client.createModel({ modelId: "embed", spec: embedding });
  const ids = (values: number[]) => floatTensor(Float32Array.from(values), [1, 3], true);
  await t.client.predict({ modelId: "embed", inputs: [ids([0, 4, 2])], rawOutput: true });
  // Category 7 of an embedding of 5: the input checks pass (shape, dtype), the layer refuses it.
  await assert.rejects(
    t.client.predict({ modelId: "embed", inputs: [ids([0, 7, 2])], rawOutput: true }),
    (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
      assert.match(err.details, /^the model cannot compute this input: .*index value 7/);
      return true;
    },
  );
  await t.client.predict({ modelId: "embed", inputs: [ids([1, 1, 1])], rawOutput: true });

  // An output of free size takes labels of any size there; TensorFlow.js then finds they do not fit.
  const free = kerasSequential([
    { class_name: "Conv1D", config: { filters: 2, kernel_size: 2, batch_input_shape: [null, null, 3] } },
  ]);
  await t.client.createModel({ modelId: "free", spec: free });
  const x = floatTensor(new Float32Array(4 * 5 * 3).fill(0.5), [4, 5, 3], true);
  const fits = floatTensor(new Float32Array(4 * 4 * 2), [4, 4, 2], true);
  const misfits = floatTensor(new Float32Array(4 * 3 * 2), [4, 3, 2], true);
  const train = (y: typeof x) =>
    collect(t.client, { ...trainRequest("free", 4, { epochs: 1, batchSize: 2 }), data: inlineXY(x, y) });
  assert.ok(ofKind(await train(fits), "completed").length === 1, "labels that fit the free output train");
  // A free axis sent empty holds no data (and some TensorFlow kernels divide by its size).
  const empty = floatTensor(new Float32Array(0), [2, 0, 3], true);
  await assert.rejects(t.client.predict({ modelId: "free", inputs: [empty], rawOutput: true }), {
    code: grpc.status.INVALID_ARGUMENT,
    message: /dimension 1 of shape \[2, 0, 3\] is 0/,
  });
  await assert.rejects(
    collect(t.client, {
      ...trainRequest("free", 2),
      data: inlineXY(empty, floatTensor(new Float32Array(0), [2, 0, 2], true)),
    }),
    { code: grpc.status.INVALID_ARGUMENT, message: /data\.x: dimension 1 of shape \[2, 0, 3\] is 0/ },
  );
  const failed = ofKind(await train(misfits), "failed")[0]?.failed;
  assert.equal(failed?.code, grpc.status.INVALID_ARGUMENT, failed?.message);
  assert.match(failed?.message ?? "", /^the model cannot train on this data: Incompatible shapes/);

  // A model without trainable weights is refused before a job starts.
  const still = kerasSequential([
    { class_name: "Activation", config: { activation: "relu", batch_input_shape: [null, 10] } },
  ]);
  await t.client.createModel({ modelId: "still", spec: still });
  await assert.rejects(collect(t.client, trainRequest("still", 8)), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION, err.details);
    assert.match(err.details, /no trainable weights/);
    return true;
  });
  for (const modelId of ["embed", "free", "still"]) await t.client.deleteModel({ modelId, deleteCheckpoints: false });
});
