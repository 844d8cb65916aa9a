// Models saved by Python TensorFlow 2.18 (fixtures/python/make_fixtures.py, outputs committed)
// restored through the Restore RPC: SavedModels (predict-only), a Keras 3 .keras file and
// TensorFlow checkpoints (both trainable, with Adam's state), each checked against the predictions
// Python made; and the bad inputs that must fail cleanly without disturbing loaded models.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { tensorToWire } from "../src/api/tensor-codec.js";
import { type GoldensFile, tensorFromJson } from "../src/cli/goldens-file.js";
import { readNpy } from "../src/datasets/npy.js";
import type { Goldens } from "../src/gen/modelbay/v1/checkpoint.js";
import type { RestoreRequest } from "../src/gen/modelbay/v1/model_service.js";
import { startTestServer, type TestServer, tempDir } from "./helpers/server.js";
import { denseSpec, denseStackSpec } from "./helpers/specs.js";
import { firstMismatch, floatTensor, inlineXY, predictFloats } from "./helpers/tensors.js";
import { collect, ofKind } from "./helpers/training.js";

const FIXTURES = path.resolve("fixtures/python/tf2.18");

let t: TestServer;
let native: boolean;

before(async () => {
  t = await startTestServer({ artifactDir: FIXTURES });
  native = (await t.client.getServerInfo({})).backend.startsWith("tensorflow");
});
after(() => t.close());

/** The goldens Python wrote, with the tolerance widened off the native backend. */
function goldens(name: string): Goldens & { file: GoldensFile } {
  const file = JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.goldens.json`), "utf8")) as GoldensFile;
  const widen = native ? 1 : 10;
  return {
    file,
    inputs: file.inputs.map((x, i) => tensorToWire(x.name, tensorFromJson(x, `inputs[${i}]`), true)),
    expectedOutputs: file.expected_outputs.map((x, i) =>
      tensorToWire(x.name, tensorFromJson(x, `outputs[${i}]`), true),
    ),
    atol: file.atol * widen,
    rtol: file.rtol * widen,
  };
}

const restore = (artifactPath: string, more: Partial<RestoreRequest> = {}) =>
  t.client.restore({ source: { $case: "artifactPath", artifactPath }, targetModelId: "", resume: false, ...more });

const predictValues = (modelId: string, g: Goldens) => predictFloats(t.client, modelId, g.inputs);

async function rejects(call: Promise<unknown>, code: grpc.status, message: RegExp): Promise<void> {
  await assert.rejects(call, (err: grpc.ServiceError) => {
    assert.equal(err.code, code, `${err.code}: ${err.details}`);
    assert.match(err.details, message);
    return true;
  });
}

test("a Keras SavedModel restores as a predict-only session and matches Python's predictions", async (ctx) => {
  if (!native) return ctx.skip("SavedModels need the native TensorFlow backend");
  const g = goldens("classic_savedmodel");
  const res = await restore("classic_savedmodel", { goldens: g });
  assert.equal(res.model?.modelId, "classic_savedmodel");
  assert.equal(res.model?.source, "saved_model");
  assert.equal(res.model?.trainable, false);
  assert.deepEqual(res.model?.inputs[0]?.shape, [-1, 10]);
  assert.equal(res.verification?.passed, true, JSON.stringify(res.verification));
  // A predict-only model refuses what needs a spec, and says why.
  await rejects(
    t.client.checkpoint({ modelId: "classic_savedmodel" }),
    grpc.status.FAILED_PRECONDITION,
    /predict-only/,
  );
  const train = collect(t.client, {
    modelId: "classic_savedmodel",
    data: inlineXY(g.inputs[0] as never, g.expectedOutputs[0] as never),
    validationSplit: 0,
    epochs: 1,
    batchSize: 4,
    shuffle: false,
    seed: 0,
    progressIntervalMs: 0,
    detach: false,
  });
  await rejects(train, grpc.status.FAILED_PRECONDITION, /predict-only/);
});

test("a SavedModel with a custom Layer subclass restores and matches Python's predictions", async (ctx) => {
  if (!native) return ctx.skip("SavedModels need the native TensorFlow backend");
  const res = await restore("custom_savedmodel", { targetModelId: "custom", goldens: goldens("custom_savedmodel") });
  assert.equal(res.verification?.passed, true, JSON.stringify(res.verification));
  const info = await t.client.getModel({ modelId: "custom" });
  assert.equal(info.model?.source, "saved_model");
});

/** The model's predictions on a goldens file's inputs match its expected outputs. */
async function assertMatches(modelId: string, goldensName: string): Promise<void> {
  const g = goldens(goldensName);
  const mismatch = firstMismatch(
    await predictValues(modelId, g),
    tensorFromJson(g.file.expected_outputs[0] as never, "expected").data as Float32Array,
    g.atol,
    g.rtol,
  );
  assert.equal(mismatch, undefined, mismatch);
}

const trainOneMoreEpoch = async (modelId: string) => {
  const x = readNpy(fs.readFileSync(path.join(FIXTURES, "train_x.npy")));
  const y = readNpy(fs.readFileSync(path.join(FIXTURES, "train_y.npy")));
  const events = await collect(t.client, {
    modelId,
    data: inlineXY(tensorToWire("x", x, true), tensorToWire("y", y, true)),
    validationSplit: 0,
    epochs: 1,
    batchSize: 32,
    shuffle: false,
    seed: 0,
    progressIntervalMs: 0,
    detach: false,
  });
  assert.equal(ofKind(events, "completed").length, 1, JSON.stringify(ofKind(events, "failed")));
};

test(".keras: restores trainable with its Adam state; one more epoch matches Keras' own next epoch", async () => {
  const res = await restore("classic.keras", { targetModelId: "classic", goldens: goldens("classic.keras") });
  assert.equal(res.model?.source, "keras");
  assert.equal(res.model?.trainable, true);
  assert.equal(res.verification?.passed, true, JSON.stringify(res.verification));
  assert.equal(res.model?.spec?.compile?.loss !== undefined, true);
  await trainOneMoreEpoch("classic");
  // Keras continued with its moments and step count; a fresh optimizer would take different steps.
  await assertMatches("classic", "classic.keras.resumed");
});

test("TF checkpoint series: the directory restores its latest into a spec; resumed training matches Keras", async () => {
  const res = await restore("classic_ckpt", {
    targetModelId: "from_ckpt",
    spec: denseSpec(),
    goldens: goldens("classic_ckpt"),
  });
  assert.equal(res.model?.source, "tf_checkpoint");
  assert.equal(res.verification?.passed, true, JSON.stringify(res.verification));
  assert.deepEqual(res.warnings, []);
  await trainOneMoreEpoch("from_ckpt");
  await assertMatches("from_ckpt", "classic_ckpt.resumed");
});

test("a TF checkpoint named by prefix or .index loads into the existing model's spec", async () => {
  await t.client.createModel({ modelId: "target", spec: denseSpec() });
  for (const p of ["classic_ckpt/ckpt-03", "classic_ckpt/ckpt-03.index"]) {
    const res = await restore(p, { targetModelId: "target" });
    assert.equal(res.model?.source, "tf_checkpoint");
  }
  // ckpt-03 is not the latest, so the final goldens must not match it.
  const res = await restore("classic_ckpt/ckpt-03", { targetModelId: "target", goldens: goldens("classic_ckpt") });
  assert.equal(res.verification?.passed, false);
});

test("an .h5 whose reading never ends is refused after its time budget, and the server answers meanwhile", async () => {
  // test/data/endless-attribute.h5: a damaged whole-model .h5 from the artifact fuzz (seed 11,
  // round 305); h5wasm never returns from reading its model_config attribute.
  const root = tempDir();
  fs.copyFileSync(path.join(import.meta.dirname, "data", "endless-attribute.h5"), path.join(root, "endless.h5"));
  fs.copyFileSync(path.join(FIXTURES, "classic.keras"), path.join(root, "classic.keras"));
  const s = await startTestServer({ artifactDir: root });
  try {
    const finished: string[] = [];
    const restored = s.client
      .restore(
        { source: { $case: "artifactPath", artifactPath: "endless.h5" }, targetModelId: "endless", resume: false },
        { deadline: Date.now() + 60_000 },
      )
      .finally(() => finished.push("restore"));
    // The RPC thread is not held meanwhile.
    await s.client.createModel({ modelId: "next", spec: denseSpec() });
    assert.equal(await s.client.health(), "SERVING");
    finished.push("create");
    await assert.rejects(restored, (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
      assert.match(err.details, /^endless\.h5: reading it did not finish in 10\.\d+ s; the file is damaged$/);
      return true;
    });
    assert.deepEqual(finished, ["create", "restore"]);
    // The next Keras file is read by a new reader.
    const next = await s.client.restore({
      source: { $case: "artifactPath", artifactPath: "classic.keras" },
      targetModelId: "after",
      resume: false,
    });
    assert.equal(next.model?.source, "keras");
  } finally {
    await s.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("bad artifacts get clear statuses and leave loaded models as they were", async () => {
  const g = goldens("classic.keras");
  await restore("classic.keras", { targetModelId: "keep" });
  const before = await predictValues("keep", g);
  const bad = tempDir("modelbay-bad-artifacts-");
  try {
    fs.cpSync(path.join(FIXTURES, "classic_ckpt"), path.join(bad, "flipped"), { recursive: true });
    const index = path.join(bad, "flipped", "ckpt-10.index");
    const bytes = fs.readFileSync(index);
    bytes[100] = (bytes[100] as number) ^ 0xff;
    fs.writeFileSync(index, bytes);
    fs.cpSync(path.join(FIXTURES, "classic_ckpt"), path.join(bad, "data"), { recursive: true });
    const data = path.join(bad, "data", "ckpt-10.data-00000-of-00001");
    const dataBytes = fs.readFileSync(data);
    dataBytes[2000] = (dataBytes[2000] as number) ^ 0x01;
    fs.writeFileSync(data, dataBytes);
    fs.writeFileSync(
      path.join(bad, "truncated.keras"),
      fs.readFileSync(path.join(FIXTURES, "classic.keras")).subarray(0, 5000),
    );
    const other = await startTestServer({ artifactDir: bad });
    try {
      const r = (p: string) =>
        other.client.restore({
          source: { $case: "artifactPath", artifactPath: p },
          targetModelId: "keep",
          resume: false,
          spec: denseSpec(),
        });
      await rejects(r("flipped"), grpc.status.DATA_LOSS, /ckpt-10\.index is corrupt: checksum mismatch/);
      await rejects(r("data"), grpc.status.DATA_LOSS, /fails its checksum/);
      await rejects(r("truncated.keras"), grpc.status.INVALID_ARGUMENT, /truncated\.keras: not a readable \.keras zip/);
    } finally {
      await other.close();
    }
  } finally {
    fs.rmSync(bad, { recursive: true, force: true });
  }
  if (native) {
    // test/data/slow-decoding-savedmodel: a damaged copy of classic_savedmodel from the artifact
    // fuzz (seed 3, round 197). tfjs-node's decoder took 170 s over its 4.5 KB saved_model.pb.
    const data = await startTestServer({ artifactDir: path.join(import.meta.dirname, "data") });
    try {
      await data.client.createModel({ modelId: "next", spec: denseSpec() });
      const finished: string[] = [];
      const restored = data.client
        .restore(
          {
            source: { $case: "artifactPath", artifactPath: "slow-decoding-savedmodel" },
            targetModelId: "slow",
            resume: false,
          },
          { deadline: Date.now() + 60_000 },
        )
        .finally(() => finished.push("restore"));
      // The device is not held meanwhile: a Predict of another model on it answers first.
      await data.client.predict({
        modelId: "next",
        inputs: [floatTensor(new Float32Array(10), [1, 10])],
        rawOutput: true,
      });
      finished.push("predict");
      await assert.rejects(
        restored,
        (err: grpc.ServiceError) =>
          err.code === grpc.status.INVALID_ARGUMENT &&
          /^not a readable SavedModel: decoding saved_model\.pb did not finish in 10\.\d+ s; the file is damaged$/.test(
            err.details,
          ),
      );
      assert.deepEqual(finished, ["predict", "restore"]);
    } finally {
      await data.close();
    }
  }
  const into = (p: string, more: Partial<RestoreRequest> = {}) => restore(p, { targetModelId: "keep", ...more });
  if (native) {
    await rejects(
      into("nosig_savedmodel"),
      grpc.status.INVALID_ARGUMENT,
      /no "serve" graph with a "serving_default" signature/,
    );
  }
  await rejects(
    into("classic_ckpt", { spec: denseStackSpec([64]) /* 64 hidden units: the variables do not fit */ }),
    grpc.status.INVALID_ARGUMENT,
    /weight 0 "layer_with_weights-0\/kernel" has shape \[10, 128\]; the model's .*kernel needs \[10, 64\]/,
  );
  // Sized before it is built: Dense(2^26) would be 3.2 GB of weights, 9.7 GB with Adam's slots.
  await rejects(
    into("classic_ckpt", { spec: denseStackSpec([2 ** 26]) }),
    grpc.status.RESOURCE_EXHAUSTED,
    /needs about 9663676428 bytes.*--max-session-bytes/,
  );
  await rejects(into("half_ckpt"), grpc.status.INVALID_ARGUMENT, /has dtype DT_HALF/);
  await rejects(
    restore("classic_ckpt", { targetModelId: "fresh" }),
    grpc.status.INVALID_ARGUMENT,
    /^spec: .*weights only/,
  );
  await rejects(into("../README.md"), grpc.status.INVALID_ARGUMENT, /artifact_path: .*without "\.\."/);
  await rejects(into("/etc/passwd"), grpc.status.INVALID_ARGUMENT, /artifact_path/);
  await rejects(into("train_x.npy"), grpc.status.INVALID_ARGUMENT, /is not a SavedModel directory, a \.keras file/);
  await rejects(into("classic.keras", { resume: true }), grpc.status.INVALID_ARGUMENT, /^resume:/);
  assert.deepEqual(await predictValues("keep", g), before);
  const health = await t.client.getServerInfo({});
  assert.ok(health.version);
});
