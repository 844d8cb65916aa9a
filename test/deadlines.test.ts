// Predicts whose callers have stopped waiting are not run: a request still queued for the device
// (or for a batch) when its gRPC deadline passes, or when its client cancels it, is dropped, so that
// under overload the device spends its time on callers who still want an answer; Predicts the device
// cannot answer in time in arrival order are served newest first (unless the server is told to keep
// arrival order); and with a bound on the Predicts waiting for a device, more are refused at once.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import { tensorFromWire } from "../src/api/tensor-codec.js";
import type { ModelbayClient } from "../src/cli/client.js";
import { GRPCInferenceServiceClient, type ModelInferRequest } from "../src/gen/inference/grpc_predict_v2.js";
import { answeredWhenBehind, assertNewestFirst, assertOldestFirst } from "./helpers/backlog.js";
import { metricSum } from "./helpers/metrics.js";
import { startPredict } from "./helpers/predict-call.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { denseSpec, denseStackSpec } from "./helpers/specs.js";
import { floatTensor, seededFloats } from "./helpers/tensors.js";

// Two Dense(4096) layers over 4,000 rows: ~134 GFLOP, 0.7 s or more on this machine's two cores.
const SLOW_ROWS = 4000;
const DEADLINE_MS = 150;
const QUEUED = 12;

let t: TestServer;
before(async () => {
  t = await startTestServer({ metricsAddress: "127.0.0.1:0" });
  await t.client.createModel({ modelId: "slow", spec: denseStackSpec([4096, 4096]) });
  await t.client.createModel({ modelId: "small", spec: denseSpec(5) });
});
after(() => t.close());

/** A metric of this file's server, summed over the series whose labels include all of `labels`. */
const counter = (name: string, ...labels: string[]) => metricSum(t.server.metricsAddress, name, ...labels);

const oneRow = (seed: number) => floatTensor(seededFloats(10, seed), [1, 10], true);

const slowPredict = (client: ModelbayClient, seed: number, rows = SLOW_ROWS, deadline?: number) =>
  client.predict(
    {
      modelId: "slow",
      inputs: [floatTensor(seededFloats(rows * 10, seed), [rows, 10], true)],
      rawOutput: true,
    },
    deadline === undefined ? {} : { deadline },
  );

/** Starts a slow predict and gives it 20 ms to reach the device, so what is sent next queues behind it. */
async function occupyDevice(seed: number, client = t.client): Promise<{ slowMs: Promise<number> }> {
  const started = performance.now();
  const slowMs = slowPredict(client, seed).then(() => performance.now() - started);
  await new Promise((resolve) => setTimeout(resolve, 20));
  return { slowMs };
}

test("Predicts whose deadline passes while the device is busy are dropped unrun", async () => {
  const computedBefore = await counter("modelbay_device_compute_seconds_count", 'op="predict"');
  const expiredBefore = await counter("modelbay_expired_requests_total", 'queue="device"', 'op="predict"');

  const slow = await occupyDevice(3);
  const queued = await Promise.allSettled(
    Array.from({ length: QUEUED }, (_, i) =>
      t.client.predict(
        { modelId: "small", inputs: [oneRow(i)], rawOutput: true },
        { deadline: Date.now() + DEADLINE_MS },
      ),
    ),
  );
  const slowMs = await slow.slowMs;
  assert.ok(slowMs > 20 + DEADLINE_MS * 2, `the slow predict took ${slowMs.toFixed(0)} ms: too fast to queue anything`);
  for (const r of queued) {
    assert.equal(r.status, "rejected");
    assert.equal((r.reason as { code?: number }).code, status.DEADLINE_EXCEEDED);
  }

  // The worker answers a dropped request as soon as it reaches it, right after the slow one.
  const expired = async () =>
    (await counter("modelbay_expired_requests_total", 'queue="device"', 'op="predict"')) - expiredBefore;
  for (let i = 0; i < 50 && (await expired()) < QUEUED; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await expired(), QUEUED, "every queued request was dropped by the device worker");
  // Only the slow predict was computed.
  assert.equal((await counter("modelbay_device_compute_seconds_count", 'op="predict"')) - computedBefore, 1);

  // A request with a deadline it can meet still runs, and gets the right answer.
  const res = await t.client.predict(
    { modelId: "small", inputs: [oneRow(0)], rawOutput: true },
    { deadline: Date.now() + 10_000 },
  );
  const out = tensorFromWire(res.outputs[0] as never, "out", { maxTensorBytes: 1 << 20 });
  assert.deepEqual(out.shape, [1, 1]);
  assert.ok(Number.isFinite(out.data[0]));
});

test("a KServe ModelInfer still waiting for the device at its deadline is dropped unrun as well", async () => {
  type ModelInfer = (
    req: ModelInferRequest,
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    cb: (err: grpc.ServiceError | null) => void,
  ) => void;
  const kserve = new GRPCInferenceServiceClient(t.server.address, grpc.credentials.createInsecure()) as unknown as {
    modelInfer: ModelInfer;
    close(): void;
  };
  const inputName = (await t.client.getModel({ modelId: "small" })).model?.inputs[0]?.name ?? "";
  const expiredBefore = await counter("modelbay_expired_requests_total", 'queue="device"', 'op="predict"');
  const slow = await occupyDevice(6);
  const request: ModelInferRequest = {
    modelName: "small",
    modelVersion: "",
    id: "late",
    parameters: {},
    inputs: [
      {
        name: inputName,
        datatype: "FP32",
        shape: [1, 10],
        parameters: {},
        contents: { ...emptyContents(), fp32Contents: Array.from(seededFloats(10, 7)) },
      },
    ],
    outputs: [],
    rawInputContents: [],
  };
  const err = await new Promise<grpc.ServiceError | null>((resolve) =>
    kserve.modelInfer(request, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS }, resolve),
  );
  kserve.close();
  const slowMs = await slow.slowMs;
  assert.ok(slowMs > 20 + DEADLINE_MS * 2, `the slow predict took ${slowMs.toFixed(0)} ms: too fast to queue anything`);
  assert.equal(err?.code, status.DEADLINE_EXCEEDED);
  const expired = async () =>
    (await counter("modelbay_expired_requests_total", 'queue="device"', 'op="predict"')) - expiredBefore;
  for (let i = 0; i < 50 && (await expired()) < 1; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await expired(), 1);
});

const emptyContents = () => ({
  boolContents: [],
  intContents: [],
  int64Contents: [],
  uintContents: [],
  uint64Contents: [],
  fp32Contents: [],
  fp64Contents: [],
  bytesContents: [],
});

test("a Predict without a deadline waits for the device however long it is busy", async () => {
  const slow = await occupyDevice(4);
  const res = await t.client.predict({ modelId: "small", inputs: [oneRow(1)], rawOutput: true });
  assert.equal(res.outputs.length, 1);
  await slow.slowMs;
});

const BACKLOG = 6;
/** The Predicts answered in time, in order, when more wait on `client`'s server than it can answer in time. */
const answeredOn = (client: ModelbayClient) =>
  answeredWhenBehind({
    // A tenth of the slow predict: ~0.1 s each here.
    predict: (i, deadline) => slowPredict(client, i, SLOW_ROWS / 10, deadline),
    count: BACKLOG,
  });

test("Predicts the device cannot answer in time in arrival order are answered newest first", async () => {
  assertNewestFirst(await answeredOn(t.client), BACKLOG);
});

test("with --predict-order arrival they are answered in arrival order", async () => {
  const arrival = await startTestServer({ predictOrder: "arrival" });
  try {
    await arrival.client.createModel({ modelId: "slow", spec: denseStackSpec([4096, 4096]) });
    assertOldestFirst(await answeredOn(arrival.client));
  } finally {
    await arrival.close();
  }
});

test("a Predict whose client cancels it while the device is busy is dropped unrun", async () => {
  const computedBefore = await counter("modelbay_device_compute_seconds_count", 'op="predict"');
  const cancelledBefore = await counter("modelbay_cancelled_requests_total", 'queue="device"', 'op="predict"');
  const CANCEL_AFTER_MS = 50;
  const slow = await occupyDevice(8);
  const errors = await Promise.all(
    Array.from(
      { length: 4 },
      (_, i) =>
        new Promise<grpc.ServiceError | null>((resolve) => {
          const req = { modelId: "small", inputs: [oneRow(i)], rawOutput: true };
          const call = startPredict(t.client, req, {}, resolve);
          setTimeout(() => call.cancel(), CANCEL_AFTER_MS);
        }),
    ),
  );
  for (const err of errors) assert.equal(err?.code, status.CANCELLED);
  const slowMs = await slow.slowMs;
  assert.ok(
    slowMs > 20 + CANCEL_AFTER_MS * 2,
    `the slow predict took ${slowMs.toFixed(0)} ms: too fast to queue anything`,
  );
  const cancelled = async () =>
    (await counter("modelbay_cancelled_requests_total", 'queue="device"', 'op="predict"')) - cancelledBefore;
  for (let i = 0; i < 50 && (await cancelled()) < 4; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await cancelled(), 4, "every cancelled request was dropped by the device worker");
  assert.equal(
    (await counter("modelbay_device_compute_seconds_count", 'op="predict"')) - computedBefore,
    1,
    "only the slow predict was computed",
  );
});

test("with --max-queued-predicts, Predicts over the bound are refused at once and the rest are answered", async () => {
  const bounded = await startTestServer({ maxQueuedPredicts: 2, metricsAddress: "127.0.0.1:0" });
  const metric = (name: string, ...labels: string[]) => metricSum(bounded.server.metricsAddress, name, ...labels);
  try {
    await bounded.client.createModel({ modelId: "slow", spec: denseStackSpec([4096, 4096]) });
    await bounded.client.createModel({ modelId: "small", spec: denseSpec(5) });
    const slow = await occupyDevice(9, bounded.client);
    const settled: string[] = [];
    const calls = Array.from({ length: 3 }, (_, i) =>
      bounded.client.predict({ modelId: "small", inputs: [oneRow(i)], rawOutput: true }).then(
        () => settled.push("answered"),
        (err: { code?: number; details?: string }) => {
          settled.push("refused");
          assert.equal(err.code, status.UNAVAILABLE);
          assert.match(
            err.details ?? "",
            /device cpu:0 already has 2 Predicts waiting or running \(--max-queued-predicts 2\)/,
          );
        },
      ),
    );
    // Refused while the slow predict still holds the device: they did not wait for it.
    for (let i = 0; i < 50 && settled.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(settled, ["refused", "refused"]);
    assert.equal(await metric("modelbay_pending_predicts", 'device="cpu:0"'), 2);
    await Promise.all(calls);
    const slowMs = await slow.slowMs;
    assert.ok(slowMs > 100, `the slow predict took ${slowMs.toFixed(0)} ms: too fast to hold the device`);
    assert.deepEqual(settled, ["refused", "refused", "answered"]);
    assert.equal(await metric("modelbay_shed_requests_total", 'device="cpu:0"'), 2);
    assert.equal(await metric("modelbay_pending_predicts", 'device="cpu:0"'), 0);
    // With the device free again, Predicts are taken.
    await bounded.client.predict({ modelId: "small", inputs: [oneRow(5)], rawOutput: true });
  } finally {
    await bounded.close();
  }
});
