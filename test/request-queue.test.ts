// The device worker's order of waiting requests: arrival order, except Predicts piling up, which go
// newest first; nothing is ever moved across a request that is not a Predict.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Envelope } from "../src/compute/worker/protocol.js";
import { CONGESTED_AFTER_MS, MAX_PASSED_OVER_MS, RequestQueue } from "../src/compute/worker/request-queue.js";

const T0 = 1_000_000;
let nextId = 1;
const predict = (sentAt: number, deadline?: number): Envelope => ({
  op: "predict",
  model: 1,
  input: { dtype: "float32", shape: [1, 1], data: new Float32Array(1) },
  id: nextId++,
  sentAt,
  ...(deadline === undefined ? {} : { deadline }),
});
const setWeights = (sentAt: number): Envelope => ({ op: "setWeights", model: 1, weights: [], id: nextId++, sentAt });

function drain(queue: RequestQueue, now: number): number[] {
  const ids: number[] = [];
  for (let r = queue.take(now); r; r = queue.take(now)) ids.push(r.id);
  return ids;
}

test("Predicts that have not waited long run in arrival order", () => {
  const queue = new RequestQueue();
  const reqs = [predict(T0, T0 + 500), predict(T0 + 1, T0 + 500), predict(T0 + 2, T0 + 500)];
  for (const r of reqs) queue.push(r);
  assert.deepEqual(
    drain(queue, T0 + CONGESTED_AFTER_MS - 1),
    reqs.map((r) => r.id),
  );
});

test("Predicts piling up run newest first, up to the first request that is not a Predict", () => {
  const queue = new RequestQueue();
  const [a, b, c] = [predict(T0, T0 + 500), predict(T0 + 1, T0 + 500), predict(T0 + 2, T0 + 500)];
  const weights = setWeights(T0 + 3);
  const [d, e] = [predict(T0 + 4, T0 + 500), predict(T0 + 5, T0 + 500)];
  for (const r of [a, b, c, weights, d, e]) queue.push(r);
  const now = T0 + CONGESTED_AFTER_MS + 50;
  // c, b, a: newest first among the Predicts before the new weights; then the weights; then e, d.
  assert.deepEqual(
    drain(queue, now),
    [c, b, a, weights, e, d].map((r) => r?.id),
  );
});

test("a Predict without a deadline is not passed over for longer than the limit", () => {
  const queue = new RequestQueue();
  const old = predict(T0);
  const newer = predict(T0 + 5, T0 + 60_000);
  queue.push(old);
  queue.push(newer);
  assert.equal(queue.take(T0 + MAX_PASSED_OVER_MS)?.id, newer.id, "passed over while within the limit");
  queue.push(newer);
  assert.equal(queue.take(T0 + MAX_PASSED_OVER_MS + 1)?.id, old.id, "its turn once past the limit");
});

test('"arrival" keeps every request in arrival order however long they wait', () => {
  const queue = new RequestQueue("arrival");
  const reqs = [predict(T0, T0 + 500), predict(T0 + 1, T0 + 500), predict(T0 + 2, T0 + 500)];
  for (const r of reqs) queue.push(r);
  assert.deepEqual(
    drain(queue, T0 + 10_000),
    reqs.map((r) => r.id),
  );
});
