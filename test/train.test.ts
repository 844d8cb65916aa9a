// Train over real gRPC: the event stream, checkpoints by policy, determinism, exact resume from a
// checkpoint, cancellation, and bad requests refused before any step runs.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { floatTensor, seededFloats } from "./helpers/tensors.js";
import { checkpointPolicy, collect, ofKind, trainRequest } from "./helpers/training.js";

let t: TestServer;
before(async () => {
  t = await startTestServer({ maxBatchSize: 1024 });
});
after(() => t.close());

const probe = floatTensor(seededFloats(50 * 10, 77), [50, 10], true);
async function predictions(modelId: string): Promise<number[]> {
  const res = await t.client.predict({ modelId, inputs: [probe], rawOutput: false });
  return res.outputs[0]?.floatValues ?? [];
}

test("Train streams started, progress, epoch ends, checkpoints and completed, in seq order", async () => {
  await t.client.createModel({ modelId: "events", spec: denseSpec(1) });
  const events = await collect(
    t.client,
    trainRequest("events", 2000, {
      epochs: 3,
      checkpointPolicy: checkpointPolicy({ everyEpochs: 1 }),
    }),
  );
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
  );
  assert.equal(events[0]?.event?.$case, "started");
  const started = ofKind(events, "started")[0]?.started;
  assert.equal(started?.totalSteps, 3 * Math.ceil(2000 / 32));
  assert.equal(events.at(-1)?.event?.$case, "completed");
  const epochs = ofKind(events, "epochEnd").map((e) => e.epochEnd);
  assert.deepEqual(
    epochs.map((e) => e.epoch),
    [1, 2, 3],
  );
  assert.ok(
    (epochs[2]?.loss ?? 1) < (epochs[0]?.loss ?? 0),
    `loss should fall: ${epochs.map((e) => e.loss).join(", ")}`,
  );
  assert.deepEqual(
    ofKind(events, "checkpointSaved").map((e) => e.checkpointSaved.reason),
    ["epoch", "epoch", "epoch"],
  );
  const progress = ofKind(events, "progress").map((e) => e.progress);
  assert.ok(progress.length > 0);
  assert.ok(progress.every((p) => p.samplesPerSecond > 0 && p.percent > 0 && p.percent <= 100));
  assert.equal(progress.at(-1)?.percent, 100);
  const { checkpoints } = await t.client.listCheckpoints({ modelId: "events" });
  assert.deepEqual(
    checkpoints.map((c) => c.epoch),
    [3, 2, 1],
  );
  assert.equal(checkpoints[0]?.latest, true);
  assert.ok((checkpoints[0]?.metrics.loss ?? Number.NaN) === epochs[2]?.loss);
});

test("the same seed, spec and data give identical weights", async () => {
  for (const id of ["twin-a", "twin-b"]) {
    await t.client.createModel({ modelId: id, spec: denseSpec(9) });
    await collect(t.client, trainRequest(id, 600, { epochs: 2, seed: 21 }));
  }
  assert.deepEqual(await predictions("twin-a"), await predictions("twin-b"));
});

test("a run interrupted after epoch 2 and resumed from its checkpoint ends with the same weights", async () => {
  await t.client.createModel({ modelId: "whole", spec: denseSpec(4) });
  await collect(t.client, trainRequest("whole", 700, { epochs: 4, seed: 8 }));

  await t.client.createModel({ modelId: "part", spec: denseSpec(4) });
  const policy = checkpointPolicy({ everyEpochs: 1 });
  await collect(t.client, trainRequest("part", 700, { epochs: 2, seed: 8, checkpointPolicy: policy }));
  await t.client.deleteModel({ modelId: "part", deleteCheckpoints: false });
  const restored = await t.client.restore({
    source: { $case: "checkpoint", checkpoint: { modelId: "part", checkpointId: "latest" } },
    targetModelId: "",
    resume: true,
  });
  assert.equal(restored.checkpointId, "ckpt-000002");
  const resumed = await collect(t.client, trainRequest("part", 700, { epochs: 4, seed: 8 }));
  assert.deepEqual(
    ofKind(resumed, "epochEnd").map((e) => e.epochEnd.epoch),
    [3, 4],
  );
  assert.deepEqual(await predictions("part"), await predictions("whole"));
});

test("a checkpoint taken mid-epoch by step resumes exactly too", async () => {
  await t.client.createModel({ modelId: "steps-whole", spec: denseSpec(6) });
  await collect(t.client, trainRequest("steps-whole", 640, { epochs: 2, seed: 3 }));
  await t.client.createModel({ modelId: "steps-part", spec: denseSpec(6) });
  // 20 steps per epoch; a checkpoint every 7 steps, the last mid-epoch at step 35.
  const policy = checkpointPolicy({ everySteps: 7 });
  const events = await collect(
    t.client,
    trainRequest("steps-part", 640, { epochs: 2, seed: 3, checkpointPolicy: policy }),
  );
  assert.equal(ofKind(events, "checkpointSaved").length, 5);
  const { checkpoints } = await t.client.listCheckpoints({ modelId: "steps-part" });
  assert.equal(checkpoints[0]?.step, 35);
  await t.client.restore({
    source: { $case: "checkpoint", checkpoint: { modelId: "steps-part", checkpointId: "latest" } },
    targetModelId: "steps-resumed",
    resume: true,
  });
  await collect(t.client, trainRequest("steps-resumed", 640, { epochs: 2, seed: 3 }));
  assert.deepEqual(await predictions("steps-resumed"), await predictions("steps-whole"));
});

test("cancelling the stream cancels the job, and the model can train again", async () => {
  await t.client.createModel({ modelId: "cancel", spec: denseSpec(2) });
  for await (const e of t.client.train(trainRequest("cancel", 20000, { epochs: 50, batchSize: 8 }))) {
    if (e.event?.$case === "progress") break;
  }
  // The job stops at its next chunk boundary; a new Train is then accepted.
  let accepted = false;
  for (let i = 0; i < 50 && !accepted; i++) {
    try {
      await collect(t.client, trainRequest("cancel", 100, { epochs: 1 }));
      accepted = true;
    } catch (err) {
      assert.equal((err as grpc.ServiceError).code, grpc.status.FAILED_PRECONDITION);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  assert.ok(accepted, "the cancelled job never released the model");
});

test("a NaN loss fails the job with a clear event and keeps earlier checkpoints", async () => {
  await t.client.createModel({ modelId: "nan", spec: denseSpec(2) });
  await t.client.checkpoint({ modelId: "nan" });
  const req = trainRequest("nan", 64, { epochs: 1 });
  if (req.data?.source?.$case === "inline" && req.data.source.inline.y) {
    const y = new Float32Array(64).fill(Number.NaN);
    req.data.source.inline.y = floatTensor(y, [64, 1], true);
  }
  const events = await collect(t.client, req);
  const failed = ofKind(events, "failed")[0]?.failed;
  assert.equal(failed?.code, grpc.status.FAILED_PRECONDITION);
  assert.match(failed?.message ?? "", /the loss became NaN at epoch 1/);
  const { checkpoints } = await t.client.listCheckpoints({ modelId: "nan" });
  assert.equal(checkpoints.length, 1);
});

const badRequests: {
  name: string;
  change: (r: ReturnType<typeof trainRequest>) => void;
  details: RegExp;
  code?: grpc.status;
}[] = [
  {
    name: "epochs 0",
    change: (r) => {
      r.epochs = 0;
    },
    details: /^epochs: must be positive, got 0/,
  },
  {
    name: "batch size 0",
    change: (r) => {
      r.batchSize = 0;
    },
    details: /^batch_size: must be positive, got 0/,
  },
  {
    name: "batch size over the maximum",
    change: (r) => {
      r.batchSize = 4096;
    },
    details: /^batch_size: 4096 exceeds the server's maximum of 1024/,
  },
  {
    name: "x and y row counts that differ",
    change: (r) => {
      if (r.data?.source?.$case === "inline") r.data.source.inline.y = floatTensor(new Float32Array(99), [99, 1], true);
    },
    details: /^data: x has 100 rows but y has 99/,
  },
  {
    name: "labels of the wrong shape for the loss",
    change: (r) => {
      if (r.data?.source?.$case === "inline")
        r.data.source.inline.y = floatTensor(new Float32Array(200), [100, 2], true);
    },
    details: /^data\.y: labels of shape \[100, 2\] do not fit loss mean_squared_error/,
  },
  {
    name: "validation split of 1",
    change: (r) => {
      r.validationSplit = 1;
    },
    details: /^validation_split: must be in \[0, 1\)/,
  },
  {
    name: "no data",
    change: (r) => {
      delete r.data;
    },
    details: /^data: is required/,
  },
  {
    name: "an unknown model",
    change: (r) => {
      r.modelId = "ghost";
    },
    details: /model "ghost" not found/,
    code: grpc.status.NOT_FOUND,
  },
];

for (const c of badRequests) {
  test(`Train with ${c.name} is refused before any step`, async () => {
    await t.client.createModel({ modelId: "strict", spec: denseSpec(1) }).catch(() => undefined);
    const req = trainRequest("strict", 100);
    c.change(req);
    await assert.rejects(collect(t.client, req), (err: grpc.ServiceError) => {
      assert.equal(err.code, c.code ?? grpc.status.INVALID_ARGUMENT, err.details);
      assert.match(err.details, c.details);
      return true;
    });
    assert.equal(await t.client.health(), "SERVING");
  });
}

test("the server answers health while a job trains", async () => {
  await t.client.createModel({ modelId: "busy", spec: denseSpec(2) });
  const stream = t.client.train(trainRequest("busy", 20000, { epochs: 50, batchSize: 8 }));
  const first = await stream.next();
  assert.equal(first.value?.event?.$case, "started");
  // A deadline turns a starved event loop into a failure instead of a long wait.
  for (let i = 0; i < 3; i++) {
    assert.equal(await t.client.health("", { deadline: Date.now() + 2000 }), "SERVING");
  }
  const status = await t.client.getModel({ modelId: "busy" });
  assert.equal(status.model?.modelId, "busy");
  await stream.return(undefined);
});

test("metrics and validation metrics are reported, and accuracy rises on a learnable task", async () => {
  const spec = denseSpec(5);
  if (spec.topology?.$case === "sequential") {
    spec.topology.sequential.layers = [
      { name: "", kind: { $case: "dense", dense: { units: 32, activation: 1 } } },
      { name: "", kind: { $case: "dense", dense: { units: 3, activation: 4 } } }, // softmax
    ];
  }
  if (spec.compile) {
    spec.compile.loss = 5; // sparse categorical crossentropy
    spec.compile.metrics = [3]; // accuracy
    if (spec.compile.optimizer) spec.compile.optimizer.learningRate = 0.01;
  }
  await t.client.createModel({ modelId: "classes", spec });
  const rows = 900;
  const x = seededFloats(rows * 10, 12);
  const labels = new Int32Array(rows).map((_, r) =>
    (x[r * 10] as number) > 0.3 ? 2 : (x[r * 10] as number) > -0.3 ? 1 : 0,
  );
  const req = trainRequest("classes", rows, { epochs: 8, batchSize: 30, validationSplit: 0.2 });
  if (req.data?.source?.$case === "inline") {
    req.data.source.inline.x = floatTensor(x, [rows, 10], true);
    req.data.source.inline.y = {
      ...floatTensor(new Float32Array(0), [rows]),
      dtype: 2,
      int32Values: Array.from(labels),
    };
  }
  const events = await collect(t.client, req);
  const epochs = ofKind(events, "epochEnd").map((e) => e.epochEnd);
  assert.equal(epochs.length, 8);
  assert.deepEqual(Object.keys(epochs[0]?.metrics ?? {}).sort(), ["accuracy", "val_accuracy", "val_loss"]);
  assert.ok(
    (epochs[7]?.metrics.val_accuracy ?? 0) > 0.8,
    `val_accuracy ${epochs.map((e) => e.metrics.val_accuracy).join(", ")}`,
  );
  assert.ok((epochs[7]?.metrics.accuracy ?? 0) > (epochs[0]?.metrics.accuracy ?? 1));
  const completed = ofKind(events, "completed")[0]?.completed;
  assert.equal(completed?.metrics.val_accuracy, epochs[7]?.metrics.val_accuracy);
});

test("early stopping ends the job after `patience` epochs without improvement and restores the best weights", async () => {
  // min_delta so large that only the first epoch counts as an improvement.
  const earlyStopping = { monitor: "loss", patience: 2, minDelta: 1000, restoreBestWeights: true };
  await t.client.createModel({ modelId: "early", spec: denseSpec(13) });
  const events = await collect(t.client, trainRequest("early", 640, { epochs: 10, seed: 4, earlyStopping }));
  const stopped = ofKind(events, "earlyStopped")[0]?.earlyStopped;
  assert.equal(stopped?.epoch, 3);
  assert.equal(stopped?.monitor, "loss");
  assert.equal(ofKind(events, "completed")[0]?.completed.epochs, 3);
  assert.equal(ofKind(events, "epochEnd").length, 3);
  // The best weights are those after epoch 1: the same as a twin trained for one epoch.
  await t.client.createModel({ modelId: "early-twin", spec: denseSpec(13) });
  await collect(t.client, trainRequest("early-twin", 640, { epochs: 1, seed: 4 }));
  assert.deepEqual(await predictions("early"), await predictions("early-twin"));
});
