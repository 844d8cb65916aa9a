// A checkpoint's .bin files stream out of the device in file-aligned chunks through a ring of shared
// buffers, several chunks ahead of the writer: a slow writer must still see every byte in order, and
// every chunk but the last must be whole (the store writes those past the page cache).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CHUNK_BYTES, groupBytes } from "../src/checkpoints/capture-files.js";
import type { StateCapture } from "../src/compute/engine.js";
import { BYTES_PER_ELEMENT, type DType } from "../src/compute/tensor-data.js";

const FLOATS_PER_CHUNK = CHUNK_BYTES / 4;

/** Byte b of tensor t's little-endian values; any piece written to the wrong place shows. */
function tensorBytes(t: number, dtype: DType, count: number): Uint8Array {
  if (dtype === "bool") return Uint8Array.from({ length: count }, (_, i) => (i * 7 + t) % 2);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = t * 1e6 + i;
  return new Uint8Array(values.buffer);
}

type Spec = { dtype: DType; count: number };

function fakeCapture(specs: Spec[], reads: { index: number; start: number; count: number }[]): StateCapture {
  const contents = specs.map((s, t) => tensorBytes(t, s.dtype, s.count));
  return {
    topology: {},
    tensors: specs.map((s, t) => ({ group: "weights", name: `w${t}`, dtype: s.dtype, shape: [s.count] })),
    async read(index, start, count, into) {
      reads.push({ index, start, count });
      // Reads finish in a scrambled order, as a busy device thread might answer them.
      await sleep((start + index) % 3);
      const size = BYTES_PER_ELEMENT[specs[index]?.dtype ?? "float32"];
      const bytes = (contents[index] as Uint8Array).subarray(start * size, (start + count) * size);
      if (bytes.byteLength > into.byteLength) throw new Error("does not fit");
      into.set(bytes);
      return into.subarray(0, bytes.byteLength);
    },
    release() {},
  };
}

function expected(specs: Spec[]): { digest: string; bytes: number } {
  const hash = createHash("sha256");
  let bytes = 0;
  for (const [t, s] of specs.entries()) {
    const b = tensorBytes(t, s.dtype, s.count);
    hash.update(b);
    bytes += b.byteLength;
  }
  return { digest: hash.digest("hex"), bytes };
}

/**
 * Streams the file of `specs` as a slow writer would and checks its bytes: returns the chunk sizes,
 * the file's size and how many reads the device got.
 */
async function drainAndCheck(specs: Spec[]): Promise<{ sizes: number[]; bytes: number; reads: number }> {
  const reads: { index: number; start: number; count: number }[] = [];
  const hash = createHash("sha256");
  const sizes: number[] = [];
  for await (const chunk of groupBytes(fakeCapture(specs, reads), "weights")()) {
    // The writer holds the chunk across a pause while reads ahead complete into other buffers.
    await sleep(5);
    hash.update(chunk);
    sizes.push(chunk.byteLength);
  }
  const want = expected(specs);
  assert.equal(hash.digest("hex"), want.digest, "the file's bytes");
  return { sizes, bytes: want.bytes, reads: reads.length };
}

test("a slow writer gets every byte in order, in whole chunks, although buffers are reused for reads ahead", async () => {
  // 28 MB and a bit: eight chunks, more than the ring holds; tensors cross chunk edges.
  const got = await drainAndCheck([
    { dtype: "float32", count: 3 * FLOATS_PER_CHUNK + 5 },
    { dtype: "float32", count: 4 * FLOATS_PER_CHUNK },
    { dtype: "float32", count: 1000 },
  ]);
  assert.deepEqual(got.sizes, [...Array(7).fill(CHUNK_BYTES), got.bytes - 7 * CHUNK_BYTES]);
  // Tensor 0 in 4 pieces, tensor 1 in 5 (it starts 20 bytes into a chunk), tensor 2 in 1.
  assert.equal(got.reads, 10);
});

test("a tensor of one-byte elements shifts the edges: pieces that cut an element are still exact", async () => {
  // After 3 bools, every float's bytes straddle the chunk edges by 3 bytes.
  const got = await drainAndCheck([
    { dtype: "bool", count: 3 },
    { dtype: "float32", count: 2 * FLOATS_PER_CHUNK },
    { dtype: "bool", count: 5 },
  ]);
  assert.deepEqual(got.sizes, [CHUNK_BYTES, CHUNK_BYTES, got.bytes - 2 * CHUNK_BYTES]);
});
