// Row sources: rows of raw bytes that are not aligned (a request's own buffer) come out right with
// and without a caller's buffer to fill, and rows are views where they can cross to a device as they are.
import assert from "node:assert/strict";
import { test } from "node:test";
import { bytesRows, tensorRows } from "../src/datasets/row-source.js";

const values = Float32Array.from({ length: 5 * 3 }, (_, i) => i * 0.5 - 2);

test("raw rows at an odd offset come out exact, into a given buffer or a fresh one", async () => {
  const backing = new Uint8Array(values.byteLength + 1);
  backing.set(new Uint8Array(values.buffer), 1);
  const rows = bytesRows("x", "float32", [5, 3], backing.subarray(1));
  const into = new Uint8Array(new SharedArrayBuffer(2 * 3 * 4));
  const filled = await rows.rows(1, 3, into);
  assert.deepEqual(filled.shape, [2, 3]);
  assert.equal(filled.data.buffer, into.buffer, "the rows landed in the given buffer");
  assert.deepEqual(Array.from(filled.data), Array.from(values.subarray(3, 9)));
  const fresh = await rows.rows(3, 5);
  assert.deepEqual(fresh.shape, [2, 3]);
  assert.deepEqual(Array.from(fresh.data), Array.from(values.subarray(9, 15)));
});

test("a tensor's rows are views of it when no buffer is given", async () => {
  const rows = tensorRows("x", { dtype: "float32", shape: [5, 3], data: values });
  const part = await rows.rows(2, 4);
  assert.equal(part.data.buffer, values.buffer);
  assert.deepEqual(Array.from(part.data), Array.from(values.subarray(6, 12)));
});

test("aligned rows in shared memory are viewed where they are even when a buffer is given; others fill it", async () => {
  for (const [memory, offset, viewed] of [
    [new SharedArrayBuffer(values.byteLength + 4), 4, true],
    [new SharedArrayBuffer(values.byteLength + 4), 1, false],
    [new ArrayBuffer(values.byteLength + 4), 4, false],
  ] as const) {
    const bytes = new Uint8Array(memory, offset, values.byteLength);
    bytes.set(new Uint8Array(values.buffer));
    const into = new Uint8Array(new SharedArrayBuffer(2 * 3 * 4));
    const part = await bytesRows("x", "float32", [5, 3], bytes).rows(1, 3, into);
    assert.equal(part.data.buffer, viewed ? memory : into.buffer, `offset ${offset} in ${memory.constructor.name}`);
    assert.deepEqual(Array.from(part.data), Array.from(values.subarray(3, 9)));
  }
});
