// The device worker's order of waiting requests: arrival order, except Predicts with deadlines the
// device is clearly behind in that order at its recent pace, which go newest first; nothing is ever
// moved across a request that is not a Predict.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Envelope } from "../src/compute/worker/protocol.js";
import { RequestQueue } from "../src/compute/worker/request-queue.js";

const T0 = 1_000_000;
const BUDGET = 100; // each Predict's deadline, in ms after it was sent
let nextId = 1;
/** A Predict of `model` sent at `sentAt` with a deadline `budget` ms later (null: no deadline). */
const predict = (sentAt: number, budget: number | null = BUDGET, model = 1): Envelope => ({
  op: "predict",
  model,
  inputs: [{ dtype: "float32", shape: [1, 1], data: new Float32Array(1) }],
  id: nextId++,
  sentAt,
  ...(budget === null ? {} : { deadline: sentAt + budget }),
});
const setWeights = (sentAt: number): Envelope => ({ op: "setWeights", model: 1, weights: [], id: nextId++, sentAt });

/** Takes every request, `step` ms apart from `now` on (the device's time per request). */
function drain(queue: RequestQueue, now: number, step = 0): number[] {
  const ids: number[] = [];
  for (let at = now, r = queue.take(at); r; at += step, r = queue.take(at)) ids.push(r.id);
  return ids;
}

/** A queue whose device has been taking Predicts `paceMs` apart while others waited. */
function queueAtPace(paceMs: number, order?: "adaptive" | "arrival"): RequestQueue {
  const queue = new RequestQueue(order);
  for (let i = 0; i < 3; i++) queue.push(predict(0, null));
  drain(queue, 0, paceMs);
  assert.equal(queue.paceOf(1), paceMs);
  return queue;
}

/** Three Predicts sent 1 ms apart from T0, taken from `start` on at 10 ms each: taken and sent order. */
function takenFrom(start: number): { taken: number[]; sent: number[] } {
  const queue = queueAtPace(10);
  const reqs = [predict(T0), predict(T0 + 1), predict(T0 + 2)];
  for (const r of reqs) queue.push(r);
  return { taken: drain(queue, start, 10), sent: reqs.map((r) => r.id) };
}

test("Predicts run in arrival order while the device keeps up with their deadlines", () => {
  // From T0 + 60: answered at 70, 80 and 90 ms, each before its 100 ms deadline. The oldest has
  // waited 60% of its deadline.
  const { taken, sent } = takenFrom(T0 + 60);
  assert.deepEqual(taken, sent);
});

test("arrival order stays while the newest would be answered at most an eighth of its deadline late", () => {
  // From T0 + 84: answered at 94, 104 and 114 ms after T0, so the two newest look late at this
  // pace, the newest by 12 ms of its 100 (sent at T0 + 2). A rule that turned to newest first as
  // soon as one looked late would answer the newest first and leave the oldest to expire.
  const { taken, sent } = takenFrom(T0 + 84);
  assert.deepEqual(taken, sent);
});

test("Predicts the device is clearly behind run newest first, up to the first request that is not a Predict", () => {
  const queue = queueAtPace(10);
  const [a, b, c] = [predict(T0), predict(T0 + 1), predict(T0 + 2)];
  const weights = setWeights(T0 + 3);
  const [d, e] = [predict(T0 + 70), predict(T0 + 71)];
  for (const r of [a, b, c, weights, d, e]) queue.push(r);
  // From T0 + 88 in arrival order c would be answered at T0 + 118, 16 ms past its deadline: c
  // goes first; then, from T0 + 98, b would be 17 ms late (b before a). a's deadline has passed
  // when its turn comes. Then the weights, and d and e, which arrival order answers in time.
  assert.deepEqual(
    drain(queue, T0 + 88, 10),
    [c, b, a, weights, d, e].map((r) => r?.id),
  );
});

test("the pace counts Predicts' turns while others waited, nothing else", () => {
  const queue = queueAtPace(10);
  // A training step's turn, an idle gap, a cancelled successor and an expired Predict (answered
  // without running) leave it as it was.
  const [p1, step, p2] = [predict(T0, null), setWeights(T0), predict(T0, null)];
  for (const r of [p1, step, p2]) queue.push(r);
  drain(queue, T0, 2);
  assert.equal(queue.take(T0 + 500), undefined);
  const [p3, cancelled] = [predict(T0 + 600, null), predict(T0 + 600, null)];
  queue.push(p3);
  queue.push(cancelled);
  assert.equal(queue.take(T0 + 600)?.id, p3.id);
  queue.remove(cancelled.id);
  const p4 = predict(T0 + 900, null);
  queue.push(p4);
  assert.equal(queue.take(T0 + 900)?.id, p4.id);
  const [expired, p5] = [predict(T0, 5), predict(T0 + 1000, null)];
  queue.push(expired);
  queue.push(p5);
  assert.deepEqual(drain(queue, T0 + 1000, 0), [expired.id, p5.id]);
  // 2 ms after p1 (others waiting) moves it by a tenth of the difference.
  assert.equal(queue.paceOf(1), 0.9 * 10 + 0.1 * 2);
});

test("each model has its own pace; its first turn is no sample, and one not yet measured counts at the device's", () => {
  const queue = queueAtPace(10);
  // Model 2 answers in 1 ms. Its first turn only marks it as seen; the second is its pace, and
  // moves the device's from 10 to 9.1 ms.
  for (let i = 0; i < 3; i++) queue.push(predict(0, null, 2));
  drain(queue, 1000, 1);
  assert.equal(queue.paceOf(2), 1);
  assert.ok(Math.abs(queue.paceOf(3) - 9.1) <= 1e-9, `an unmeasured model at ${queue.paceOf(3)} ms`);
  // Model 3's first turn takes 500 ms (a cold one: its graph built on first use): no sample.
  for (let i = 0; i < 2; i++) queue.push(predict(0, null, 3));
  queue.take(2000);
  queue.take(2500);
  assert.ok(Math.abs(queue.paceOf(3) - 9.1) <= 1e-9, `after a cold first turn at ${queue.paceOf(3)} ms`);
  // Five of model 2 from T0 + 80: in arrival order at 1 ms each the newest is answered at T0 + 85,
  // in time. At the device's pace it would look 21 ms late, and the newest would go first.
  const reqs = [0, 1, 2, 3, 4].map((i) => predict(T0 + i, BUDGET, 2));
  for (const r of reqs) queue.push(r);
  assert.deepEqual(
    drain(queue, T0 + 80, 1),
    reqs.map((r) => r.id),
  );
  // A disposed model's pace goes with it.
  queue.push({ op: "disposeModel", model: 2, id: nextId++, sentAt: T0 + 90 });
  queue.take(T0 + 90);
  assert.equal(queue.paceOf(2), queue.paceOf(4));
});

test("a Predict whose deadline has passed goes first, to be answered at once", () => {
  const queue = queueAtPace(10);
  const late = predict(T0, 10);
  const fresh = [predict(T0 + 20), predict(T0 + 21)];
  for (const r of [late, ...fresh]) queue.push(r);
  assert.equal(queue.take(T0 + 30)?.id, late.id);
  assert.deepEqual(
    drain(queue, T0 + 30, 10),
    fresh.map((r) => r.id),
  );
});

test("a Predict without a deadline is never passed over while it is the oldest", () => {
  const queue = queueAtPace(10);
  const patient = predict(T0, null);
  const urgent = [predict(T0 + 1), predict(T0 + 2)];
  for (const r of [patient, ...urgent]) queue.push(r);
  // Behind (at 10 ms a Predict, arrival order would answer the newest at T0 + 120, 18 ms late),
  // but the oldest has no deadline: it goes first, then the newest.
  assert.deepEqual(drain(queue, T0 + 90, 10), [patient.id, urgent[1]?.id, urgent[0]?.id]);
});

test('"arrival" keeps every request in arrival order however long they wait', () => {
  const queue = queueAtPace(10, "arrival");
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
