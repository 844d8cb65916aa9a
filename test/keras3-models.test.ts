// Models as Python TensorFlow 2.16+ writes them (Keras 3): `model.to_json()` builds through
// CreateModel's keras_json, and with Keras' own weights predicts what Keras predicts; the model's
// .keras file restores (Restore's artifact_path) and predicts the same. Functional
// graphs (Add, Concatenate), convolutions with batch normalization, a Sequential model built
// without an Input, a Sequential model (with batch normalization) nested in a functional one, token
// ids through Embedding and LSTM, and Bidirectional, SimpleRNN and TimeDistributed layers. The models come from test/parity/keras3_models.py.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { specFromWire } from "../src/api/spec-codec.js";
import { tensorFromWire, tensorToWire } from "../src/api/tensor-codec.js";
import { readNpy } from "../src/datasets/npy.js";
import { type ModelSpec, OptimizerKind } from "../src/gen/modelbay/v1/model.js";
import { kerasWeightGroups } from "../src/interop/keras-config.js";
import { exportKerasFile } from "../src/interop/keras-export.js";
import { modelbay, run } from "./helpers/cli.js";
import { startTestServer, type TestServer, tempDir } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { firstMismatch, floatTensor, inlineXY } from "./helpers/tensors.js";
import { collect, ofKind, trainRequest } from "./helpers/training.js";

const python = process.env.MODELBAY_PARITY_PYTHON;
const unavailable = !python || python === "skip";
const skip = unavailable && "no Python TensorFlow (MODELBAY_PARITY_PYTHON)";
const MODELS = [
  "residual",
  "branches",
  "conv",
  "built_sequential",
  "nested",
  "text",
  "recurrent",
  "gated",
  "tabular",
  "difference",
  "attention",
  "masked_text",
  "seq_attention",
  "masked_dropout",
  "operations",
  "operations_text",
];
// Not trained on after loading: their dropout draws at random, or they were never trained.
const NOT_RESUMED = ["residual", "built_sequential", "masked_dropout"];

let t: TestServer;
let dir: string;
let store: string;
before(async () => {
  dir = tempDir();
  store = tempDir();
  // A model per test (sixteen models, each in several checks), more than the default 64 sessions.
  t = await startTestServer({ artifactDir: dir, checkpointDir: store, maxSessions: 256 });
  if (unavailable) return;
  const script = path.join(import.meta.dirname, "parity", "keras3_models.py");
  const made = await run(python as string, [script, dir]);
  assert.equal(made.status, 0, made.stderr);
});
after(async () => {
  await t.close();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(store, { recursive: true, force: true });
});

test("under CI the Keras 3 models are tested", { skip: process.env.CI !== "true" && "not under CI" }, () => {
  assert.ok(!unavailable, "MODELBAY_PARITY_PYTHON must point at a Python with TensorFlow under CI");
});

const npy = (file: string) => readNpy(fs.readFileSync(path.join(dir, file)), file);

/** Keras' variables by the name TensorFlow.js gives them: the path's layer and variable, without the models around them. */
function kerasWeights(name: string) {
  const list = JSON.parse(fs.readFileSync(path.join(dir, `${name}.weights.json`), "utf8")) as {
    path: string;
    file: string;
  }[];
  return list.map((w) => ({ name: w.path.split("/").slice(-2).join("/"), tensor: npy(w.file) }));
}

async function predicted(modelId: string, name: string): Promise<Float32Array> {
  const x = npy(`${name}.x.npy`);
  const res = await t.client.predict({
    modelId,
    inputs: [tensorToWire("", x, true)],
    rawOutput: true,
  });
  const out = res.outputs[0];
  assert.ok(out);
  return tensorFromWire(out, "output", { maxTensorBytes: Number.POSITIVE_INFINITY }).data as Float32Array;
}

/** One epoch here, unshuffled, on the rows of two .npy files Python wrote. */
async function trainOneEpoch(modelId: string, xFile: string, yFile: string, batchSize: number): Promise<void> {
  const data = inlineXY(tensorToWire("x", npy(xFile), true), tensorToWire("y", npy(yFile), true));
  const events = await collect(t.client, trainRequest(modelId, 0, { data, epochs: 1, batchSize, shuffle: false }));
  assert.equal(ofKind(events, "completed").length, 1, JSON.stringify(ofKind(events, "failed")));
}

/**
 * One more epoch here (unshuffled) on what Keras trained its next epoch on (NAME.resume_x/y.npy)
 * ends where Keras' did (NAME.resumed.y.npy), which holds only if Adam's state came along.
 */
async function trainsOnAsKeras(modelId: string, name: string, batchSize = 16): Promise<void> {
  await trainOneEpoch(modelId, `${name}.resume_x.npy`, `${name}.resume_y.npy`, batchSize);
  const ours = await predicted(modelId, name);
  assert.equal(firstMismatch(ours, npy(`${name}.resumed.y.npy`).data as Float32Array, 1e-4, 1e-3), undefined);
}

/** The model's topology, compiled as the classic example (adam, mse). */
const kerasSpec = (name: string): ModelSpec => ({
  ...denseSpec(),
  topology: { $case: "kerasJson", kerasJson: fs.readFileSync(path.join(dir, `${name}.json`), "utf8") },
});

for (const name of MODELS) {
  test(`Keras 3 to_json() of "${name}" builds, and with Keras' weights predicts as Keras does`, { skip }, async () => {
    const { model } = await t.client.createModel({ modelId: `k3-${name}`, spec: kerasSpec(name) });
    const expected = npy(`${name}.y.npy`);
    assert.deepEqual(model?.outputs[0]?.shape, [-1, ...expected.shape.slice(1)]);
    await t.server.sessions.get(`k3-${name}`).model.setWeights(kerasWeights(name));
    const ours = await predicted(`k3-${name}`, name);
    assert.equal(firstMismatch(ours, expected.data as Float32Array, 1e-5, 1e-4), undefined);
  });
}

for (const name of MODELS) {
  test(`the .keras file of "${name}" restores, predicting as Keras does`, { skip }, async () => {
    const res = await t.client.restore({
      source: { $case: "artifactPath", artifactPath: `${name}.keras` },
      targetModelId: `k3f-${name}`,
      resume: false,
    });
    assert.equal(res.model?.source, "keras");
    assert.equal(
      firstMismatch(await predicted(`k3f-${name}`, name), npy(`${name}.y.npy`).data as Float32Array, 1e-5, 1e-4),
      undefined,
    );
  });
}

for (const name of MODELS) {
  test(`the .weights.h5 of "${name}" restores into its to_json() spec, predicting as Keras does`, {
    skip,
  }, async () => {
    const res = await t.client.restore({
      source: { $case: "artifactPath", artifactPath: `${name}.weights.h5` },
      targetModelId: `k3w-${name}`,
      resume: false,
      spec: kerasSpec(name),
    });
    assert.equal(res.model?.source, "keras_weights");
    assert.equal(
      firstMismatch(await predicted(`k3w-${name}`, name), npy(`${name}.y.npy`).data as Float32Array, 1e-5, 1e-4),
      undefined,
    );
  });
}

test("Keras 3 ModelCheckpoint weights of every epoch: the directory restores the last into a spec; training resumes as in Keras", {
  skip,
}, async () => {
  // epoch-1 .. epoch-11.weights.h5: "epoch-9" is last by plain string order, "epoch-11" by number.
  const res = await t.client.restore({
    source: { $case: "artifactPath", artifactPath: "classic_weights" },
    targetModelId: "k3w-classic",
    resume: false,
    spec: denseSpec(),
  });
  assert.equal(res.model?.source, "keras_weights");
  assert.deepEqual(res.warnings, []);
  assert.equal(
    firstMismatch(await predicted("k3w-classic", "classic"), npy("classic.y.npy").data as Float32Array, 1e-5, 1e-4),
    undefined,
  );
  await trainOneEpoch("k3w-classic", "classic.train_x.npy", "classic.train_y.npy", 32);
  // Keras went on with its Adam moments and step count; a fresh optimizer would step otherwise.
  assert.equal(
    firstMismatch(
      await predicted("k3w-classic", "classic"),
      npy("classic.resumed.y.npy").data as Float32Array,
      1e-4,
      1e-3,
    ),
    undefined,
  );
});

test("modelbay restore --artifact of Keras weights takes the model as --keras-json", { skip }, async () => {
  const r = await modelbay(
    "restore",
    "--server",
    t.server.address,
    "--artifact",
    "branches.weights.h5",
    "--keras-json",
    path.join(dir, "branches.json"),
    "--as",
    "k3w-cli",
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^restored branches\.weights\.h5: k3w-cli {2}keras_weights /m);
  assert.equal(
    firstMismatch(await predicted("k3w-cli", "branches"), npy("branches.y.npy").data as Float32Array, 1e-5, 1e-4),
    undefined,
  );
});

test("Keras weights without a spec, with a spec that is not JSON, or for a TensorFlow.js topology, are INVALID_ARGUMENT saying so", {
  skip,
}, async () => {
  await assert.rejects(
    t.client.restore({
      source: { $case: "artifactPath", artifactPath: "conv.weights.h5" },
      targetModelId: "k3w-json",
      resume: false,
      spec: { ...denseSpec(), topology: { $case: "kerasJson", kerasJson: "{nope" } },
    }),
    /spec\.keras_json: not valid JSON/,
  );
  await assert.rejects(
    t.client.restore({
      source: { $case: "artifactPath", artifactPath: "conv.weights.h5" },
      targetModelId: "k3w-none",
      resume: false,
    }),
    /spec: a Keras weights file holds weights only; give the model's spec/,
  );
  const tfjsJson = JSON.stringify({
    class_name: "Sequential",
    config: { name: "m", layers: [{ class_name: "Dense", config: { units: 1, batch_input_shape: [null, 10] } }] },
  });
  await assert.rejects(
    t.client.restore({
      source: { $case: "artifactPath", artifactPath: "classic_weights" },
      targetModelId: "k3w-tfjs",
      resume: false,
      spec: { ...denseSpec(), topology: { $case: "kerasJson", kerasJson: tfjsJson } },
    }),
    /Keras weights need a sequential spec or a Keras 3 topology/,
  );
});

test("an .h5 file that holds weights only, or is not HDF5, is INVALID_ARGUMENT saying so", { skip }, async () => {
  fs.copyFileSync(path.join(dir, "conv.weights.h5"), path.join(dir, "only-weights.h5"));
  fs.writeFileSync(path.join(dir, "not-hdf5.h5"), "this is not HDF5\n".repeat(100));
  const refused = (artifactPath: string) =>
    t.client.restore({ source: { $case: "artifactPath", artifactPath }, targetModelId: "", resume: false });
  await assert.rejects(refused("only-weights.h5"), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /^only-weights\.h5: holds no model_config: it is a weights file \(model\.save_weights\)/);
    return true;
  });
  await assert.rejects(refused("not-hdf5.h5"), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err.details, /^not-hdf5\.h5: not readable HDF5/);
    return true;
  });
  assert.equal(await t.client.health(), "SERVING");
});

test("export refuses a Keras 3 topology with two layers of one name, which its weights cannot tell apart", async () => {
  const dense = { module: "keras.layers", class_name: "Dense", config: { name: "d", units: 1 } };
  const json = JSON.stringify({
    module: "keras",
    class_name: "Functional",
    config: {
      layers: [{ module: "keras", class_name: "Sequential", config: { name: "inner", layers: [dense] } }, dense],
    },
  });
  const spec = { ...specFromWire(denseSpec()), topology: { kind: "keras-json" as const, json } };
  await assert.rejects(exportKerasFile(spec, { weights: [], optimizer: [] }), /two layers are named "d"/);
});

test(".keras files keep each layer's variables under its class name in Keras' snake case, numbered per class", () => {
  // Expected names from keras.src.utils.naming.to_snake_case (Keras 3.15.1).
  const classes = [
    "Dense",
    "Conv2D",
    "BatchNormalization",
    "Conv2DTranspose",
    "Dense",
    "LSTM",
    "PReLU",
    "UpSampling2D",
  ];
  assert.deepEqual(
    kerasWeightGroups(classes).map((g) => g.replace(/^layers\//, "")),
    ["dense", "conv2d", "batch_normalization", "conv2d_transpose", "dense_1", "lstm", "p_re_lu", "up_sampling2d"],
  );
});

// "gated" holds Keras' GRUs and its hard_sigmoid, "masked_text" attention and merges of masks, and
// "branches" a copy of a tensor taken twice, "operations_text" graph operations: modelbay's own classes
// in TensorFlow.js.
for (const name of ["nested", "gated", "masked_text", "branches", "operations_text"]) {
  test(`a model from a .keras file ("${name}") checkpoints and restores, predicting the same`, { skip }, async () => {
    await t.client.restore({
      source: { $case: "artifactPath", artifactPath: `${name}.keras` },
      targetModelId: `k3-saved-${name}`,
      resume: false,
    });
    const before = await predicted(`k3-saved-${name}`, name);
    const { checkpoint } = await t.client.checkpoint({ modelId: `k3-saved-${name}` });
    const back = await t.client.restore({
      source: {
        $case: "checkpoint",
        checkpoint: { modelId: `k3-saved-${name}`, checkpointId: checkpoint?.checkpointId ?? "" },
      },
      targetModelId: `k3-back-${name}`,
      resume: false,
    });
    assert.equal(back.model?.source, "checkpoint");
    assert.deepEqual(await predicted(`k3-back-${name}`, name), before);
  });
}

test("a functional Keras 3 model trains through the API", { skip }, async () => {
  await t.client.createModel({ modelId: "k3-train", spec: kerasSpec("residual") });
  const events = await collect(t.client, trainRequest("k3-train", 256, { epochs: 3, batchSize: 32 }));
  const losses = ofKind(events, "epochEnd").map((e) => e.epochEnd.loss);
  assert.equal(ofKind(events, "completed").length, 1, JSON.stringify(ofKind(events, "failed")));
  assert.equal(losses.length, 3);
  assert.ok(losses.every(Number.isFinite));
  assert.ok((losses[2] as number) < (losses[0] as number), `losses ${losses.join(", ")}`);
});

test("modelbay model create --keras-json takes Keras 3 JSON, and a spec file its compile section", {
  skip,
}, async () => {
  const rest = path.join(dir, "rest.json");
  fs.writeFileSync(
    rest,
    JSON.stringify({
      compile: { optimizer: { kind: "OPTIMIZER_KIND_SGD", learningRate: 0.05 }, loss: "LOSS_MEAN_ABSOLUTE_ERROR" },
    }),
  );
  const r = await modelbay(
    "model",
    "create",
    "--server",
    t.server.address,
    "--model",
    "k3-cli",
    "--keras-json",
    path.join(dir, "branches.json"),
    "--spec",
    rest,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /^k3-cli {2}spec {2}cpu:0 \S+ {2}\d+ parameters {2}\S+ float32\[-1,6\] -> \S+ float32\[-1,3\]$/m,
  );
  const { model } = await t.client.getModel({ modelId: "k3-cli" });
  assert.equal(model?.spec?.compile?.optimizer?.learningRate, 0.05);
  assert.equal(model?.spec?.topology?.$case, "kerasJson");
});

test("GRUs from tf-keras (Keras 2) JSON, where hard_sigmoid is Keras 2's, predict as tf-keras does", {
  skip,
}, async () => {
  await t.client.createModel({ modelId: "k2-gated", spec: kerasSpec("keras2_gated") });
  await t.server.sessions.get("k2-gated").model.setWeights(kerasWeights("keras2_gated"));
  const ours = await predicted("k2-gated", "keras2_gated");
  assert.equal(firstMismatch(ours, npy("keras2_gated.y.npy").data as Float32Array, 1e-5, 1e-4), undefined);
});

test("GRUs as Keras makes them (reset_after) train as in Keras: one epoch of SGD from Keras' weights ends where Keras' did", {
  skip,
}, async () => {
  const modelId = "k3-gated-sgd";
  const spec = kerasSpec("gated");
  await t.client.createModel({
    modelId,
    spec: {
      ...spec,
      compile: {
        ...(spec.compile as NonNullable<ModelSpec["compile"]>),
        optimizer: {
          kind: OptimizerKind.OPTIMIZER_KIND_SGD,
          learningRate: 0.1,
          beta1: 0,
          beta2: 0,
          epsilon: 0,
          momentum: 0,
          rho: 0,
        },
      },
    },
  });
  await t.server.sessions.get(modelId).model.setWeights(kerasWeights("gated"));
  await trainOneEpoch(modelId, "gated.sgd_x.npy", "gated.sgd_y.npy", 16);
  const before = npy("gated.y.npy").data as Float32Array;
  const ours = await predicted(modelId, "gated");
  assert.notEqual(firstMismatch(ours, before, 1e-4, 1e-3), undefined, "training moved nothing");
  assert.equal(firstMismatch(ours, npy("gated.sgd.y.npy").data as Float32Array, 1e-5, 1e-4), undefined);
});

// Files Python saved after an epoch of Adam, each of a model Keras then trained one more epoch:
// every model of test/parity/keras3_models.py's RESUMED as a .keras file and as Keras 3 weights
// into its to_json(); whole models saved as HDF5 by tf-keras and by Keras 3 (legacy_h5 in the
// script); and tf-keras' TensorFlow checkpoints (model.save_weights) of the same models.
const SAVED_BY_PYTHON: { name: string; artifact: string; source: string; weightsOnly?: boolean; batchSize?: number }[] =
  [
    ...MODELS.filter((name) => !NOT_RESUMED.includes(name)).flatMap((name) => {
      // Token ids one row a batch, as Keras trained them (see resumed_epoch in the script).
      const batchSize = name.endsWith("text") ? 1 : 16;
      return [
        { name, artifact: `${name}.keras`, source: "keras", batchSize },
        { name, artifact: `${name}.weights.h5`, source: "keras_weights", weightsOnly: true, batchSize },
      ];
    }),
    ...["classic", "mixed", "attention"]
      .flatMap((kind) => [`h5_tfkeras_${kind}`, `h5_keras3_${kind}`])
      .map((name) => ({
        name,
        artifact: `${name}.h5`,
        source: "keras_h5",
      })),
    ...["h5_tfkeras_classic", "h5_tfkeras_mixed", "h5_tfkeras_attention"].map((name) => ({
      name,
      artifact: `${name}_ckpt`,
      source: "tf_checkpoint",
      weightsOnly: true,
    })),
  ];
for (const { name, artifact, source, weightsOnly, batchSize } of SAVED_BY_PYTHON) {
  test(`${artifact} restores, predicts as Keras did, and with Keras' Adam state trains one more epoch to where Keras' did`, {
    skip,
  }, async () => {
    const modelId = `k-${artifact.replace(/\W/g, "-")}`;
    const res = await t.client.restore({
      source: { $case: "artifactPath", artifactPath: artifact },
      targetModelId: modelId,
      resume: false,
      ...(weightsOnly ? { spec: kerasSpec(name) } : {}),
    });
    assert.equal(res.model?.source, source);
    assert.deepEqual(res.warnings, []);
    assert.equal(
      firstMismatch(await predicted(modelId, name), npy(`${name}.y.npy`).data as Float32Array, 1e-5, 1e-4),
      undefined,
    );
    await trainsOnAsKeras(modelId, name, batchSize);
  });
}

/**
 * For each model in PREFIX.json (name -> Keras' to_json() of one small model), CreateModel of it
 * predicts on PREFIX.x.npy what Keras did (PREFIX.NAME.npy), shape and values; the mismatches.
 */
async function mismatchesWithKeras(prefix: string, minimum: number): Promise<string[]> {
  const models = JSON.parse(fs.readFileSync(path.join(dir, `${prefix}.json`), "utf8")) as Record<string, string>;
  const x = npy(`${prefix}.x.npy`);
  assert.ok(Object.keys(models).length >= minimum);
  const wrong: string[] = [];
  for (const [name, kerasJson] of Object.entries(models)) {
    const modelId = `${prefix}-${name}`;
    await t.client.createModel({ modelId, spec: { ...denseSpec(), topology: { $case: "kerasJson", kerasJson } } });
    const res = await t.client.predict({ modelId, inputs: [tensorToWire("", x, true)], rawOutput: true });
    const out = res.outputs[0];
    assert.ok(out);
    const ours = tensorFromWire(out, "output", { maxTensorBytes: Number.POSITIVE_INFINITY });
    const keras = npy(`${prefix}.${name}.npy`);
    if (ours.shape.join() !== keras.shape.join()) wrong.push(`${name}: shape [${ours.shape}] vs [${keras.shape}]`);
    const mismatch = firstMismatch(ours.data as Float32Array, keras.data as Float32Array, 1e-6, 1e-5);
    if (mismatch !== undefined) wrong.push(`${name}: ${mismatch}`);
    await t.client.deleteModel({ modelId, deleteCheckpoints: false });
  }
  return wrong;
}

test("Keras 3's activations, TensorFlow.js' own and those it lacks or defines otherwise (hard_sigmoid), compute as in Keras", {
  skip,
}, async () => {
  assert.deepEqual(await mismatchesWithKeras("activations", 27), []);
});

test("Keras 3's graph operations (keras.ops and operators between layers) compute as in Keras, each use in a model of its own", {
  skip,
}, async () => {
  assert.deepEqual(await mismatchesWithKeras("operation_uses", 120), []);
});

for (const name of ["conv", "nested", "recurrent", "gated", "tabular", "difference", "attention", "operations"]) {
  test(`"${name}" from its .keras file, trained on in modelbay, exports a .keras that Keras loads, predicts with as modelbay does, and trains on with modelbay's Adam state`, {
    skip,
  }, async () => {
    const modelId = `k3x-${name}`;
    await t.client.restore({
      source: { $case: "artifactPath", artifactPath: `${name}.keras` },
      targetModelId: modelId,
      resume: false,
    });
    const x = npy(`${name}.x.npy`);
    const y = npy(`${name}.y.npy`);
    const data = inlineXY(
      floatTensor(x.data as Float32Array, x.shape, true),
      floatTensor(new Float32Array(y.data.length), y.shape, true),
    );
    const events = await collect(t.client, trainRequest(modelId, 0, { data, epochs: 3, batchSize: 7 }));
    assert.equal(ofKind(events, "completed").length, 1, JSON.stringify(ofKind(events, "failed")));
    const ours = await predicted(modelId, name);
    // Training moved the weights away from what Keras saved, so agreeing below means they came along.
    assert.notEqual(firstMismatch(ours, y.data as Float32Array, 1e-5, 1e-4), undefined);
    await t.client.checkpoint({ modelId });

    const file = path.join(dir, `${modelId}.keras`);
    const exported = await modelbay("export", "--store", store, "--model", modelId, "--out", file);
    assert.equal(exported.status, 0, exported.stderr);
    assert.doesNotMatch(exported.stdout, /warning/);
    const probeDir = path.join(dir, modelId);
    fs.mkdirSync(probeDir);
    fs.copyFileSync(path.join(dir, `${name}.x.npy`), path.join(probeDir, "probe.npy"));
    fs.copyFileSync(path.join(dir, `${name}.resume_x.npy`), path.join(probeDir, "x.npy"));
    fs.copyFileSync(path.join(dir, `${name}.resume_y.npy`), path.join(probeDir, "y.npy"));
    const r = await run(python as string, [
      path.join(import.meta.dirname, "parity", "keras_load_export.py"),
      file,
      probeDir,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const theirs = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as {
      predictions: number[];
      iterations: number;
      after_epoch: number[];
    };
    assert.equal(firstMismatch(theirs.predictions, ours, 1e-5, 1e-4), undefined);
    // Keras' two steps before it saved, and modelbay's three.
    assert.equal(theirs.iterations, 5);

    // One more epoch on both sides (batch 32, unshuffled) agrees only if Adam's moments came along.
    await trainOneEpoch(modelId, `${name}.resume_x.npy`, `${name}.resume_y.npy`, 32);
    assert.equal(firstMismatch(theirs.after_epoch, await predicted(modelId, name), 1e-4, 1e-3), undefined);
  });
}

test("a model whose topology is TensorFlow.js JSON does not export as .keras, and says how it can", async () => {
  const kerasJson = JSON.stringify({
    class_name: "Sequential",
    config: { name: "m", layers: [{ class_name: "Dense", config: { units: 2, batch_input_shape: [null, 3] } }] },
  });
  await t.client.createModel({
    modelId: "k3x-tfjs",
    spec: { ...denseSpec(), topology: { $case: "kerasJson", kerasJson } },
  });
  await t.client.checkpoint({ modelId: "k3x-tfjs" });
  const r = await modelbay("export", "--store", store, "--model", "k3x-tfjs", "--out", path.join(dir, "tfjs.keras"));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /this model's is TensorFlow\.js or Keras 2 JSON \(--format tfjs exports it\)/);
});
