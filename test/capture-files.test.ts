// A checkpoint's .bin files stream out of the device in file-aligned chunks through a ring of shared
// buffers, several chunks ahead of the writer: a slow writer must still see every byte in order, and
// every chunk but the last must be whole (the store writes those past the page cache).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CHUNK_BYTES, type Group, groupBytes } from "../src/checkpoints/capture-files.js";
import { OPTIMIZER_ALIGNMENT } from "../src/checkpoints/checkpoint-codec.js";
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

function fakeCapture(
  specs: Spec[],
  reads: { index: number; start: number; count: number }[],
  group: Group,
): StateCapture {
  const contents = specs.map((s, t) => tensorBytes(t, s.dtype, s.count));
  return {
    topology: {},
    tensors: specs.map((s, t) => ({ group, name: `w${t}`, dtype: s.dtype, shape: [s.count] })),
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

/** weights.bin's order: the largest tensor first, ties in the model's order. */
function largestFirst(specs: Spec[]): number[] {
  const bytes = (t: number) => (specs[t] as Spec).count * BYTES_PER_ELEMENT[(specs[t] as Spec).dtype];
  return specs.map((_, t) => t).sort((a, b) => bytes(b) - bytes(a) || a - b);
}

/** The file: its tensors in `order`, each at the next multiple of `alignment`, zero bytes between. */
function expected(specs: Spec[], order: number[], alignment: number): { digest: string; bytes: number } {
  const hash = createHash("sha256");
  let bytes = 0;
  for (const t of order) {
    const s = specs[t] as Spec;
    const padding = (alignment - (bytes % alignment)) % alignment;
    hash.update(new Uint8Array(padding));
    const b = tensorBytes(t, s.dtype, s.count);
    hash.update(b);
    bytes += padding + b.byteLength;
  }
  return { digest: hash.digest("hex"), bytes };
}

/**
 * Streams the file of `specs` as a slow writer would and checks its bytes: returns the chunk sizes,
 * the file's size and how many reads the device got.
 */
async function drainAndCheck(
  specs: Spec[],
  group: Group = "weights",
): Promise<{ sizes: number[]; bytes: number; reads: number }> {
  const reads: { index: number; start: number; count: number }[] = [];
  const hash = createHash("sha256");
  const sizes: number[] = [];
  for await (const chunk of groupBytes(fakeCapture(specs, reads, group), group)()) {
    // The writer holds the chunk across a pause while reads ahead complete into other buffers.
    await sleep(5);
    hash.update(chunk);
    sizes.push(chunk.byteLength);
  }
  const want =
    group === "optimizer"
      ? expected(
          specs,
          specs.map((_, i) => i),
          OPTIMIZER_ALIGNMENT,
        )
      : expected(specs, largestFirst(specs), 1);
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
  // The largest first: tensor 1 in 4 pieces, then tensor 0 in 4, tensor 2 in 1 (it starts 20 bytes
  // into a chunk, and ends in the last one).
  assert.equal(got.reads, 9);
});

test("a tensor of one-byte elements shifts the edges: pieces that cut an element are still exact", async () => {
  // The largest tensor goes first: after a chunk and 3 bytes of bools, the float's bytes straddle
  // the chunk edges by 3 bytes.
  const got = await drainAndCheck([
    { dtype: "float32", count: FLOATS_PER_CHUNK },
    { dtype: "bool", count: CHUNK_BYTES + 3 },
    { dtype: "bool", count: 5 },
  ]);
  assert.deepEqual(got.sizes, [CHUNK_BYTES, CHUNK_BYTES, got.bytes - 2 * CHUNK_BYTES]);
});

test("optimizer.bin starts every tensor on a 64-byte boundary, zero bytes between, in reused ring buffers", async () => {
  // A weights file first leaves its (nonzero) bytes in the ring buffers the optimizer file reuses.
  await drainAndCheck([{ dtype: "float32", count: 3 * FLOATS_PER_CHUNK }]);
  // 3 bools: 61 bytes of padding; the float tensor ends 4 bytes past a chunk edge: 60 more, which
  // fall in the next chunk.
  const got = await drainAndCheck(
    [
      { dtype: "bool", count: 3 },
      { dtype: "float32", count: FLOATS_PER_CHUNK - 15 },
      { dtype: "float32", count: 1000 },
    ],
    "optimizer",
  );
  assert.equal(got.bytes, 64 + (CHUNK_BYTES - 60) + 60 + 4000);
  assert.deepEqual(got.sizes, [CHUNK_BYTES, got.bytes - CHUNK_BYTES]);
});
