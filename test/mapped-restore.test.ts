// Restores map large checkpoint files (native/mapped-file) instead of copying them into fresh
// memory: the bytes hashed and handed to TensorFlow are the page cache's own pages. A mapping is
// private (training after a restore must never change a stored checkpoint), the hash still catches
// a changed or cut file, the mapping ends once the model is gone, and optimizer.bin (format 2,
// tensors on 64-byte boundaries) restores the same state as a packed format-1 file.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { tensorLayout, type WeightSpec } from "../src/checkpoints/checkpoint-codec.js";
import {
  CorruptCheckpointError,
  MANIFEST_FILE,
  manifestOf,
  readVerified,
  sha256,
} from "../src/checkpoints/manifest.js";
import { canMapFiles, mapFile } from "../src/checkpoints/mapped-file.js";
import { startTestServer, type TestServer, tempDir } from "./helpers/server.js";
import { denseStackSpec } from "./helpers/specs.js";
import { firstMismatch, floatTensor, predictFloats, seededFloats } from "./helpers/tensors.js";
import { collect, trainRequest } from "./helpers/training.js";

// Where the native backend is expected (CI), the addon is too: scripts/setup.sh builds both.
const required = process.env.MODELBAY_EXPECT_BACKEND === "tensorflow";
const skip = !canMapFiles() && !required && "the mapped-file addon is not built (scripts/build-mapped-file.mjs)";

const mappedPaths = () =>
  new Set(
    fs
      .readFileSync("/proc/self/maps", "utf8")
      .split("\n")
      .map((line) => line.split(/\s+/).slice(5).join(" "))
      .filter(Boolean),
  );

test("the addon is built where the native backend is expected", { skip: !required && "not expected here" }, () => {
  assert.ok(canMapFiles(), "native/mapped-file did not load: run node scripts/build-mapped-file.mjs");
});

test("a mapped file reads as the file, and writes to it stay in this process", { skip }, () => {
  const dir = tempDir("modelbay-map-");
  try {
    const file = path.join(dir, "data.bin");
    const bytes = randomBytes(3 * 2 ** 20 + 5);
    fs.writeFileSync(file, bytes);
    const mapped = mapFile(file) as SharedArrayBuffer;
    const view = new Uint8Array(mapped);
    assert.equal(Buffer.compare(Buffer.from(view), bytes), 0);
    assert.ok(mappedPaths().has(file), "listed in /proc/self/maps");
    view[0] = (view[0] as number) ^ 0xff;
    assert.equal(sha256(fs.readFileSync(file)), sha256(bytes), "the file did not change");
    assert.throws(
      () => mapFile(path.join(dir, "missing.bin")),
      (err: { code?: string }) => err.code === "ENOENT",
    );
    fs.writeFileSync(path.join(dir, "empty.bin"), "");
    assert.equal(mapFile(path.join(dir, "empty.bin")), undefined, "an empty file is read, not mapped");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("mapped reads check the size and the hash like copied ones", { skip }, async () => {
  const dir = tempDir("modelbay-map-");
  try {
    const large = randomBytes(17 * 2 ** 20);
    fs.writeFileSync(path.join(dir, "large.bin"), large);
    fs.writeFileSync(
      path.join(dir, MANIFEST_FILE),
      JSON.stringify(manifestOf([{ path: "large.bin", size: large.byteLength, sha256: sha256(large) }])),
    );
    const mapped = await readVerified(dir, undefined, "mapped");
    assert.equal(Buffer.compare(mapped.files.get("large.bin") as Buffer, large), 0);
    assert.ok(mappedPaths().has(path.join(dir, "large.bin")));
    const copied = await readVerified(dir, undefined, "copied");
    assert.equal(Buffer.compare(copied.files.get("large.bin") as Buffer, large), 0);

    const flipped = Buffer.from(large);
    flipped[12_345_678] = (flipped[12_345_678] as number) ^ 1;
    fs.writeFileSync(path.join(dir, "large.bin"), flipped);
    await assert.rejects(readVerified(dir, undefined, "mapped"), /does not match its sha256/);
    fs.writeFileSync(path.join(dir, "large.bin"), large.subarray(0, large.byteLength - 4096));
    await assert.rejects(readVerified(dir, undefined, "mapped"), CorruptCheckpointError);
    fs.rmSync(path.join(dir, "large.bin"));
    await assert.rejects(readVerified(dir, undefined, "mapped"), /large.bin is missing/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Adam's two slots of a 1024 x 2048 kernel: optimizer.bin is ~16.9 MB, large enough to be mapped.
const SPEC = denseStackSpec([1024, 2048], 1);
const ROWS = 256;
const probe = seededFloats(8 * 10, 11);
let t: TestServer;
let store: string;
// The checkpoint's predictions, for the copied restore to match.
let atCheckpoint: Float32Array;
let artifacts: string;

before(async () => {
  store = tempDir();
  artifacts = tempDir();
  t = await startTestServer({ checkpointDir: store, artifactDir: artifacts });
});
after(async () => {
  await t?.close();
  fs.rmSync(store, { recursive: true, force: true });
  fs.rmSync(artifacts, { recursive: true, force: true });
});

const predict = (modelId: string, client = t.client) =>
  predictFloats(client, modelId, [floatTensor(probe, [8, 10], true)]);

const fileHashes = (dir: string) =>
  Object.fromEntries(fs.readdirSync(dir).map((f) => [f, sha256(fs.readFileSync(path.join(dir, f)))]));

/**
 * The same checkpoint as format 1 wrote it: weights.bin in the model's order, optimizer.bin packed,
 * no weightOrder in state.json and no alignment in optimizer.json.
 */
function writeFormat1(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true });
  const read = (name: string) => JSON.parse(fs.readFileSync(path.join(from, name), "utf8"));
  const slice = (file: string, layout: { offset: number; bytes: number }[], order: number[]) => {
    const data = fs.readFileSync(path.join(from, file));
    return Buffer.concat(
      order.map((i) => data.subarray(layout[i]?.offset, (layout[i]?.offset ?? 0) + (layout[i]?.bytes ?? 0))),
    );
  };
  const { weightOrder, ...state } = read("state.json") as { formatVersion: number; weightOrder: number[] };
  assert.equal(state.formatVersion, 2);
  const modelJson = read("model.json") as { weightsManifest: { paths: string[]; weights: WeightSpec[] }[] };
  const inFile = modelJson.weightsManifest.flatMap((g) => g.weights);
  // File position of each model weight.
  const positions = inFile.map((_, k) => weightOrder.indexOf(k));
  fs.writeFileSync(path.join(to, "weights.bin"), slice("weights.bin", tensorLayout(inFile, "weights.bin"), positions));
  modelJson.weightsManifest = [{ paths: ["weights.bin"], weights: positions.map((i) => inFile[i] as WeightSpec) }];
  fs.writeFileSync(path.join(to, "model.json"), JSON.stringify(modelJson));
  const optimizerJson = read("optimizer.json") as { alignment: number; weights: WeightSpec[] };
  const slots = optimizerJson.weights;
  const packed = slice(
    "optimizer.bin",
    tensorLayout(slots, "optimizer.bin", optimizerJson.alignment),
    slots.map((_, i) => i),
  );
  assert.ok(packed.byteLength < fs.statSync(path.join(from, "optimizer.bin")).size, "format 2 pads");
  fs.writeFileSync(path.join(to, "optimizer.bin"), packed);
  fs.writeFileSync(path.join(to, "optimizer.json"), JSON.stringify({ weights: slots }));
  fs.writeFileSync(path.join(to, "state.json"), JSON.stringify({ ...state, formatVersion: 1 }));
  rewriteManifest(to);
}

function rewriteManifest(to: string): void {
  const files = fs
    .readdirSync(to)
    .filter((f) => f !== MANIFEST_FILE)
    .map((f) => {
      const data = fs.readFileSync(path.join(to, f));
      return { path: f, size: data.byteLength, sha256: sha256(data) };
    });
  fs.writeFileSync(path.join(to, MANIFEST_FILE), JSON.stringify(manifestOf(files)));
}

test("a mapped restore predicts and trains on as the original; the checkpoint stays as written; the mapping ends with the model", {
  skip,
}, async () => {
  await t.client.createModel({ modelId: "orig", spec: SPEC });
  await collect(t.client, trainRequest("orig", ROWS, { epochs: 1 }));
  const saved = (await t.client.checkpoint({ modelId: "orig" })).checkpoint?.checkpointId ?? "";
  const dir = path.join(store, "orig", saved);
  const optimizerBin = path.join(dir, "optimizer.bin");
  const before = fileHashes(dir);

  // Every slot of optimizer.bin starts on a 64-byte boundary, so it is mapped (no shift needed).
  const json = JSON.parse(fs.readFileSync(path.join(dir, "optimizer.json"), "utf8")) as {
    alignment: number;
    weights: WeightSpec[];
  };
  assert.equal(json.alignment, 64);
  assert.ok(tensorLayout(json.weights, "optimizer.bin", 64).every((l) => l.offset % 64 === 0));

  // weights.bin lists the largest weight first (a TensorFlow.js file may list them in any order);
  // state.json records the model's order.
  const modelJson = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8")) as {
    weightsManifest: { weights: WeightSpec[] }[];
  };
  const names = modelJson.weightsManifest.flatMap((g) => g.weights.map((w) => w.name));
  assert.deepEqual(names.slice(0, 2), ["dense_1/kernel", "dense_0/kernel"]);
  const order = (JSON.parse(fs.readFileSync(path.join(dir, "state.json"), "utf8")) as { weightOrder: number[] })
    .weightOrder;
  assert.deepEqual(order.slice(0, 2), [2, 0]);

  await t.client.restore({
    source: { $case: "checkpoint", checkpoint: { modelId: "orig", checkpointId: "latest" } },
    targetModelId: "back",
    resume: false,
  });
  assert.ok(mappedPaths().has(optimizerBin), "optimizer.bin is mapped while the model holds it");
  atCheckpoint = await predict("orig");
  assert.deepEqual(await predict("back"), atCheckpoint);

  // The same checkpoint in format 1, through the artifact path, restores the same optimizer state.
  writeFormat1(dir, path.join(artifacts, "format-1"));
  await t.client.restore({
    source: { $case: "artifactPath", artifactPath: "format-1" },
    targetModelId: "old",
    resume: false,
  });

  // A weightOrder that is not an order of the weights is refused, naming it.
  const badOrder = path.join(artifacts, "bad-order");
  fs.cpSync(dir, badOrder, { recursive: true });
  const state = JSON.parse(fs.readFileSync(path.join(badOrder, "state.json"), "utf8"));
  fs.writeFileSync(path.join(badOrder, "state.json"), JSON.stringify({ ...state, weightOrder: order.map(() => 0) }));
  rewriteManifest(badOrder);
  await assert.rejects(
    t.client.restore({
      source: { $case: "artifactPath", artifactPath: "bad-order" },
      targetModelId: "bad",
      resume: false,
    }),
    (err: { code: number; details: string }) => err.code === 15 && /weightOrder/.test(err.details),
  );

  // Another epoch on each: Adam continues from the same slots, so all three stay equal.
  for (const id of ["orig", "back", "old"]) await collect(t.client, trainRequest(id, ROWS, { epochs: 1 }));
  const trained = await predict("orig");
  assert.notDeepEqual(trained, atCheckpoint, "training moved the weights");
  assert.deepEqual(await predict("back"), trained, "restored (mapped, format 2) and trained on");
  assert.deepEqual(await predict("old"), trained, "restored (format 1) and trained on");
  assert.deepEqual(fileHashes(dir), before, "training the restored model changed no stored byte");

  for (const id of ["back", "old"]) await t.client.deleteModel({ modelId: id, deleteCheckpoints: false });
  for (let waited = 0; mappedPaths().has(optimizerBin); waited += 50) {
    if (waited === 1000) {
      console.log(
        "DBG",
        fs
          .readFileSync("/proc/self/maps", "utf8")
          .split("\n")
          .filter((l) => l.includes(store))
          .join("\n"),
        "models",
        JSON.stringify((await t.client.listModels({})).models?.map((m: { modelId: string }) => m.modelId)),
      );
    }
    assert.ok(waited < 5000, "the mapping outlived its model by 5 s");
    await sleep(50);
  }
});

test("copied reads map nothing and restore the same", { skip }, async () => {
  assert.ok(atCheckpoint, "runs after the mapped restore");
  const copied = await startTestServer({ checkpointDir: store, checkpointReads: "copied" });
  try {
    const res = await copied.client.restore({
      source: { $case: "checkpoint", checkpoint: { modelId: "orig", checkpointId: "latest" } },
      targetModelId: "copy",
      resume: false,
    });
    const dir = path.join(store, "orig", res.checkpointId);
    assert.ok(!mappedPaths().has(path.join(dir, "optimizer.bin")));
    assert.deepEqual(await predict("copy", copied.client), atCheckpoint);
  } finally {
    await copied.close();
  }
});

test("TensorFlow.js itself loads a checkpoint's model.json + weights.bin (largest weights first) and predicts the same", {
  skip: skip || (process.env.MODELBAY_BACKEND === "wasm" && "file:// model loading needs tfjs-node"),
}, async () => {
  assert.ok(atCheckpoint, "runs after the mapped restore");
  const saved = (await t.client.listCheckpoints({ modelId: "orig" })).checkpoints[0]?.checkpointId ?? "";
  const tf = await import("@tensorflow/tfjs-node");
  const model = await tf.loadLayersModel(`file://${path.join(store, "orig", saved, "model.json")}`);
  try {
    const out = model.predict(tf.tensor2d(probe, [8, 10])) as import("@tensorflow/tfjs-node").Tensor;
    const got = (await out.data()) as Float32Array;
    out.dispose();
    const mismatch = firstMismatch(got, atCheckpoint, 1e-6, 1e-5);
    assert.equal(mismatch, undefined, mismatch);
  } finally {
    model.dispose();
  }
});
