// A checkpoint's .bin files stream out of the device through a ring of shared buffers, several
// slices ahead of the writer: a slow writer must still see every slice's own bytes, in order.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { groupBytes, SLICE_ELEMENTS as SLICE } from "../src/checkpoints/capture-files.js";
import type { StateCapture } from "../src/compute/engine.js";

/** Element i of tensor t holds t * 1e6 + i, so any slice written into the wrong buffer shows. */
const valueAt = (t: number, i: number) => t * 1e6 + i;

function fakeCapture(elementCounts: number[], reads: { index: number; start: number; count: number }[]): StateCapture {
  return {
    topology: {},
    tensors: elementCounts.map((n, t) => ({ group: "weights", name: `w${t}`, dtype: "float32", shape: [n] })),
    async read(index, start, count, into) {
      reads.push({ index, start, count });
      // Reads finish in a scrambled order, as a busy device thread might answer them.
      await sleep((start / SLICE + index) % 3);
      const view = new Float32Array(into.buffer, into.byteOffset, count);
      for (let i = 0; i < count; i++) view[i] = valueAt(index, start + i);
      return into.subarray(0, count * 4);
    },
    release() {},
  };
}

function expectedDigest(elementCounts: number[]): string {
  const hash = createHash("sha256");
  for (const [t, n] of elementCounts.entries()) {
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = valueAt(t, i);
    hash.update(new Uint8Array(values.buffer));
  }
  return hash.digest("hex");
}

test("a slow writer gets every slice intact although buffers are reused for reads ahead", async () => {
  // 9 slices in all (two tensors over several slices, one small), more than the ring holds.
  const counts = [3 * SLICE + 5, 4 * SLICE, 1000];
  const reads: { index: number; start: number; count: number }[] = [];
  const hash = createHash("sha256");
  let chunks = 0;
  for await (const chunk of groupBytes(fakeCapture(counts, reads), "weights")()) {
    // The writer holds the chunk across a pause while reads ahead complete into other buffers.
    await sleep(5);
    hash.update(chunk);
    chunks++;
  }
  assert.equal(chunks, 9);
  assert.equal(reads.length, 9);
  assert.equal(hash.digest("hex"), expectedDigest(counts));
});
