// Compute runs in a device worker thread: when it dies, only its models become UNAVAILABLE, the
// server keeps serving, a new worker takes new models, and checkpointed models come back by Restore.
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

test("a crashed worker makes its models UNAVAILABLE; the server and new models carry on; checkpoints restore", async () => {
  await t.client.createModel({ modelId: "victim", spec: denseSpec(4) });
  const before = (await predict("victim")).outputs[0]?.floatValues;
  await t.client.checkpoint({ modelId: "victim" });
  const engine = t.server.sessions.engine as WorkerEngine;
  const oldThread = engine.workerThreadId();
  await engine.crashWorkerForTest();

  await assert.rejects(predict("victim"), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.UNAVAILABLE);
    assert.match(err.details, /device worker stopped/);
    return true;
  });
  assert.equal(await t.client.health(), "SERVING");

  await t.client.createModel({ modelId: "survivor", spec: denseSpec(5) });
  assert.notEqual(engine.workerThreadId(), oldThread, "a new worker was started");
  assert.deepEqual((await predict("survivor")).outputs[0]?.shape, [4, 1]);

  await t.client.restore({
    source: { $case: "checkpoint", checkpoint: { modelId: "victim", checkpointId: "latest" } },
    targetModelId: "",
    resume: false,
  });
  assert.deepEqual((await predict("victim")).outputs[0]?.floatValues, before);
});
