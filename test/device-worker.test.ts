// Compute runs in a device worker thread: when it dies, the server keeps serving, a new worker
// starts, checkpointed models reload on their next use, and only unsaved models are UNAVAILABLE.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import type { WorkerEngine } from "../src/compute/worker-engine.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { floatTensor, seededFloats } from "./helpers/tensors.js";

let t: TestServer;
before(async () => {
  t = await startTestServer({ compute: "worker" });
});
after(() => t.close());

const input = floatTensor(seededFloats(40, 8), [4, 10], true);
const predict = (modelId: string) => t.client.predict({ modelId, inputs: [input], rawOutput: false });

test("TensorFlow runs off the RPC thread", async () => {
  const engine = t.server.sessions.engine as WorkerEngine;
  assert.equal(typeof engine.workerThreadId, "function");
  assert.ok(engine.workerThreadId() > 0, "models live in a worker thread");
});

test("a crashed worker: models without a checkpoint are UNAVAILABLE, checkpointed ones reload on next use", async () => {
  await t.client.createModel({ modelId: "victim", spec: denseSpec(4) });
  await t.client.createModel({ modelId: "unsaved", spec: denseSpec(6) });
  const before = (await predict("victim")).outputs[0]?.floatValues;
  await t.client.checkpoint({ modelId: "victim" });
  const engine = t.server.sessions.engine as WorkerEngine;
  const oldThread = engine.workerThreadId();
  await engine.crashWorkerForTest();

  // Without a checkpoint the model's state died with the worker, and it says so.
  for (let i = 0; i < 2; i++) {
    await assert.rejects(predict("unsaved"), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.match(err.details, /device worker|no checkpoint to reload from/);
      return true;
    });
  }
  assert.equal(await t.client.health(), "SERVING");

  // The checkpointed model comes back transparently, on a new worker, with the same predictions.
  assert.deepEqual((await predict("victim")).outputs[0]?.floatValues, before);
  assert.notEqual(engine.workerThreadId(), oldThread, "a new worker was started");
  await t.client.createModel({ modelId: "survivor", spec: denseSpec(5) });
  assert.deepEqual((await predict("survivor")).outputs[0]?.shape, [4, 1]);
});
