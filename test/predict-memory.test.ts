// Models with large activations keep memory bounded. A Predict of many rows runs in batches sized by
// the model's activations per row (src/compute/predict-batch.ts), not in batches of 8192 rows; a
// training batch too large for --max-train-step-bytes is refused before it runs. This file runs in
// its own process, so the peak RSS it reads is its own.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import type { ModelSpec } from "../src/gen/modelbay/v1/model.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { firstMismatch, floatTensor, inlineXY, seededFloats } from "./helpers/tensors.js";
import { collect, ofKind, trainRequest } from "./helpers/training.js";

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(() => t.close());

/** Two Conv2D of 64 filters over 32x32 RGB: 0.5 MB of layer outputs per row. */
function convSpec(): ModelSpec {
  const conv = (extra: object) => ({
    class_name: "Conv2D",
    config: { filters: 64, kernel_size: 3, padding: "same", ...extra },
  });
  const layers = [
    conv({ batch_input_shape: [null, 32, 32, 3] }),
    conv({}),
    { class_name: "GlobalAveragePooling2D", config: {} },
    { class_name: "Dense", config: { units: 1 } },
  ];
  const kerasJson = JSON.stringify({ class_name: "Sequential", config: { name: "conv", layers } });
  return { ...denseSpec(), topology: { $case: "kerasJson", kerasJson } };
}

test("a Predict of 4,000 images through a convolution stack stays within a bounded memory", async () => {
  await t.client.createModel({ modelId: "conv", spec: convSpec() });
  const rows = 4000;
  const pixels = seededFloats(rows * 32 * 32 * 3, 9);
  const predict = (values: Float32Array, n: number) =>
    t.client.predict({ modelId: "conv", inputs: [floatTensor(values, [n, 32, 32, 3], true)], rawOutput: true });
  // A first small call, so that what the model and TensorFlow take once is in the baseline.
  await predict(pixels.subarray(0, 3072 * 2), 2);
  const baseline = process.resourceUsage().maxRSS;
  const { outputs } = await predict(pixels, rows);
  const grewMiB = (process.resourceUsage().maxRSS - baseline) / 1024;
  // In batches of 8192 rows the layer outputs alone are 2 GB (measured: +2.4 GB); the input is 49 MB.
  assert.ok(grewMiB < 900, `the peak RSS grew by ${grewMiB.toFixed(0)} MiB`);
  process.stderr.write(`predict of ${rows} conv rows: peak RSS +${grewMiB.toFixed(0)} MiB\n`);

  // The batching does not change the answer: rows predicted alone give the same values.
  const floats = (raw: Uint8Array | undefined) => new Float32Array(new Uint8Array(raw ?? []).buffer);
  const all = floats(outputs[0]?.rawContents);
  for (const row of [0, 1234, rows - 1]) {
    const alone = await predict(pixels.subarray(row * 3072, (row + 1) * 3072), 1);
    const value = floats(alone.outputs[0]?.rawContents);
    assert.equal(firstMismatch(all.subarray(row, row + 1), value, 1e-5, 1e-4), undefined, `row ${row}`);
  }
});

test("a training batch whose activations would not fit is refused, naming the batch that does", async () => {
  await t.client.createModel({ modelId: "conv-train", spec: convSpec() });
  const rows = 1000;
  const x = floatTensor(seededFloats(rows * 3072, 4), [rows, 32, 32, 3], true);
  const y = floatTensor(seededFloats(rows, 5), [rows, 1], true);
  const train = (batchSize: number, n = rows) =>
    collect(t.client, {
      ...trainRequest("conv-train", n, { epochs: 1, batchSize }),
      data: n === rows ? inlineXY(x, y) : inlineXY(slice(x, n), slice(y, n)),
    });
  // 131,137 values of layer outputs a row, about 4.7 MB a row in a step: 1,000 rows would take
  // ~4.7 GB against the default 4 GiB (measured: ~8.4x the outputs, so ~4.4 GB).
  await assert.rejects(train(1000), (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, err.details);
    assert.match(err.details, /training step of 1000 rows .*--max-train-step-bytes\); at most 909 rows fit/);
    return true;
  });
  const events = await train(32, 64);
  assert.equal(ofKind(events, "completed").length, 1, JSON.stringify(ofKind(events, "failed")));
});

/** The first `n` rows of a raw tensor. */
function slice(tensor: ReturnType<typeof floatTensor>, n: number) {
  const rowBytes = tensor.rawContents.byteLength / (tensor.shape[0] ?? 1);
  return { ...tensor, shape: [n, ...tensor.shape.slice(1)], rawContents: tensor.rawContents.subarray(0, n * rowBytes) };
}
