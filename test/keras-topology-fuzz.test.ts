// Random Keras JSON topologies (Sequential stacks, and functional graphs with merges, shared
// layers and Keras 3 graph operations), against `modelbay serve` in its own process. A Keras JSON spec can assemble any of
// TensorFlow.js's layers with any config; whatever the server makes of one must be
// OK or the caller's error, at every step: CreateModel, Predict, Train, Checkpoint and Restore. A
// model that trained and was checkpointed must predict the same bytes once restored, and what
// TensorFlow.js predicts from the checkpoint's files. The server must
// stay up and log no unexpected error. MODELBAY_KERAS_FUZZ_SEED and MODELBAY_KERAS_FUZZ_ROUNDS
// replay or widen a run.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { connect, type ModelbayClient } from "../src/cli/client.js";
import type { ModelSpec } from "../src/gen/modelbay/v1/model.js";
import type { Tensor } from "../src/gen/modelbay/v1/tensor.js";
import { Random } from "./helpers/fuzz-messages.js";
import { serveProcess } from "./helpers/serve-process.js";
import { startTestServer, tempDir } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { firstMismatch, floatTensor, inlineXY, seededFloats } from "./helpers/tensors.js";
import { collect, ofKind, trainRequest } from "./helpers/training.js";

const seed = Number(process.env.MODELBAY_KERAS_FUZZ_SEED ?? 20261126);
const rounds = Number(process.env.MODELBAY_KERAS_FUZZ_ROUNDS ?? 300);
const Status = grpc.status;

/** A deadline for each call, so that a model that holds the device for minutes fails its round by name. */
const within = () => ({ deadline: Date.now() + 60_000 });

/** What a bad topology, or data a model cannot take, may be answered with. */
const callerMistakes = new Set([
  Status.INVALID_ARGUMENT,
  Status.FAILED_PRECONDITION,
  Status.RESOURCE_EXHAUSTED,
  Status.OUT_OF_RANGE,
]);

/** Layers most configs build; half the topologies use only these, so that later steps get exercised. */
const COMMON = [
  "Dense",
  "LSTM",
  "GRU",
  "SimpleRNN",
  "Conv1D",
  "Flatten",
  "Dropout",
  "BatchNormalization",
  "LayerNormalization",
  "Activation",
  "GlobalAveragePooling1D",
  "MaxPooling1D",
  "Bidirectional",
  "TimeDistributed",
  "Embedding",
  "PReLU",
  "LeakyReLU",
  "Masking",
  "GaussianNoise",
  "Normalization",
  "UnitNormalization",
  "GroupNormalization",
  "MultiHeadAttention",
  "Attention",
  "AdditiveAttention",
];
const ALL = [
  ...COMMON,
  ...["Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose", "SeparableConv1D", "SeparableConv2D"],
  ...["DepthwiseConv2D", "Cropping2D", "UpSampling2D", "ZeroPadding2D", "MaxPooling2D", "MaxPooling3D"],
  ...["AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling2D"],
  ...["GlobalMaxPooling1D", "GlobalMaxPooling2D", "Reshape", "Permute", "RepeatVector", "ConvLSTM2D"],
  ...["SpatialDropout1D", "GaussianDropout", "AlphaDropout", "ReLU", "ELU", "Softmax", "ThresholdedReLU"],
  ...["Rescaling", "CenterCrop", "Resizing", "CategoryEncoding", "RandomWidth", "RandomHeight"],
  ...["InputLayer", "Lambda", "NoSuchLayer"],
];
const KEYS = [
  ...["units", "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation"],
  ...["use_bias", "pool_size", "target_shape", "dims", "n", "input_dim", "output_dim", "return_sequences"],
  ...["return_state", "go_backwards", "stateful", "axis", "rate", "stddev", "mask_value", "alpha", "cropping"],
  ...["size", "depth_multiplier", "recurrent_activation", "dropout", "momentum", "epsilon", "scale", "offset"],
  ...["reset_after", "invert", "mean", "variance", "recurrent_dropout", "groups", "num_heads", "key_dim"],
  ...["value_dim", "output_shape", "use_causal_mask", "attention_axes", "score_mode", "use_scale"],
  ...["height", "width", "num_tokens", "output_mode", "interpolation", "merge_mode", "layer", "factor"],
];
const ODD_VALUES: unknown[] = [
  ...[0, 1, 2, 3, 8, -1, -3, 2 ** 31, 1.5, 1e9, Number.NaN, null, true, false, {}, [], [2], [2, 2], [0, 0], [-1, 2]],
  ...["same", "valid", "causal", "channels_first", "channels_last", "relu", "softmax", "nope", "x"],
  ...["hard_sigmoid", "leaky_relu", "squareplus"],
];

type LayerJson = { class_name: string; config: Record<string, unknown> };

function randomLayer(r: Random, common: boolean, inputShape: unknown): LayerJson {
  const kind = r.pick(common ? COMMON : ALL);
  const int = (lo: number, hi: number) => lo + r.int(hi - lo + 1);
  const c: Record<string, unknown> = { name: `l${r.int(100)}` };
  // Configs that build, for the layers that need one; then, half the time, a few odd values.
  if (["Dense", "LSTM", "GRU", "SimpleRNN"].includes(kind)) c.units = int(1, 8);
  if (/^(Conv|SeparableConv)/.test(kind)) Object.assign(c, { filters: int(1, 4), kernel_size: int(1, 3) });
  if (kind === "DepthwiseConv2D") c.kernel_size = int(1, 3);
  if (kind === "Reshape") c.target_shape = [int(1, 4), -1];
  if (kind === "Permute") c.dims = [2, 1];
  if (kind === "RepeatVector") c.n = int(1, 3);
  if (kind === "Embedding") Object.assign(c, { input_dim: int(1, 20), output_dim: int(1, 4) });
  if (kind === "Activation") c.activation = r.pick(["relu", "tanh", "softmax", "silu", "hard_silu", "nope"]);
  if (kind === "GRU") c.reset_after = r.chance(0.5);
  if (kind === "GroupNormalization") c.groups = int(1, 2);
  if (kind === "MultiHeadAttention") Object.assign(c, { num_heads: int(1, 3), key_dim: int(1, 4) });
  if (/Attention/.test(kind)) c.use_causal_mask = r.chance(0.5);
  if (kind === "Normalization" && r.chance(0.5)) Object.assign(c, { mean: r.next(), variance: r.next() });
  if (kind === "Bidirectional" || kind === "TimeDistributed") {
    const inner = r.pick(["LSTM", "Dense", "GRU", "Conv1D"]);
    c.layer = { class_name: inner, config: { units: int(1, 4), filters: 2, kernel_size: 1 } };
  }
  if (/Dropout|Noise/.test(kind)) Object.assign(c, { rate: r.next(), stddev: r.next() });
  if (kind === "Rescaling") Object.assign(c, { scale: 0.5, offset: 0 });
  if (kind === "CenterCrop" || kind === "Resizing") Object.assign(c, { height: int(1, 4), width: int(1, 4) });
  if (kind === "CategoryEncoding")
    Object.assign(c, { num_tokens: int(1, 10), output_mode: r.pick(["multiHot", "oneHot", "count"]) });
  if (r.chance(0.5)) for (let i = int(1, 3); i > 0; i--) c[r.pick(KEYS)] = r.pick(ODD_VALUES);
  if (inputShape !== undefined) c.batch_input_shape = inputShape;
  return { class_name: kind, config: c };
}

type NodeRef = [layer: string, node: number];

/** Keras 3's graph operations, and a name that is none. */
const OPERATIONS = [
  ...["Add", "Multiply", "Subtract", "TrueDivide", "Maximum", "Power", "Greater", "Where", "Matmul", "Concatenate"],
  ...["Sqrt", "Log", "Exp", "Tanh", "Relu", "Softmax", "Negative", "Sign", "Cast", "Mean", "Sum", "Max", "Argmax"],
  ...["Reshape", "Transpose", "ExpandDims", "Squeeze", "GetItem", "Cumsum", "Tile", "Repeat", "Pad", "Flip"],
  ...["Stack", "Clip", "Logsumexp", "StopGradient", "NoSuchOperation"],
];
const OPERATION_VALUES: unknown[] = [
  ...[0, 1, -1, 2, 0.5, null, true, [0], [1], [-1], [0, 1], [-1, 2], [1, 0], [2, 2, 2], "float32", "int32", "bool"],
  ...["string", { class_name: "__slice__", config: { start: null, stop: -1, step: 2 } }],
  ...[
    { class_name: "__ellipsis__", config: {} },
    { class_name: "__tensor__", config: { value: [1, 2], dtype: "float32" } },
  ],
];

/** A Keras 3 graph operation called on earlier outputs (and numbers), with settings that may not fit. */
function randomOperation(r: Random, name: string, earlier: () => NodeRef): FunctionalLayer {
  const tensor = () => {
    const [layer, node] = earlier();
    return { class_name: "__keras_tensor__", config: { dtype: "float32", keras_history: [layer, node, 0] } };
  };
  const operand = () => (r.chance(0.6) ? tensor() : r.pick(OPERATION_VALUES));
  const args = [tensor(), ...Array.from({ length: r.int(3) }, operand)];
  const settings: Record<string, unknown> = {};
  for (const key of ["axis", "keepdims", "newshape", "axes", "dtype", "repeats", "pad_width", "x_min", "x_max"]) {
    if (r.chance(0.3)) settings[key] = r.pick(OPERATION_VALUES);
  }
  const kind = r.pick(OPERATIONS);
  return {
    module: "keras.src.ops.numpy",
    class_name: kind,
    name,
    config: { name, ...settings },
    inbound_nodes: [{ args: kind === "Concatenate" || kind === "Stack" ? [args] : args, kwargs: {} }],
  } as unknown as FunctionalLayer;
}
type FunctionalLayer = LayerJson & { name: string; inbound_nodes: [string, number, number, object][][] };

/**
 * A functional topology: each step applies a new layer (mostly Dense) to an earlier output, merges
 * two earlier outputs, or applies an earlier Dense again (a shared layer, listed once but run twice).
 */
function randomFunctional(r: Random): string {
  const width = 1 + r.int(6);
  const input: FunctionalLayer = {
    class_name: "InputLayer",
    name: "in",
    config: { name: "in", batch_input_shape: [null, width], dtype: "float32" },
    inbound_nodes: [],
  };
  const layers: FunctionalLayer[] = [input];
  const outputs: NodeRef[] = [["in", 0]];
  // A second input, of its own width, some of the time: models of several inputs and outputs.
  const inputNames = ["in"];
  if (r.chance(0.25)) {
    const second = { name: "in2", config: { name: "in2", batch_input_shape: [null, 1 + r.int(6)], dtype: "float32" } };
    layers.push({ class_name: "InputLayer", ...second, inbound_nodes: [] });
    outputs.push(["in2", 0]);
    inputNames.push("in2");
  }
  const apply = (layer: FunctionalLayer, inputs: NodeRef[]) => {
    layer.inbound_nodes.push(inputs.map(([name, node]) => [name, node, 0, {}]));
    outputs.push([layer.name, layer.inbound_nodes.length - 1]);
  };
  for (let i = 0; i < 1 + r.int(6); i++) {
    const name = `f${i}`;
    const dense = layers.filter((l) => l.class_name === "Dense");
    const drawOperation = r.chance(0.2);
    if (drawOperation) {
      const operation = randomOperation(r, name, () => r.pick(outputs));
      layers.push(operation);
      outputs.push([name, 0]);
    } else if (r.chance(0.25)) {
      const kind = r.pick(["Add", "Concatenate", "Multiply", "Average", "Maximum", "Subtract", "Dot", "Attention"]);
      const config = { name, ...(kind === "Dot" ? { axes: 1 } : {}) };
      const merge: FunctionalLayer = { class_name: kind, name, config, inbound_nodes: [] };
      layers.push(merge);
      apply(merge, [r.pick(outputs), r.pick(outputs)]);
    } else if (dense.length > 0 && r.chance(0.2)) {
      apply(r.pick(dense), [r.pick(outputs)]);
    } else {
      const kind = r.pick([
        "Dense",
        "Dense",
        "Dense",
        "Dropout",
        "Activation",
        "BatchNormalization",
        "LayerNormalization",
      ]);
      const config: Record<string, unknown> = { name };
      if (kind === "Dense")
        Object.assign(config, {
          units: r.chance(0.7) ? width : 1 + r.int(6),
          activation: r.pick(["relu", "linear", "tanh"]),
        });
      if (kind === "Dropout") config.rate = 0.5;
      if (kind === "Activation") config.activation = "sigmoid";
      if (r.chance(0.1)) config[r.pick(KEYS)] = r.pick(ODD_VALUES);
      const layer: FunctionalLayer = { class_name: kind, name, config, inbound_nodes: [] };
      layers.push(layer);
      apply(layer, [r.pick(outputs)]);
    }
  }
  // The last tensor, and some of the time others too (an input, a hidden layer, one twice).
  const served = [outputs.at(-1) as NodeRef];
  for (let n = r.chance(0.25) ? 1 + r.int(2) : 0; n > 0; n--) served.push(r.pick(outputs));
  const config = {
    name: "f",
    layers,
    input_layers: inputNames.map((name) => [name, 0, 0]),
    output_layers: served.map(([name, node]) => [name, node, 0]),
  };
  return JSON.stringify({ class_name: "Model", config });
}

function randomTopology(r: Random): string {
  if (r.chance(0.3)) return randomFunctional(r);
  const shape: unknown[] = [null];
  for (let i = 1 + r.int(4); i > 0; i--) shape.push(r.chance(0.7) ? 1 + r.int(6) : r.pick([0, -2, 8, 1e6, null]));
  const common = r.chance(0.5);
  const layers = Array.from({ length: 1 + r.int(4) }, (_, i) =>
    randomLayer(r, common, i > 0 ? undefined : r.chance(0.95) ? shape : r.pick(ODD_VALUES)),
  );
  return JSON.stringify({ class_name: r.chance(0.97) ? "Sequential" : "Model", config: { name: "k", layers } });
}

/**
 * A tensor of `rows` rows for a signature, free dimensions set to 2. Undefined if over a million
 * values, or with an axis over 10,000: a recurrent layer steps through such an axis one op at a time
 * (minutes for a million steps, even of zero features), and nothing interrupts a running computation.
 */
function rowsFor(r: Random, signature: number[], rows: number, fill?: number) {
  const shape = signature.map((d, i) => (i === 0 ? rows : d < 0 ? 2 : d));
  const count = shape.reduce((a, b) => a * b, 1);
  if (count > 1e6 || shape.some((d) => d > 10_000)) return undefined;
  return floatTensor(
    Float32Array.from({ length: count }, () => fill ?? r.next() * 4 - 1),
    shape,
    true,
  );
}

/** Runs one round's steps on a created model; throws a ServiceError-like value at the first refusal. */
/**
 * What TensorFlow.js itself predicts for `x` from a checkpoint's model.json and weights, loaded in
 * this process: an oracle for the server's own forward passes (a Dense-stack shortcut once applied a
 * shared layer once instead of twice). Undefined without tfjs-node (it reads file:// models).
 */
async function predictedByTfjs(modelJson: string, xs: Tensor[]): Promise<Float32Array[] | undefined> {
  if (process.env.MODELBAY_BACKEND === "wasm") return undefined;
  const tf = await import("@tensorflow/tfjs-node");
  // With the Keras layers modelbay adds to TensorFlow.js (Subtract, GRU with reset_after, ...).
  await import("../src/compute/model-builder.js");
  const model = await tf.loadLayersModel(`file://${modelJson}`);
  try {
    const values = (x: Tensor) => new Float32Array(new Uint8Array(x.rawContents).buffer);
    return tf.tidy(() => {
      const out = model.predict(xs.map((x) => tf.tensor(values(x), x.shape)));
      return (Array.isArray(out) ? out : [out]).map((t) => t.dataSync() as Float32Array);
    });
  } finally {
    model.dispose();
  }
}

async function useModel(
  client: ModelbayClient,
  r: Random,
  id: string,
  store: string,
): Promise<"predicted" | "restored" | "restored, several inputs or outputs" | "skipped"> {
  const { model } = await client.getModel({ modelId: id }, within());
  const signatures = { inputs: model?.inputs ?? [], outputs: model?.outputs ?? [] };
  const xs = signatures.inputs.map((s) => rowsFor(r, s.shape, 3));
  const ys = signatures.outputs.map((s) => rowsFor(r, s.shape, 3, 0.5));
  if (![...xs, ...ys].every((t) => t !== undefined)) return "skipped";
  const named = (list: (Tensor | undefined)[], names: { name: string }[]) =>
    list.map((t, i) => ({ ...(t as Tensor), name: names[i]?.name ?? "" }));
  const inputs = named(xs, signatures.inputs);
  const predict = () => client.predict({ modelId: id, inputs, rawOutput: true }, within());
  await predict();
  // A model of several inputs or outputs trains on a tensor per input and per output, by name.
  const several = signatures.inputs.length > 1 || signatures.outputs.length > 1;
  const data = several
    ? { source: { $case: "inline" as const, inline: { inputs, targets: named(ys, signatures.outputs) } } }
    : inlineXY(xs[0] as Tensor, ys[0] as Tensor);
  const train = client.train(
    {
      modelId: id,
      data,
      ...{ validationSplit: 0, epochs: 1, batchSize: 2, shuffle: true, seed: 1, progressIntervalMs: 0, detach: false },
    },
    within(),
  );
  for await (const event of train) {
    if (event.event?.$case === "failed") {
      const { code, message } = event.event.failed;
      throw Object.assign(new Error(message), { code, details: message });
    }
  }
  const before = await predict();
  const saved = await client.checkpoint({ modelId: id }, within());
  const checkpointId = saved.checkpoint?.checkpointId ?? "";
  await client.restore(
    { source: { $case: "checkpoint", checkpoint: { modelId: id, checkpointId } }, targetModelId: "", resume: true },
    within(),
  );
  const after = await predict();
  const bytes = (p: typeof after) => p.outputs.map((o) => Buffer.from(o.rawContents));
  assert.deepEqual(
    after.outputs.map((o) => [o.name, o.shape]),
    before.outputs.map((o) => [o.name, o.shape]),
  );
  assert.ok(
    bytes(before).every((b, i) => b.equals(bytes(after)[i] as Buffer)),
    `restored model ${id} predicts differently from before its checkpoint`,
  );
  const expected = await predictedByTfjs(path.join(store, id, checkpointId, "model.json"), inputs);
  if (expected) {
    assert.equal(expected.length, before.outputs.length, `model ${id}: outputs served and TensorFlow.js' outputs`);
    for (const [i, served] of bytes(before).entries()) {
      // A random model can compute NaN or infinities; the two sides must then agree on them too.
      const values = new Float32Array(new Uint8Array(served).buffer);
      const finite = (v: Float32Array) => v.map((e) => (Number.isNaN(e) ? 7.5e37 : Math.max(-3e38, Math.min(3e38, e))));
      const mismatch = firstMismatch(finite(values), finite(expected[i] as Float32Array), 1e-5, 1e-4);
      assert.equal(mismatch, undefined, `model ${id} output ${i} predicts other than TensorFlow.js: ${mismatch}`);
    }
  }
  return several ? "restored, several inputs or outputs" : "restored";
}

test(`random Keras JSON topologies (${rounds}, seed ${seed}) are served or refused as the caller's error`, async () => {
  const dir = tempDir("modelbay-keras-fuzz-");
  const served = await serveProcess(dir, []);
  const client = connect(served.address);
  const r = new Random(seed);
  const tally = new Map<string, number>();
  const count = (key: string) => tally.set(key, (tally.get(key) ?? 0) + 1);
  try {
    for (let round = 0; round < rounds; round++) {
      const kerasJson = randomTopology(r);
      const id = `k${round}`;
      const spec: ModelSpec = { ...denseSpec(), topology: { $case: "kerasJson", kerasJson } };
      const refused = (step: string) => (err: unknown) => {
        const { code, details } = err as grpc.ServiceError;
        if (typeof code !== "number") throw err;
        count(`${step} ${Status[code]}`);
        assert.ok(
          callerMistakes.has(code) && details.length > 0,
          `round ${round} (seed ${seed}), ${step}: ${Status[code]} "${details}" for ${kerasJson}\n${served.notableLog()}`,
        );
      };
      const created = await client.createModel({ modelId: id, spec }, within()).then(() => true, refused("create"));
      if (created) {
        const outcome = await useModel(client, r, id, path.join(dir, "ck")).catch((err: unknown) => {
          refused("use")(err);
          return "refused";
        });
        count(outcome);
        await client.deleteModel({ modelId: id, deleteCheckpoints: true }, within());
      }
      assert.equal(served.child.exitCode, null, `the server exited at round ${round}`);
    }
    assert.deepEqual(served.loggedErrors(), [], "the server logged unexpected errors");
  } finally {
    client.close();
    served.child.kill();
  }
  process.stderr.write(`keras topology fuzz, seed ${seed}: ${[...tally].map(([k, n]) => `${k} ${n}`).join(", ")}\n`);
  // A fuzz that never gets a model to train and restore tests little past CreateModel.
  assert.ok((tally.get("restored") ?? 0) >= rounds / 20, `too few models went all the way: ${[...tally]}`);
});

test("found by this fuzz: a Keras JSON Dense over a rank-3 input predicts and trains", async () => {
  // It was taken for a Dense stack, whose direct forward pass and one-call step multiply matrices:
  // INTERNAL "In[0] and In[1] has different ndims" at Predict and in training.
  const t = await startTestServer();
  try {
    const layers = [{ class_name: "Dense", config: { units: 3, batch_input_shape: [null, 2, 4] } }];
    const kerasJson = JSON.stringify({ class_name: "Sequential", config: { name: "k", layers } });
    await t.client.createModel({
      modelId: "rank3",
      spec: { ...denseSpec(), topology: { $case: "kerasJson", kerasJson } },
    });
    const x = floatTensor(seededFloats(5 * 8, 2), [5, 2, 4], true);
    const { outputs } = await t.client.predict({ modelId: "rank3", inputs: [x], rawOutput: true });
    assert.deepEqual(outputs[0]?.shape, [5, 2, 3]);
    const y = floatTensor(new Float32Array(5 * 6).fill(0.5), [5, 2, 3], true);
    const events = await collect(t.client, {
      ...trainRequest("rank3", 5, { epochs: 2, batchSize: 2 }),
      data: inlineXY(x, y),
    });
    assert.equal(ofKind(events, "completed").length, 1, JSON.stringify(ofKind(events, "failed")));
  } finally {
    await t.close();
  }
});
