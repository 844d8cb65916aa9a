// `modelbay export`: a checkpoint as a Keras 3 .keras file that Python's keras.models.load_model
// opens compiled, predicting what modelbay predicts and continuing training as modelbay does (so
// the exported Adam state is right); the custom block exports as plain layers with the same math;
// the file restores back into modelbay; and --format tfjs copies the TensorFlow.js layers model.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { writeNpy } from "../src/datasets/npy.js";
import type { ModelSpec } from "../src/gen/modelbay/v1/model.js";
import { modelbay, run } from "./helpers/cli.js";
import { startTestServer, type TestServer, tempDir } from "./helpers/server.js";
import { blockSpec, denseSpec } from "./helpers/specs.js";
import { firstMismatch, floatTensor, predictFloats, seededFloats } from "./helpers/tensors.js";
import { checkpointPolicy, collect, ofKind, regressionData, trainRequest } from "./helpers/training.js";

const python = process.env.MODELBAY_PARITY_PYTHON;
const unavailable = !python || python === "skip";
const ROWS = 640;
let t: TestServer;
let store: string;
let dir: string;
const probe = seededFloats(16 * 10, 77);

before(async () => {
  store = tempDir();
  dir = tempDir();
  t = await startTestServer({ checkpointDir: store, artifactDir: dir });
  fs.writeFileSync(path.join(dir, "probe.npy"), writeNpy({ dtype: "float32", shape: [16, 10], data: probe }));
});
after(async () => {
  await t.close();
  fs.rmSync(store, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
});

const predict = (modelId: string) => predictFloats(t.client, modelId, [floatTensor(probe, [16, 10], true)]);

/** Trains `modelId` (2 epochs, a checkpoint each) and exports its latest checkpoint. */
async function trainAndExport(modelId: string, spec: ModelSpec, out: string): Promise<void> {
  await t.client.createModel({ modelId, spec });
  const events = await collect(
    t.client,
    trainRequest(modelId, ROWS, {
      epochs: 2,
      checkpointPolicy: checkpointPolicy({ everyEpochs: 1 }),
    }),
  );
  assert.equal(ofKind(events, "checkpointSaved").length, 2);
  const r = await modelbay("export", "--store", store, "--model", modelId, "--out", out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`exported ${modelId} ckpt-000002 as keras`));
}

async function keras(file: string): Promise<{ predictions: number[]; iterations: number; after_epoch?: number[] }> {
  const r = await run(python as string, [path.join(import.meta.dirname, "parity", "keras_load_export.py"), file, dir]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
}

const noMismatch = (a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number) => {
  const m = firstMismatch(a, b, atol, rtol);
  assert.equal(m, undefined, m);
};

test("the exported .keras restores back into modelbay with identical predictions", async () => {
  const file = path.join(dir, "roundtrip.keras");
  await trainAndExport("roundtrip", denseSpec(), file);
  const res = await t.client.restore({
    source: { $case: "artifactPath", artifactPath: "roundtrip.keras" },
    targetModelId: "back",
    resume: false,
  });
  assert.equal(res.model?.source, "keras");
  noMismatch(await predict("back"), await predict("roundtrip"), 0, 0);
});

test("Keras loads the export: same predictions, the optimizer's step, and the same next epoch", {
  skip: unavailable && "no Python TensorFlow (MODELBAY_PARITY_PYTHON)",
}, async () => {
  const file = path.join(dir, "classic.keras");
  await trainAndExport("classic", denseSpec(), file);
  const ours = await predict("classic");
  // One more epoch on fixed data, unshuffled, from the exported state in both.
  const { x, y } = regressionData(ROWS);
  fs.writeFileSync(path.join(dir, "x.npy"), writeNpy({ dtype: "float32", shape: [ROWS, 10], data: x }));
  fs.writeFileSync(path.join(dir, "y.npy"), writeNpy({ dtype: "float32", shape: [ROWS, 1], data: y }));
  const theirs = await keras(file);
  fs.rmSync(path.join(dir, "x.npy"));
  noMismatch(theirs.predictions, ours, 1e-5, 1e-4);
  assert.equal(theirs.iterations, 2 * (ROWS / 32));
  // The live session continues from the same state: a new one-epoch run, unshuffled.
  await collect(t.client, trainRequest("classic", ROWS, { epochs: 1, shuffle: false }));
  assert.ok(theirs.after_epoch);
  noMismatch(theirs.after_epoch, await predict("classic"), 1e-4, 1e-3);
});

test("a model with the custom block exports as plain Keras layers with the same predictions", {
  skip: unavailable && "no Python TensorFlow (MODELBAY_PARITY_PYTHON)",
}, async () => {
  const file = path.join(dir, "custom.keras");
  await trainAndExport("custom", blockSpec(), file);
  const theirs = await keras(file);
  noMismatch(theirs.predictions, await predict("custom"), 1e-5, 1e-4);
});

test("--format tfjs writes the checkpoint's TensorFlow.js layers model; bad options exit 2", async () => {
  const out = path.join(dir, "tfjs");
  const r = await modelbay("export", "--store", store, "--model", "roundtrip", "--format", "tfjs", "--out", out);
  assert.equal(r.status, 0, r.stderr);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, "model.json"), "utf8")) as {
    modelTopology: unknown;
    weightsManifest: Array<{ paths: string[] }>;
  };
  assert.ok(manifest.modelTopology);
  assert.deepEqual(manifest.weightsManifest[0]?.paths, ["weights.bin"]);
  assert.equal(fs.statSync(path.join(out, "weights.bin")).size, (1 + 128 * 10 + 128 + 128 + 1 - 1) * 4);
  assert.equal(
    (await modelbay("export", "--store", store, "--model", "roundtrip", "--format", "onnx", "--out", out)).status,
    2,
  );
  assert.equal(
    (await modelbay("export", "--store", store, "--model", "nope", "--out", path.join(dir, "x.keras"))).status,
    1,
  );
});

test("artifact restores: a modelbay checkpoint directory and a TensorFlow.js model.json predict as the original", async () => {
  const original = await predict("roundtrip");
  const ckpt = (await t.client.listCheckpoints({ modelId: "roundtrip" })).checkpoints[0]?.checkpointId ?? "";
  fs.cpSync(path.join(store, "roundtrip", ckpt), path.join(dir, "copied-ckpt"), { recursive: true });
  const fromDir = await t.client.restore({
    source: { $case: "artifactPath", artifactPath: "copied-ckpt" },
    targetModelId: "from-dir",
    resume: false,
  });
  assert.equal(fromDir.model?.source, "modelbay_checkpoint");
  noMismatch(await predict("from-dir"), original, 0, 0);
  for (const artifactPath of ["tfjs", "tfjs/model.json"]) {
    const res = await t.client.restore({
      source: { $case: "artifactPath", artifactPath },
      targetModelId: "from-tfjs",
      resume: false,
    });
    assert.equal(res.model?.source, "tfjs_layers");
    assert.match(res.warnings.join(" "), /no loss or optimizer state/);
    noMismatch(await predict("from-tfjs"), original, 0, 0);
  }
  // A flipped byte in the copied checkpoint is caught by its manifest.
  const weights = path.join(dir, "copied-ckpt", "weights.bin");
  const bytes = fs.readFileSync(weights);
  bytes[10] = (bytes[10] as number) ^ 0xff;
  fs.writeFileSync(weights, bytes);
  await assert.rejects(
    t.client.restore({
      source: { $case: "artifactPath", artifactPath: "copied-ckpt" },
      targetModelId: "x",
      resume: false,
    }),
    (err: { code: number; details: string }) => err.code === 15 && /copied-ckpt/.test(err.details),
  );
});
