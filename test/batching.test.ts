// Dynamic batching: concurrent 1-row Predicts on one model are served by a few model calls, and
// every caller gets exactly its own rows back.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { tensorFromWire } from "../src/api/tensor-codec.js";
import type { TensorData } from "../src/compute/tensor-data.js";
import { Code } from "../src/errors.js";
import { PredictBatcher } from "../src/sessions/predict-batcher.js";
import { metricSum } from "./helpers/metrics.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { firstMismatch, floatTensor, seededFloats } from "./helpers/tensors.js";

const ROWS = 24;
let t: TestServer;
before(async () => {
  t = await startTestServer({ batchMaxRows: 64, batchDelayMs: 20, metricsAddress: "127.0.0.1:0" });
});
after(() => t.close());

const predictCalls = () => metricSum(t.server.metricsAddress, "modelbay_device_queue_seconds_count", 'op="predict"');

test("concurrent small Predicts share model calls and each gets its own rows", async () => {
  await t.client.createModel({ modelId: "m", spec: denseSpec(3) });
  const x = seededFloats(ROWS * 10, 12);
  const all = await t.client.predict({ modelId: "m", inputs: [floatTensor(x, [ROWS, 10], true)], rawOutput: true });
  const reference = tensorFromWire(all.outputs[0] as never, "all", { maxTensorBytes: 1 << 20 }).data;
  const before = await predictCalls();
  const outputs = await Promise.all(
    Array.from({ length: ROWS }, async (_, i) => {
      const res = await t.client.predict({
        modelId: "m",
        inputs: [floatTensor(x.slice(i * 10, i * 10 + 10), [1, 10], true)],
        rawOutput: true,
      });
      return tensorFromWire(res.outputs[0] as never, "one", { maxTensorBytes: 1 << 20 });
    }),
  );
  const calls = (await predictCalls()) - before;
  for (const [i, out] of outputs.entries()) {
    assert.deepEqual(out.shape, [1, 1]);
    const mismatch = firstMismatch(out.data, reference.subarray(i, i + 1), 1e-6, 1e-5);
    assert.equal(mismatch, undefined, `row ${i}: ${mismatch}`);
  }
  assert.ok(calls >= 1 && calls <= 4, `${ROWS} requests took ${calls} model calls`);
});

/** A batch's caller is answered before the batcher moves on: this lets it move on. */
const batchEnded = () => new Promise((resolve) => setImmediate(resolve));

test("a request whose deadline passes while it waits for a batch is answered and left out of the batch", {
  timeout: 10_000,
}, async () => {
  // The model call is held open by the test, so requests gather behind it as they do behind a busy device.
  const calls: { input: readonly TensorData[]; deadline: number | undefined; finish: () => void }[] = [];
  let expired = 0;
  const batcher = new PredictBatcher(
    (input, { deadline }) =>
      new Promise((resolve) => calls.push({ input, deadline, finish: () => resolve([...input]) })),
    { maxBatchRows: 64, maxDelayMs: 0 },
    () => expired++,
  );
  const row = (v: number): TensorData[] => [{ dtype: "float32", shape: [1, 2], data: new Float32Array([v, v]) }];
  const first = batcher.submit(row(1));
  const now = Date.now();
  const late = batcher.submit(row(2), { deadline: now + 30 });
  const inTime = batcher.submit(row(3), { deadline: now + 60_000 });
  const later = batcher.submit(row(4), { deadline: now + 120_000 });
  assert.equal(calls.length, 1, "the others wait for the running batch");
  await new Promise((resolve) => setTimeout(resolve, 60));
  calls[0]?.finish();
  await first;
  await assert.rejects(late, (err: { code?: number }) => err.code === Code.DEADLINE_EXCEEDED);
  assert.equal(expired, 1);
  assert.equal(calls.length, 2);
  assert.deepEqual(Array.from(calls[1]?.input[0]?.data ?? []), [3, 3, 4, 4], "the late request is not in the batch");
  assert.equal(calls[1]?.deadline, now + 120_000, "the batch is wanted until its last member's deadline");
  calls[1]?.finish();
  assert.deepEqual(Array.from((await inTime)[0]?.data ?? []), [3, 3]);
  assert.deepEqual(Array.from((await later)[0]?.data ?? []), [4, 4]);

  // One member without a deadline keeps the batch wanted whatever the others' deadlines.
  await batchEnded();
  const busy = batcher.submit(row(5));
  const withDeadline = batcher.submit(row(6), { deadline: Date.now() + 60_000 });
  const without = batcher.submit(row(7));
  calls[2]?.finish();
  await busy;
  await batchEnded();
  assert.equal(calls.length, 4);
  assert.equal(calls[3]?.deadline, undefined);
  calls[3]?.finish();
  await Promise.all([withDeadline, without]);
});

/** A caller's cancel, as a call context gives it: `cancel()` calls what registered. */
function cancellable() {
  const listeners: (() => void)[] = [];
  return {
    onCancel: (listener: () => void) => void listeners.push(listener),
    cancel: () => {
      for (const listener of listeners) listener();
    },
  };
}

test("a request whose caller cancels while it waits for a batch is answered at once and left out", {
  timeout: 10_000,
}, async () => {
  const calls: { input: readonly TensorData[]; cancelled: boolean; finish: () => void }[] = [];
  const dropped: string[] = [];
  const batcher = new PredictBatcher(
    (input, wait) =>
      new Promise((resolve) => {
        const call = { input, cancelled: false, finish: () => resolve([...input]) };
        wait.onCancel?.(() => {
          call.cancelled = true;
        });
        calls.push(call);
      }),
    { maxBatchRows: 64, maxDelayMs: 0 },
    (reason) => dropped.push(reason),
  );
  const row = (v: number): TensorData[] => [{ dtype: "float32", shape: [1, 2], data: new Float32Array([v, v]) }];
  const first = batcher.submit(row(1));
  const [a, b, c] = [cancellable(), cancellable(), cancellable()];
  const gone = batcher.submit(row(2), a);
  const stays = batcher.submit(row(3), b);
  const alsoStays = batcher.submit(row(4), c);
  a.cancel();
  await assert.rejects(gone, (err: { code?: number }) => err.code === Code.CANCELLED);
  assert.deepEqual(dropped, ["cancelled"]);
  calls[0]?.finish();
  await first;
  await batchEnded();
  assert.equal(calls.length, 2);
  assert.deepEqual(
    Array.from(calls[1]?.input[0]?.data ?? []),
    [3, 3, 4, 4],
    "the cancelled request is not in the batch",
  );
  // The batch's own caller waits while any member does: it cancels once both have.
  b.cancel();
  assert.equal(calls[1]?.cancelled, false, "one member still waits");
  c.cancel();
  assert.equal(calls[1]?.cancelled, true, "every member has cancelled");
  assert.deepEqual(dropped, ["cancelled"], "a batch under way is not counted as dropped here");
  calls[1]?.finish();
  await Promise.all([stays, alsoStays]);
  await batchEnded();

  // A member that cannot cancel (no onCancel) keeps the batch wanted.
  const busy = batcher.submit(row(5));
  const d = cancellable();
  const withCancel = batcher.submit(row(6), d);
  const without = batcher.submit(row(7));
  calls[2]?.finish();
  await busy;
  d.cancel();
  await assert.rejects(withCancel, (err: { code?: number }) => err.code === Code.CANCELLED);
  await batchEnded();
  assert.equal(calls.length, 4);
  assert.deepEqual(Array.from(calls[3]?.input[0]?.data ?? []), [7, 7]);
  calls[3]?.finish();
  await without;
});
