// Retention keeps the last N, the best K by a metric and one per H hours; never the latest or a
// checkpoint being read; and Train applies it after each save.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { checkpointsToDelete, type RetentionCandidate } from "../src/checkpoints/retention.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { floatTensor } from "./helpers/tensors.js";
import { checkpointPolicy, collect, trainRequest } from "./helpers/training.js";

const hour = 3_600_000;
// Newest first: ckpt-6 .. ckpt-1, one per half hour, val_loss lowest at ckpt-2.
const candidates: RetentionCandidate[] = [6, 5, 4, 3, 2, 1].map((n) => ({
  id: `ckpt-00000${n}`,
  createTime: new Date(n * (hour / 2)),
  metrics: { val_loss: n === 2 ? 0.1 : 1 + n / 10, loss: 1 },
}));
const none = { keepLast: 0, keepBest: 0, bestMetric: "", keepEveryHours: 0 };

test("an empty policy keeps everything", () => {
  assert.deepEqual(checkpointsToDelete(candidates, none, new Set()), []);
});

test("keep_last keeps the newest N", () => {
  assert.deepEqual(checkpointsToDelete(candidates, { ...none, keepLast: 2 }, new Set()), [
    "ckpt-000004",
    "ckpt-000003",
    "ckpt-000002",
    "ckpt-000001",
  ]);
});

test("keep_best keeps the lowest values of the metric, with keep_last", () => {
  assert.deepEqual(
    checkpointsToDelete(candidates, { ...none, keepLast: 1, keepBest: 1, bestMetric: "val_loss" }, new Set()),
    ["ckpt-000005", "ckpt-000004", "ckpt-000003", "ckpt-000001"],
  );
});

test("keep_every_hours keeps the oldest of each window", () => {
  // Times 0.5h..3h from the first at 0.5h: windows [0.5,1.5) [1.5,2.5) [2.5,3.5) -> ckpt-1, ckpt-3, ckpt-5.
  assert.deepEqual(checkpointsToDelete(candidates, { ...none, keepEveryHours: 1 }, new Set()), [
    "ckpt-000006",
    "ckpt-000004",
    "ckpt-000002",
  ]);
});

test("protected checkpoints (latest, being read) are never chosen", () => {
  const doomed = checkpointsToDelete(candidates, { ...none, keepLast: 1 }, new Set(["ckpt-000001", "ckpt-000003"]));
  assert.ok(!doomed.includes("ckpt-000001") && !doomed.includes("ckpt-000003"));
});

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(() => t.close());

test("Train applies the retention policy after each save", async () => {
  await t.client.createModel({ modelId: "kept", spec: denseSpec(7) });
  const retention = { keepLast: 2, keepBest: 1, bestMetric: "loss", keepEveryHours: 0 };
  const policy = checkpointPolicy({ everyEpochs: 1, retention });
  // Three epochs on the task, then three on targets scaled by 10: later losses are much worse, so
  // the best checkpoint is an old one that only keep_best can keep.
  const first = await collect(t.client, trainRequest("kept", 320, { epochs: 3, checkpointPolicy: policy }));
  const harder = trainRequest("kept", 320, { epochs: 3, checkpointPolicy: policy });
  if (harder.data?.source?.$case === "inline" && harder.data.source.inline.y) {
    const y = new Float32Array(harder.data.source.inline.y.rawContents.buffer.slice(0)).slice(-320);
    harder.data.source.inline.y = floatTensor(
      y.map((v) => v * 10),
      [320, 1],
      true,
    );
  }
  const second = await collect(t.client, harder);
  const losses = [...first, ...second].flatMap((e) => (e.event?.$case === "epochEnd" ? [e.event.epochEnd.loss] : []));
  const best = losses.indexOf(Math.min(...losses)) + 1;
  assert.ok(best <= 3, `losses ${losses.join(", ")}`);
  const { checkpoints } = await t.client.listCheckpoints({ modelId: "kept" });
  assert.deepEqual(
    checkpoints.map((c) => c.checkpointId),
    ["ckpt-000006", "ckpt-000005", `ckpt-00000${best}`],
  );
  assert.equal(checkpoints[0]?.latest, true);
});
