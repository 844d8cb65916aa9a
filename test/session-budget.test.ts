// The memory budget: models beyond --max-sessions or --max-session-bytes push idle, checkpointed
// models out of device memory (least recently used first); an evicted model reloads on its next
// use with the same predictions; models whose state is not saved are never evicted, and when
// nothing can go, a new model gets RESOURCE_EXHAUSTED naming the limit.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { startTestServer } from "./helpers/server.js";
import { denseSpec, denseStackSpec } from "./helpers/specs.js";
import { floatTensor, seededFloats } from "./helpers/tensors.js";
import { collect, trainRequest } from "./helpers/training.js";

const input = floatTensor(seededFloats(40, 8), [4, 10], true);
// The classic model: 1,537 float32 weights, ~18 KB with Adam's slots.
const CLASSIC_BYTES = 1537 * 4 * 3;

const exhausted = (pattern: RegExp) => (err: grpc.ServiceError) => {
  assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, err.details);
  assert.match(err.details, pattern);
  return true;
};

test("over --max-sessions the least recently used checkpointed model leaves memory and reloads on use", async () => {
  const t = await startTestServer({ maxSessions: 2 });
  try {
    const predict = async (modelId: string) =>
      (await t.client.predict({ modelId, inputs: [input], rawOutput: false })).outputs[0]?.floatValues;
    const resident = async (modelId: string) => (await t.client.getModel({ modelId })).model?.resident;
    await t.client.createModel({ modelId: "a", spec: denseSpec(1) });
    await t.client.createModel({ modelId: "b", spec: denseSpec(2) });
    const a = await predict("a");
    const b = await predict("b");
    // Nothing is saved yet: nothing can be evicted.
    await assert.rejects(
      t.client.createModel({ modelId: "c", spec: denseSpec(3) }),
      exhausted(/maximum of 2 models in memory.*none can be evicted/),
    );
    await t.client.checkpoint({ modelId: "a" });
    await t.client.checkpoint({ modelId: "b" });
    await predict("a"); // b is now the least recently used
    await t.client.createModel({ modelId: "c", spec: denseSpec(3) });
    assert.equal(await resident("b"), false);
    assert.equal(await resident("a"), true);
    assert.equal((await t.client.listModels({})).models.length, 3, "an evicted model is still listed");
    // b comes back on use, exactly, and pushes out a (c has no checkpoint, so it stays).
    assert.deepEqual(await predict("b"), b);
    assert.equal(await resident("b"), true);
    assert.equal(await resident("a"), false);
    assert.equal(await resident("c"), true);
    assert.deepEqual(await predict("a"), a);
    assert.equal(await resident("b"), false);
  } finally {
    await t.close();
  }
});

test("a model changed since its checkpoint is not evicted; training it marks it unsaved", async () => {
  const t = await startTestServer({ maxSessions: 2 });
  try {
    await t.client.createModel({ modelId: "a", spec: denseSpec(1) });
    await t.client.checkpoint({ modelId: "a" });
    await collect(t.client, trainRequest("a", 64, { epochs: 1 }));
    await t.client.createModel({ modelId: "b", spec: denseSpec(2) });
    await assert.rejects(t.client.createModel({ modelId: "c", spec: denseSpec(3) }), exhausted(/none can be evicted/));
    // A checkpoint of the trained state makes it evictable again.
    await t.client.checkpoint({ modelId: "a" });
    await t.client.createModel({ modelId: "c", spec: denseSpec(3) });
    assert.equal((await t.client.getModel({ modelId: "a" })).model?.resident, false);
    // Training an evicted model reloads it first, then trains on.
    await t.client.deleteModel({ modelId: "c", deleteCheckpoints: false });
    const events = await collect(t.client, trainRequest("a", 64, { epochs: 1 }));
    assert.equal(events.at(-1)?.event?.$case, "completed");
  } finally {
    await t.close();
  }
});

test("--max-session-bytes evicts by bytes, and a model larger than the budget is refused outright", async () => {
  const t = await startTestServer({ maxSessionBytes: Math.floor(CLASSIC_BYTES * 1.5) });
  try {
    await t.client.createModel({ modelId: "a", spec: denseSpec(1) });
    await assert.rejects(
      t.client.createModel({ modelId: "b", spec: denseSpec(2) }),
      exhausted(/over the budget of \d+ \(--max-session-bytes\)/),
    );
    await t.client.checkpoint({ modelId: "a" });
    await t.client.createModel({ modelId: "b", spec: denseSpec(2) });
    assert.equal((await t.client.getModel({ modelId: "a" })).model?.resident, false);
    await assert.rejects(
      t.client.createModel({ modelId: "huge", spec: denseStackSpec([4096], 3) }),
      exhausted(/more than the whole budget/),
    );
    assert.equal(await t.client.health(), "SERVING");
  } finally {
    await t.close();
  }
});

test("a restore the budget refuses while its files are still being hashed is RESOURCE_EXHAUSTED, and the checkpoint stays good", async () => {
  const t = await startTestServer({ maxSessions: 1 });
  try {
    // weights.bin of ~1.5 MB: hashed in the background while the restore goes on.
    await t.client.createModel({ modelId: "src", spec: denseStackSpec([600, 600], 4) });
    const saved = (await t.client.checkpoint({ modelId: "src" })).checkpoint?.checkpointId;
    await t.client.deleteModel({ modelId: "src", deleteCheckpoints: false });
    // A model never checkpointed cannot be evicted, so the one session slot stays taken.
    await t.client.createModel({ modelId: "pinned", spec: denseSpec(1) });
    const restore = () =>
      t.client.restore({
        source: { $case: "checkpoint", checkpoint: { modelId: "src", checkpointId: "latest" } },
        targetModelId: "",
        resume: false,
      });
    await assert.rejects(restore(), exhausted(/none can be evicted/));
    await t.client.deleteModel({ modelId: "pinned", deleteCheckpoints: true });
    const res = await restore();
    assert.equal(res.checkpointId, saved);
    assert.deepEqual(res.warnings, [], "the refused restore did not mark the checkpoint corrupt");
  } finally {
    await t.close();
  }
});
