// Dynamic batching: concurrent 1-row Predicts on one model are served by a few model calls, and
// every caller gets exactly its own rows back.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { tensorFromWire } from "../src/api/tensor-codec.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { firstMismatch, floatTensor, seededFloats } from "./helpers/tensors.js";

const ROWS = 24;
let t: TestServer;
before(async () => {
  t = await startTestServer({ batchMaxRows: 64, batchDelayMs: 20, metricsAddress: "127.0.0.1:0" });
});
after(() => t.close());

const predictCalls = async () => {
  const text = await (await fetch(`http://${t.server.metricsAddress}/metrics`)).text();
  const line = text
    .split("\n")
    .find((l) => l.startsWith("modelbay_device_queue_seconds_count") && l.includes('op="predict"'));
  return Number(line?.split(" ").pop() ?? 0);
};

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
