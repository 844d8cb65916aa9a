// readAhead: items in order, at most `ahead` in flight before the consumer asks, slots reused only
// once the consumer has moved past their item, no new item after stop, in-flight items awaited.
import assert from "node:assert/strict";
import { test } from "node:test";
import { readAhead } from "../src/read-ahead.js";

const tick = () => new Promise((resolve) => setImmediate(resolve));

test("yields in order with at most `ahead` items started past the consumer", async () => {
  const started: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const items = readAhead(10, 3, 4, async (i) => {
    started.push(i);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    // Later items finish first: order must come from the generator, not from completion.
    await new Promise((resolve) => setTimeout(resolve, 10 - i));
    inFlight--;
    return i;
  });
  const seen: number[] = [];
  for await (const i of items) {
    seen.push(i);
    // Consumed i; at most 3 beyond it have been started.
    assert.ok(started.length <= i + 1 + 3, `started ${started.length} items while the consumer holds ${i}`);
    await tick();
  }
  assert.deepEqual(seen, [...Array(10).keys()]);
  assert.equal(maxInFlight, 3);
});

test("a slot is refilled only after the consumer moved past the item that held it", async () => {
  const holder = new Map<Uint8Array, number>(); // slot -> index of the item filling or holding it
  let doneWith = -1; // the last item whose consumer finished with it
  const items = readAhead(12, 3, 4, async (i, slot) => {
    const previous = holder.get(slot);
    if (previous !== undefined) assert.ok(previous <= doneWith, `the slot of item ${previous} refilled by ${i}`);
    holder.set(slot, i);
    await tick();
    return i;
  });
  for await (const i of items) {
    // The consumer uses item i's slot until it asks for the next item.
    await tick();
    doneWith = i;
  }
  assert.equal(doneWith, 11);
  // A ring of ahead + 1 distinct shared buffers of the size asked for.
  assert.equal(holder.size, 4);
  for (const slot of holder.keys()) {
    assert.ok(slot.buffer instanceof SharedArrayBuffer);
    assert.equal(slot.byteLength, 4);
  }
});

test("after stop no item starts, and returning early waits for the items in flight", async () => {
  const stop = new AbortController();
  const started: number[] = [];
  const finished: number[] = [];
  const items = readAhead(
    100,
    3,
    4,
    async (i) => {
      started.push(i);
      await new Promise((resolve) => setTimeout(resolve, 5));
      finished.push(i);
      return i;
    },
    stop.signal,
  );
  for await (const i of items) {
    if (i === 2) {
      stop.abort(new Error("stopped"));
      break;
    }
  }
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(
    finished.sort((a, b) => a - b),
    started,
    "items in flight finished before the generator closed",
  );
});
