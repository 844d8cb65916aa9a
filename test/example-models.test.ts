// Both classic example models build from their specs through the compute seam and predict
// a 10x10 batch with the right output shape; the API reports their metadata.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { specFromWire } from "../src/api/spec-codec.js";
import { parseBackendChoice } from "../src/compute/backend-choice.js";
import { type ComputeEngine, predictOne } from "../src/compute/engine.js";
import { createInProcessEngine } from "../src/compute/in-process-engine.js";
import { DataType } from "../src/gen/modelbay/v1/tensor.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { blockSpec, denseSpec } from "./helpers/specs.js";
import { seededFloats } from "./helpers/tensors.js";

let engine: ComputeEngine;
let t: TestServer;
before(async () => {
  engine = await createInProcessEngine(parseBackendChoice(process.env.MODELBAY_BACKEND));
  t = await startTestServer();
});
after(() => t.close());

const batch = { dtype: "float32" as const, shape: [10, 10], data: seededFloats(100) };

test("the Dense(128, relu) -> Dense(1) model predicts a 10x10 batch as [10, 1]", async () => {
  const model = await engine.buildModel(specFromWire(denseSpec()));
  try {
    assert.equal(model.description.parameterCount, 10 * 128 + 128 + 128 + 1);
    const out = await predictOne(model, batch);
    assert.deepEqual(out.shape, [10, 1]);
    assert.ok(out.data.every((v) => Number.isFinite(v)));
  } finally {
    model.dispose();
  }
});

test("the model with a reusable block predicts [10, 1] and each block placement owns its weights", async () => {
  const model = await engine.buildModel(specFromWire(blockSpec()));
  try {
    // block_a: 10*64+64, block_b: 64*64+64, head: 64+1
    assert.equal(model.description.parameterCount, 10 * 64 + 64 + 64 * 64 + 64 + 64 + 1);
    const out = await predictOne(model, batch);
    assert.deepEqual(out.shape, [10, 1]);
  } finally {
    model.dispose();
  }
});

test("the same seed builds the same weights; another seed builds others", async () => {
  const predictWith = async (seed: number) => {
    const model = await engine.buildModel(specFromWire(blockSpec(seed)));
    try {
      return Array.from((await predictOne(model, batch)).data);
    } finally {
      model.dispose();
    }
  };
  const a = await predictWith(3);
  assert.deepEqual(await predictWith(3), a);
  assert.notDeepEqual(await predictWith(4), a);
});

test("CreateModel then GetModel reports inputs, outputs and placement", async () => {
  const created = await t.client.createModel({ modelId: "classic", spec: denseSpec() });
  assert.equal(created.model?.modelId, "classic");
  const { model } = await t.client.getModel({ modelId: "classic" });
  assert.deepEqual(model?.inputs, [{ name: "input", dtype: DataType.DATA_TYPE_FLOAT32, shape: [-1, 10] }]);
  assert.deepEqual(model?.outputs, [{ name: "output", dtype: DataType.DATA_TYPE_FLOAT32, shape: [-1, 1] }]);
  assert.equal(model?.placement?.device, "cpu:0");
  assert.equal(model?.spec?.topology?.$case, "sequential");
  const { models } = await t.client.listModels({});
  assert.deepEqual(
    models.map((m) => m.modelId),
    ["classic"],
  );
  await t.client.deleteModel({ modelId: "classic", deleteCheckpoints: false });
  assert.deepEqual((await t.client.listModels({})).models, []);
});
