// Observability over real calls: a server span per RPC (continuing the caller's traceparent) with
// child spans for compute, and a Prometheus /metrics endpoint whose counters move with the calls.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { PredictStreamResponse } from "../src/gen/modelbay/v1/model_service.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { floatTensor, seededFloats } from "./helpers/tensors.js";
import { checkpointPolicy, collect, trainRequest } from "./helpers/training.js";

const spans = new InMemorySpanExporter();
let t: TestServer;
before(async () => {
  t = await startTestServer({ metricsAddress: "127.0.0.1:0", spanExporter: spans });
});
after(() => t.close());

const input = floatTensor(seededFloats(40, 8), [4, 10], true);
const scrape = async () => (await fetch(`http://${t.server.metricsAddress}/metrics`)).text();
/** The sample of `name` whose labels include all of `labels` (in any order); NaN when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split("\n")) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return Number.NaN;
}
/** Finished spans called `name`; waits briefly, as a server ends a span just after its last reply. */
const byName = async (name: string) => {
  for (let i = 0; ; i++) {
    await t.server.flushSpans();
    const found = spans.getFinishedSpans().filter((s) => s.name === name);
    if (found.length > 0 || i === 40) return found;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

test("/metrics: request counts, latency, device queue time, checkpoints and sessions move with the calls", async () => {
  await t.client.createModel({ modelId: "m", spec: denseSpec(1) });
  const before = await scrape();
  const predictsBefore =
    sample(before, "modelbay_rpc_requests_total", { method: "Predict", model: "m", code: "0" }) || 0;
  for (let i = 0; i < 3; i++) await t.client.predict({ modelId: "m", inputs: [input], rawOutput: false });
  await assert.rejects(t.client.predict({ modelId: "nope", inputs: [input], rawOutput: false }));
  await collect(
    t.client,
    trainRequest("m", 128, {
      epochs: 2,
      checkpointPolicy: checkpointPolicy({ everyEpochs: 1 }),
    }),
  );
  const text = await scrape();
  assert.equal(
    sample(text, "modelbay_rpc_requests_total", { method: "Predict", model: "m", code: "0" }) - predictsBefore,
    3,
  );
  assert.equal(
    sample(text, "modelbay_rpc_requests_total", { method: "Predict", code: "5" }),
    1,
    "the NOT_FOUND call is counted by its code",
  );
  assert.ok(sample(text, "modelbay_rpc_duration_seconds_count", { method: "Predict", model: "m" }) >= 3);
  assert.ok(sample(text, "modelbay_device_queue_seconds_count", { op: "predict" }) >= 3);
  assert.ok(sample(text, "modelbay_device_compute_seconds_count", { op: "runBatches" }) >= 1);
  assert.equal(sample(text, "modelbay_checkpoint_write_seconds_count", { model: "m" }), 2);
  assert.ok(sample(text, "modelbay_checkpoint_written_bytes_total", { model: "m" }) > 18_000);
  assert.ok(sample(text, "modelbay_training_samples_per_second", { model: "m" }) > 0);
  assert.equal(sample(text, "modelbay_sessions_loaded"), 1);
  assert.ok(sample(text, "modelbay_session_memory_bytes") >= 1537 * 4);
  assert.equal((await fetch(`http://${t.server.metricsAddress}/other`)).status, 404);
});

test("spans: one per RPC, with compute spans under it, continuing the caller's trace", async () => {
  spans.reset();
  await t.client.createModel({ modelId: "s", spec: denseSpec(2) });
  await collect(
    t.client,
    trainRequest("s", 64, {
      epochs: 2,
      checkpointPolicy: checkpointPolicy({ everyEpochs: 1 }),
    }),
  );
  const [train] = (await byName("Train")).filter((x) => x.attributes["modelbay.model_id"] === "s");
  assert.ok(train, "a Train span");
  const epochs = (await byName("train epoch")).filter((e) => e.attributes["modelbay.model_id"] === "s");
  assert.equal(epochs.length, 2);
  for (const e of epochs) assert.equal(parentOf(e), train.spanContext().spanId);
  const writes = (await byName("checkpoint write")).filter((w) => w.attributes["modelbay.model_id"] === "s");
  assert.equal(writes.length, 2);
  for (const w of writes) assert.equal(w.spanContext().traceId, train.spanContext().traceId);

  // A caller's W3C trace context is continued.
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const callerSpan = "00f067aa0ba902b7";
  const metadata = new grpc.Metadata();
  metadata.set("traceparent", `00-${traceId}-${callerSpan}-01`);
  const call = t.client.raw.predictStream(
    {
      modelId: "s",
      source: { $case: "rows", rows: floatTensor(seededFloats(1000, 3), [100, 10], true) },
      chunkRows: 25,
      startOffset: 0,
      rawOutput: true,
    },
    metadata,
  );
  for await (const _ of call as AsyncIterable<PredictStreamResponse>) {
  }
  const [stream] = await byName("PredictStream");
  assert.ok(stream);
  assert.equal(stream.spanContext().traceId, traceId);
  assert.equal(parentOf(stream), callerSpan);
  const chunks = (await byName("predict chunk")).filter((c) => parentOf(c) === stream.spanContext().spanId);
  assert.equal(chunks.length, 4);

  await t.client.restore({
    source: { $case: "checkpoint", checkpoint: { modelId: "s", checkpointId: "latest" } },
    targetModelId: "s2",
    resume: false,
  });
  const [restoreRpc] = await byName("Restore");
  const [restore] = await byName("restore");
  assert.ok(restoreRpc && restore);
  assert.equal(parentOf(restore), restoreRpc.spanContext().spanId);
});
