// Models of several inputs and outputs, as Python TensorFlow writes them (test/parity/multi_io_models.py):
// a two-tower model (float features and token ids in, a score and a category out), a model called
// with dicts, and one serving a hidden layer beside its output. Each restores from .keras, Keras 3's
// and tf-keras' .h5 and a SavedModel, takes its inputs by name and answers each output by name as
// Keras did; dynamic batching, sliced large requests, checkpoints and goldens carry every tensor;
// training and PredictStream, which feed one input, refuse such a model in words.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { tensorFromWire, tensorToWire } from "../src/api/tensor-codec.js";
import type { TensorData } from "../src/compute/tensor-data.js";
import { readNpy } from "../src/datasets/npy.js";
import type { PredictStreamResponse } from "../src/gen/modelbay/v1/model_service.js";
import type { Tensor } from "../src/gen/modelbay/v1/tensor.js";
import type { InlineData } from "../src/gen/modelbay/v1/training.js";
import { modelbay, run } from "./helpers/cli.js";
import { appliedLayer, functionalModel, inputLayer } from "./helpers/functional-json.js";
import { metricSum } from "./helpers/metrics.js";
import { startTestServer, type TestServer, tempDir } from "./helpers/server.js";
import { firstMismatch, floatTensor, seededFloats } from "./helpers/tensors.js";
import { collect, ofKind, trainRequest } from "./helpers/training.js";

const python = process.env.MODELBAY_PARITY_PYTHON;
const unavailable = !python || python === "skip";
const skip = unavailable && "no Python TensorFlow (MODELBAY_PARITY_PYTHON)";

interface Names {
  inputs: string[];
  outputs: string[];
}

let t: TestServer;
let dir: string;
let store: string;
let models: Record<string, Names>;
let native = false;
before(async () => {
  dir = tempDir();
  store = tempDir();
  // Batching on, so that every Predict here goes through the batcher (a lone one at once).
  t = await startTestServer({
    artifactDir: dir,
    checkpointDir: store,
    batchMaxRows: 64,
    batchDelayMs: 20,
    metricsAddress: "127.0.0.1:0",
  });
  native = (await t.client.getServerInfo({})).backend.startsWith("tensorflow");
  if (unavailable) return;
  const made = await run(python as string, [path.join(import.meta.dirname, "parity", "multi_io_models.py"), dir]);
  assert.equal(made.status, 0, made.stderr);
  models = JSON.parse(fs.readFileSync(path.join(dir, "models.json"), "utf8")) as Record<string, Names>;
});
after(async () => {
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(store, { recursive: true, force: true });
});

test("under CI the models of several inputs and outputs are tested", {
  skip: process.env.CI !== "true" && "not under CI",
}, () => {
  assert.ok(!unavailable, "MODELBAY_PARITY_PYTHON must point at a Python with TensorFlow under CI");
});

const npy = (file: string) => readNpy(fs.readFileSync(path.join(dir, file)), file);

/**
 * What Predict calls a model's inputs: Keras' names where it has several; one alone keeps the
 * name modelbay gives every single input ("input"), which an unnamed tensor also feeds.
 */
const servedInputs = (names: string[]) => (names.length === 1 ? ["input"] : names);

/** Python's inputs of `name`, by input name, listed in reverse so that the server has to match names. */
const inputsOf = (name: string, ofModel = name): Tensor[] => {
  const names = (models[ofModel] as Names).inputs;
  return names.map((n) => tensorToWire(names.length === 1 ? "" : n, npy(`${name}.x.${n}.npy`), true)).reverse();
};

async function predicted(modelId: string, inputs: Tensor[]): Promise<Map<string, TensorData>> {
  const res = await t.client.predict({ modelId, inputs, rawOutput: true });
  return new Map(
    res.outputs.map((o) => [o.name, tensorFromWire(o, o.name, { maxTensorBytes: Number.POSITIVE_INFINITY })]),
  );
}

/** Each of Keras' outputs, found by its name, within the tolerance. */
function assertAsKeras(ours: Map<string, TensorData>, name: string, outputs: string[], atol = 1e-5, rtol = 1e-4) {
  assert.deepEqual([...ours.keys()], outputs, "the outputs, in Keras' order");
  for (const [i, out] of outputs.entries()) {
    const expected = npy(`${name}.y.${(models[name] as Names).outputs[i]}.npy`);
    const got = ours.get(out) as TensorData;
    assert.deepEqual(got.shape, expected.shape, `${out}'s shape`);
    assert.equal(firstMismatch(got.data, expected.data, atol, rtol), undefined, out);
  }
}

const restore = (artifactPath: string, targetModelId: string) =>
  t.client.restore({ source: { $case: "artifactPath", artifactPath }, targetModelId, resume: false });

for (const name of ["two_tower", "dict_io", "taps"]) {
  for (const ext of [".keras", ".h5"]) {
    test(`"${name}${ext}" restores with its inputs and outputs named, and predicts as Keras does`, {
      skip,
    }, async () => {
      const id = `${name}${ext.replace(".", "-")}`;
      const res = await restore(`${name}${ext}`, id);
      const names = models[name] as Names;
      assert.deepEqual(
        res.model?.inputs.map((s) => s.name),
        servedInputs(names.inputs),
      );
      assert.deepEqual(
        res.model?.outputs.map((s) => s.name),
        names.outputs,
      );
      assertAsKeras(await predicted(id, inputsOf(name)), name, names.outputs);
    });
  }
}

test("tf-keras' .h5 of the two-tower model restores and predicts as tf-keras does", { skip }, async () => {
  await restore("tfkeras_two_tower.h5", "tfk");
  assertAsKeras(await predicted("tfk", inputsOf("tfkeras_two_tower")), "tfkeras_two_tower", ["score", "category"]);
});

test("Keras' SavedModel export of the two-tower model serves both inputs and outputs", { skip }, async (ctx) => {
  if (!native) return ctx.skip("SavedModels need the native TensorFlow backend");
  const res = await restore("two_tower_savedmodel", "tt-sm");
  assert.equal(res.model?.source, "saved_model");
  assert.deepEqual(
    res.model?.inputs.map((s) => s.name),
    ["features", "ids"],
  );
  assert.deepEqual(
    res.model?.outputs.map((s) => s.name),
    ["output_0", "output_1"],
  );
  assertAsKeras(await predicted("tt-sm", inputsOf("two_tower")), "two_tower", ["output_0", "output_1"]);
});

test("concurrent one-row Predicts of a two-input model are batched, each caller getting its own rows", {
  skip,
}, async () => {
  await restore("two_tower.keras", "tt-batch");
  const whole = await predicted("tt-batch", inputsOf("two_tower"));
  const calls = () => metricSum(t.server.metricsAddress, "modelbay_device_queue_seconds_count", 'op="predict"');
  const before = await calls();
  const features = npy("two_tower.x.features.npy");
  const ids = npy("two_tower.x.ids.npy");
  const row = (x: TensorData, i: number): TensorData => {
    const width = x.shape[1] as number;
    return { dtype: x.dtype, shape: [1, width], data: x.data.slice(i * width, (i + 1) * width) } as TensorData;
  };
  const answers = await Promise.all(
    Array.from({ length: 7 }, (_, i) =>
      predicted("tt-batch", [tensorToWire("ids", row(ids, i), true), tensorToWire("features", row(features, i), true)]),
    ),
  );
  const used = (await calls()) - before;
  assert.ok(used < 7, `7 requests took ${used} model calls`);
  for (const out of ["score", "category"]) {
    const all = whole.get(out) as TensorData;
    const width = all.shape[1] as number;
    for (const [i, answer] of answers.entries()) {
      const mine = answer.get(out) as TensorData;
      assert.deepEqual(mine.shape, [1, width]);
      assert.equal(firstMismatch(mine.data, all.data.subarray(i * width, (i + 1) * width), 1e-6, 1e-5), undefined);
    }
  }
});

test("a large request with a deadline runs in slices and answers every output as one call does", { skip }, async () => {
  await restore("taps.keras", "taps-large");
  const rows = 20_000;
  const x = [floatTensor(seededFloats(rows * 5, 4), [rows, 5], true)];
  const sliced = await t.client.predict(
    { modelId: "taps-large", inputs: x, rawOutput: true },
    { deadline: Date.now() + 60_000 },
  );
  const whole = await t.client.predict({ modelId: "taps-large", inputs: x, rawOutput: true });
  assert.deepEqual(
    sliced.outputs.map((o) => [o.name, o.shape]),
    [
      ["final", [rows, 2]],
      ["hidden", [rows, 8]],
    ],
  );
  for (const [i, out] of sliced.outputs.entries()) {
    const a = tensorFromWire(out, "sliced", { maxTensorBytes: Number.POSITIVE_INFINITY }).data;
    const b = tensorFromWire(whole.outputs[i] as Tensor, "whole", { maxTensorBytes: Number.POSITIVE_INFINITY }).data;
    assert.equal(firstMismatch(a, b, 0, 0), undefined, out.name);
  }
  // PredictStream feeds the one input and streams both outputs, chunk by chunk in order.
  const chunks: PredictStreamResponse[] = [];
  const stream = t.client.raw.predictStream({
    modelId: "taps-large",
    source: { $case: "rows", rows: x[0] as Tensor },
    chunkRows: 4096,
    startOffset: 0,
    rawOutput: false,
  });
  for await (const chunk of stream as AsyncIterable<PredictStreamResponse>) chunks.push(chunk);
  assert.deepEqual(
    chunks.map((c) => c.offset),
    [0, 4096, 8192, 12288, 16384],
  );
  for (const [i, out] of whole.outputs.entries()) {
    assert.ok(chunks.every((c) => c.outputs[i]?.name === out.name));
    const streamed = chunks.flatMap((c) => c.outputs[i]?.floatValues ?? []);
    const b = tensorFromWire(out, "whole", { maxTensorBytes: Number.POSITIVE_INFINITY }).data;
    assert.equal(firstMismatch(streamed, b, 0, 0), undefined, out.name);
  }
});

test("a checkpoint of a two-input model restores predicting the same, and goldens check every output", {
  skip,
}, async () => {
  await restore("two_tower.keras", "tt-ck");
  const inputs = inputsOf("two_tower");
  const res = await t.client.predict({ modelId: "tt-ck", inputs, rawOutput: false });
  const { checkpoint } = await t.client.checkpoint({ modelId: "tt-ck" });
  const source = {
    $case: "checkpoint" as const,
    checkpoint: { modelId: "tt-ck", checkpointId: checkpoint?.checkpointId ?? "" },
  };
  const restored = await t.client.restore({
    source,
    targetModelId: "tt-ck-copy",
    goldens: { inputs, expectedOutputs: [...res.outputs].reverse(), atol: 0, rtol: 0 },
    resume: false,
  });
  assert.equal(restored.verification?.passed, true, JSON.stringify(restored.verification));
  assert.deepEqual(restored.verification?.outputs.map((o) => o.name).sort(), ["category", "score"]);
  assertAsKeras(await predicted("tt-ck-copy", inputsOf("two_tower")), "two_tower", ["score", "category"]);

  const category = res.outputs[1] as Tensor;
  const wrong = { ...category, floatValues: category.floatValues.map((v, i) => (i === 4 ? v + 0.25 : v)) };
  const checked = await t.client.restore({
    source,
    targetModelId: "tt-ck-check",
    goldens: { inputs, expectedOutputs: [res.outputs[0] as Tensor, wrong], atol: 1e-4, rtol: 1e-4 },
    resume: false,
  });
  assert.equal(checked.verification?.passed, false);
  const byName = new Map(checked.verification?.outputs.map((o) => [o.name, o]));
  assert.equal(byName.get("score")?.passed, true);
  assert.equal(byName.get("category")?.mismatches, 1);
});

async function refused(call: Promise<unknown>, code: grpc.status, message: RegExp): Promise<void> {
  await assert.rejects(call, (err: grpc.ServiceError) => {
    assert.equal(err.code, code, `${err.code}: ${err.details}`);
    assert.match(err.details, message);
    return true;
  });
}

test("bad inputs to a two-input model, to Predict, PredictStream and Train, are refused in words, and the model still serves", {
  skip,
}, async () => {
  await restore("two_tower.keras", "tt-bad");
  const [ids, features] = inputsOf("two_tower") as [Tensor, Tensor];
  const predict = (inputs: Tensor[]) => t.client.predict({ modelId: "tt-bad", inputs, rawOutput: false });
  await refused(predict([features]), grpc.status.INVALID_ARGUMENT, /takes 2 input\(s\) \("features", "ids"\), got 1/);
  await refused(predict([features, { ...ids, name: "tokens" }]), grpc.status.INVALID_ARGUMENT, /no input named "ids"/);
  await refused(
    predict([features, { ...features, name: "ids" }]),
    grpc.status.INVALID_ARGUMENT,
    /"ids".*dtype float32/,
  );
  const fewer = tensorToWire("ids", { ...npy("two_tower.x.ids.npy"), shape: [1, 6], data: new Int32Array(6) }, true);
  await refused(
    predict([features, fewer]),
    grpc.status.INVALID_ARGUMENT,
    /the same number of rows.*"features" 7, "ids" 1/,
  );
  const stream = t.client.raw.predictStream({
    modelId: "tt-bad",
    source: { $case: "rows", rows: features },
    chunkRows: 4,
    startOffset: 0,
    rawOutput: false,
  });
  await refused(
    (async () => {
      for await (const _ of stream as AsyncIterable<unknown>);
    })(),
    grpc.status.FAILED_PRECONDITION,
    /PredictStream feeds a model one input.*takes 2 \("features", "ids"\): use Predict/,
  );
  // Training: x and y stand for one input and one output; a model of several takes inputs and
  // targets by name, each with the same rows.
  const score = tensorToWire("score", { dtype: "float32", shape: [7, 1], data: new Float32Array(7) }, true);
  const category = tensorToWire("category", { dtype: "float32", shape: [7, 3], data: new Float32Array(21) }, true);
  const trainFails = async (inline: Partial<InlineData>, message: RegExp) => {
    const data = { source: { $case: "inline" as const, inline: { inputs: [], targets: [], ...inline } } };
    const events = await collect(t.client, trainRequest("tt-bad", 0, { data })).catch((err: grpc.ServiceError) => err);
    const failure = events instanceof Error ? events.details : JSON.stringify(ofKind(events, "failed"));
    assert.match(failure, message);
  };
  await trainFails(
    { x: features, y: score },
    /data\.inputs: the model takes 2 input\(s\) \("features", "ids"\), got 1/,
  );
  await trainFails({ inputs: [features, ids], targets: [score] }, /data\.targets: the model takes 2 output\(s\)/);
  await trainFails(
    { inputs: [features, ids], targets: [score, { ...category, name: "class" }] },
    /no output named "category"/,
  );
  await trainFails({ x: features, inputs: [features, ids], targets: [score, category] }, /not both/);
  const short = tensorToWire("category", { dtype: "float32", shape: [6, 3], data: new Float32Array(18) }, true);
  await trainFails(
    { inputs: [features, ids], targets: [score, short] },
    /data: inputs \("features"\) has 7 rows but targets \("category"\) has 6/,
  );
  assertAsKeras(await predicted("tt-bad", inputsOf("two_tower")), "two_tower", ["score", "category"]);
});

for (const name of ["two_tower", "dict_io"]) {
  test(`"${name}", checkpointed here, exports a .keras that Keras loads and predicts with as Keras did`, {
    skip,
  }, async () => {
    const modelId = `${name}-export`;
    await restore(`${name}.keras`, modelId);
    await t.client.checkpoint({ modelId });
    const file = path.join(dir, `${modelId}.keras`);
    const exported = await modelbay("export", "--store", store, "--model", modelId, "--out", file);
    assert.equal(exported.status, 0, exported.stderr);
    const script = path.join(import.meta.dirname, "parity", "multi_io_models.py");
    const r = await run(python as string, [script, "predict", file, name, dir]);
    assert.equal(r.status, 0, r.stderr);
    const theirs = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as {
      inputs: string[];
      outputs: Record<string, number[]>;
    };
    const names = models[name] as Names;
    assert.deepEqual(theirs.inputs.toSorted(), names.inputs.toSorted());
    assert.deepEqual(Object.keys(theirs.outputs), names.outputs);
    for (const out of names.outputs) {
      const expected = npy(`${name}.y.${out}.npy`).data;
      assert.equal(firstMismatch(theirs.outputs[out] ?? [], expected, 1e-5, 1e-4), undefined, out);
    }
  });
}

test("an input no output uses is kept, as Keras keeps it, through a checkpoint, its model.json and a restore", async () => {
  // Found by the topology fuzz: TensorFlow.js writes only the layers an output depends on, and the
  // restored model took one input fewer than the model checkpointed.
  const layers = [inputLayer("a", 3), inputLayer("b", 4), appliedLayer("Dense", "d", { units: 2 }, [["a", 0]])];
  const { config, spec } = functionalModel(
    layers,
    [
      ["a", 0],
      ["b", 0],
    ],
    [["d", 0]],
  );
  await t.client.createModel({ modelId: "unused-input", spec });
  const inputs = [
    { ...floatTensor(seededFloats(6, 1), [2, 3], true), name: "a" },
    { ...floatTensor(seededFloats(8, 2), [2, 4], true), name: "b" },
  ];
  const before = await t.client.predict({ modelId: "unused-input", inputs, rawOutput: false });
  const { checkpoint } = await t.client.checkpoint({ modelId: "unused-input" });
  const restored = await t.client.restore({
    source: {
      $case: "checkpoint",
      checkpoint: { modelId: "unused-input", checkpointId: checkpoint?.checkpointId ?? "" },
    },
    targetModelId: "unused-input-copy",
    resume: false,
  });
  assert.deepEqual(
    restored.model?.inputs.map((s) => [s.name, s.shape]),
    [
      ["a", [-1, 3]],
      ["b", [-1, 4]],
    ],
  );
  const after = await t.client.predict({ modelId: "unused-input-copy", inputs, rawOutput: false });
  assert.deepEqual(after.outputs, before.outputs);
  // The checkpoint's model.json, which TensorFlow.js loads (the topology fuzz's oracle does), too.
  const modelJson = path.join(store, "unused-input", checkpoint?.checkpointId ?? "", "model.json");
  const written = JSON.parse(fs.readFileSync(modelJson, "utf8")) as {
    modelTopology: { config: Record<string, unknown> };
  };
  assert.deepEqual(written.modelTopology.config.input_layers, config.input_layers);
  assert.deepEqual((written.modelTopology.config.layers as unknown[])[0], {
    name: "b",
    class_name: "InputLayer",
    config: { batch_input_shape: [null, 4], dtype: "float32", sparse: false, name: "b" },
    inbound_nodes: [],
  });
});

test("a layer applied twice and served twice names its second output with _1", async () => {
  const shared = appliedLayer("Dense", "d", { units: 2 }, [["a", 0]], [["b", 0]]);
  const { spec } = functionalModel(
    [inputLayer("a", 3), inputLayer("b", 3), shared],
    [
      ["a", 0],
      ["b", 0],
    ],
    [
      ["d", 0],
      ["d", 1],
    ],
  );
  const { model } = await t.client.createModel({ modelId: "shared-twice", spec });
  assert.deepEqual(
    model?.outputs.map((s) => s.name),
    ["d", "d_1"],
  );
  const a = seededFloats(6, 1);
  const inputs = [
    { ...floatTensor(a, [2, 3], true), name: "b" },
    { ...floatTensor(a, [2, 3], true), name: "a" },
  ];
  const res = await t.client.predict({ modelId: "shared-twice", inputs, rawOutput: false });
  // One layer, the same rows: both outputs agree, and are not all zero.
  assert.deepEqual(res.outputs[0]?.floatValues, res.outputs[1]?.floatValues);
  assert.ok(res.outputs[0]?.floatValues.some((v) => v !== 0));
});

for (const name of ["dict_io", "taps"]) {
  test(`"${name}" from its .keras file trains one more epoch here to where Keras did, losses per output too`, {
    skip,
  }, async () => {
    const modelId = `${name}-resumed`;
    await restore(`${name}.keras`, modelId);
    const names = models[name] as Names;
    // Listed in reverse, so that the server has to match names.
    const named = (side: "x" | "y", list: string[]) =>
      list
        .toReversed()
        .map((n) =>
          tensorToWire(list.length === 1 && side === "x" ? "" : n, npy(`${name}.resume.${side}.${n}.npy`), true),
        );
    const data = {
      source: {
        $case: "inline" as const,
        inline: { inputs: named("x", names.inputs), targets: named("y", names.outputs) },
      },
    };
    const events = await collect(
      t.client,
      trainRequest(modelId, 0, { data, epochs: 1, batchSize: 16, shuffle: false }),
    );
    assert.equal(ofKind(events, "completed").length, 1, JSON.stringify(ofKind(events, "failed")));
    const [epoch] = ofKind(events, "epochEnd").map((e) => e.epochEnd);
    const keras = JSON.parse(fs.readFileSync(path.join(dir, `${name}.resumed.json`), "utf8")) as Record<string, number>;
    // Keras logs the loss (the sum over outputs) and each output's loss, by the output's name.
    assert.deepEqual(
      Object.keys(epoch?.metrics ?? {}).sort(),
      Object.keys(keras)
        .filter((k) => k !== "loss")
        .sort(),
    );
    assert.equal(firstMismatch([epoch?.loss ?? Number.NaN], [keras.loss as number], 1e-4, 1e-3), undefined, "loss");
    for (const [k, v] of Object.entries(epoch?.metrics ?? {})) {
      assert.equal(firstMismatch([v], [keras[k] as number], 1e-4, 1e-3), undefined, k);
    }
    const ours = await predicted(modelId, inputsOf(name));
    for (const out of names.outputs) {
      const expected = npy(`${name}.resumed.y.${out}.npy`).data;
      assert.equal(firstMismatch((ours.get(out) as TensorData).data, expected, 1e-4, 1e-3), undefined, out);
    }
  });
}

test("a two-input, two-output model holds out validation rows, reports each output's validation loss, checkpoints and resumes", {
  skip,
}, async () => {
  const modelId = "dict-val";
  await restore("dict_io.keras", modelId);
  const names = models.dict_io as Names;
  const tensor = (side: "x" | "y", n: string) => npy(`dict_io.resume.${side}.${n}.npy`);
  const data = {
    source: {
      $case: "inline" as const,
      inline: {
        inputs: names.inputs.map((n) => tensorToWire(n, tensor("x", n), true)),
        targets: names.outputs.map((n) => tensorToWire(n, tensor("y", n), true)),
      },
    },
  };
  const policy = { everyEpochs: 1, everySteps: 0, everySeconds: 0, onBest: false, monitor: "" };
  const request = trainRequest(modelId, 0, {
    data,
    epochs: 2,
    batchSize: 8,
    validationSplit: 0.25,
    checkpointPolicy: policy,
  });
  const events = await collect(t.client, request);
  assert.equal(ofKind(events, "completed").length, 1, JSON.stringify(ofKind(events, "failed")));
  const last = ofKind(events, "epochEnd").at(-1)?.epochEnd.metrics ?? {};
  const sum = (last.val_gap_loss ?? Number.NaN) + (last.val_total_loss ?? Number.NaN);
  assert.equal(firstMismatch([last.val_loss ?? Number.NaN], [sum], 1e-6, 1e-5), undefined, JSON.stringify(last));
  // The held-out rows are the last quarter (36..47): their loss from Predict is what validation reported.
  const heldOut = (side: "x" | "y", n: string): TensorData => {
    const t = tensor(side, n);
    const width = t.shape[1] as number;
    return { ...t, shape: [12, width], data: t.data.slice(36 * width) } as TensorData;
  };
  const ours = await predicted(
    modelId,
    names.inputs.map((n) => tensorToWire(n, heldOut("x", n), true)),
  );
  for (const out of names.outputs) {
    const p = (ours.get(out) as TensorData).data;
    const y = heldOut("y", out).data;
    const mse = Array.from(p).reduce((acc, v, i) => acc + (v - (y[i] as number)) ** 2, 0) / p.length;
    assert.equal(firstMismatch([mse], [last[`val_${out}_loss`] ?? Number.NaN], 1e-5, 1e-4), undefined, out);
  }
  // The latest checkpoint resumes, and trains on.
  await t.client.restore({
    source: { $case: "checkpoint", checkpoint: { modelId, checkpointId: "latest" } },
    targetModelId: "dict-val-resumed",
    resume: true,
  });
  const more = await collect(t.client, { ...request, modelId: "dict-val-resumed", epochs: 3 });
  assert.equal(ofKind(more, "completed").length, 1, JSON.stringify(ofKind(more, "failed")));
  assert.deepEqual(
    ofKind(more, "epochEnd").map((e) => e.epochEnd.epoch),
    [3],
  );
});
