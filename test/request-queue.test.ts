// The device worker's order of waiting requests: arrival order, except Predicts with deadlines
// piling up, which go newest first; nothing is ever moved across a request that is not a Predict.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Envelope } from "../src/compute/worker/protocol.js";
import { RequestQueue } from "../src/compute/worker/request-queue.js";

const T0 = 1_000_000;
const BUDGET = 100; // each Predict's deadline, in ms after it was sent
let nextId = 1;
/** A Predict sent at `sentAt` with a deadline `budget` ms later (null: no deadline). */
const predict = (sentAt: number, budget: number | null = BUDGET): Envelope => ({
  op: "predict",
  model: 1,
  input: { dtype: "float32", shape: [1, 1], data: new Float32Array(1) },
  id: nextId++,
  sentAt,
  ...(budget === null ? {} : { deadline: sentAt + budget }),
});
const setWeights = (sentAt: number): Envelope => ({ op: "setWeights", model: 1, weights: [], id: nextId++, sentAt });

function drain(queue: RequestQueue, now: number): number[] {
  const ids: number[] = [];
  for (let r = queue.take(now); r; r = queue.take(now)) ids.push(r.id);
  return ids;
}

test("Predicts run in arrival order while the oldest has waited under half its deadline", () => {
  const queue = new RequestQueue();
  const reqs = [predict(T0), predict(T0 + 1), predict(T0 + 2)];
  for (const r of reqs) queue.push(r);
  assert.deepEqual(
    drain(queue, T0 + BUDGET / 2),
    reqs.map((r) => r.id),
  );
});

test("Predicts piling up run newest first, up to the first request that is not a Predict", () => {
  const queue = new RequestQueue();
  const [a, b, c] = [predict(T0), predict(T0 + 1), predict(T0 + 2)];
  const weights = setWeights(T0 + 3);
  const [d, e] = [predict(T0 + 4), predict(T0 + 5)];
  for (const r of [a, b, c, weights, d, e]) queue.push(r);
  const now = T0 + BUDGET / 2 + 10;
  // c, b: newest first among the Predicts before the new weights; a is then the newest of them.
  // Then the weights, then e and d, which have waited long enough as well.
  assert.deepEqual(
    drain(queue, now),
    [c, b, a, weights, e, d].map((r) => r?.id),
  );
});

test("a Predict whose deadline has passed goes first, to be answered at once", () => {
  const queue = new RequestQueue();
  const late = predict(T0, 10);
  const fresh = [predict(T0 + 20), predict(T0 + 21)];
  for (const r of [late, ...fresh]) queue.push(r);
  assert.equal(queue.take(T0 + 30)?.id, late.id);
  assert.deepEqual(
    drain(queue, T0 + 30),
    fresh.map((r) => r.id),
  );
});

test("a Predict without a deadline is never passed over while it is the oldest", () => {
  const queue = new RequestQueue();
  const patient = predict(T0, null);
  const urgent = [predict(T0 + 1), predict(T0 + 2)];
  for (const r of [patient, ...urgent]) queue.push(r);
  assert.deepEqual(drain(queue, T0 + BUDGET - 1), [patient.id, urgent[1]?.id, urgent[0]?.id]);
});

test('"arrival" keeps every request in arrival order however long they wait', () => {
  const queue = new RequestQueue("arrival");
  const reqs = [predict(T0), predict(T0 + 1), predict(T0 + 2)];
  for (const r of reqs) queue.push(r);
  assert.deepEqual(
    drain(queue, T0 + BUDGET - 1),
    reqs.map((r) => r.id),
  );
});

test("a cancelled request leaves the queue; one already taken is not found", () => {
  const queue = new RequestQueue();
  const [a, b, c] = [predict(T0), setWeights(T0 + 1), predict(T0 + 2)];
  for (const r of [a, b, c]) queue.push(r);
  assert.equal(queue.take(T0 + 3)?.id, a.id);
  assert.equal(queue.remove(a.id), undefined, "running or answered: nothing to drop");
  assert.equal(queue.remove(c.id)?.id, c.id);
  assert.equal(queue.remove(c.id), undefined, "removed once");
  assert.deepEqual(drain(queue, T0 + 4), [b.id]);
});
