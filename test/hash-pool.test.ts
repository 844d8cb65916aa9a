// Restores hash files on helper threads while they are read: the digests must be sha256 of the
// bytes, fed in ranges, with several files at once; an abandoned hash must not hold the process.
import assert from "node:assert/strict";
import { createHash, randomFillSync } from "node:crypto";
import { test } from "node:test";
import { sharedHash, streamHash } from "../src/checkpoints/hash-pool.js";

function filledShared(size: number): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(size);
  randomFillSync(new Uint8Array(buffer));
  return buffer;
}

test("concurrent hashes fed in uneven ranges give each buffer's sha256", async () => {
  // Small buffers are hashed inline, large ones (>= 4 MiB) on helper threads: both kinds at once.
  const buffers = [
    filledShared(3_000_001),
    filledShared(1),
    filledShared(0),
    filledShared(5_000_000),
    filledShared(9_000_017),
  ];
  const digests = await Promise.all(
    buffers.map(async (buffer, k) => {
      const hash = sharedHash(buffer);
      const step = 1 + k * 777_777;
      for (let start = 0; start < buffer.byteLength; start += step) {
        hash.update(start, Math.min(buffer.byteLength, start + step));
      }
      return hash.digest();
    }),
  );
  for (const [k, buffer] of buffers.entries()) {
    const expected = createHash("sha256").update(new Uint8Array(buffer)).digest("hex");
    assert.equal(digests[k], expected, `buffer ${k}`);
  }
});

test("an abandoned hash neither holds the process open nor blocks the next one", async () => {
  const size = 5 * 2 ** 20; // large enough for a helper thread
  const first = sharedHash(filledShared(size));
  first.update(0, size / 2);
  first.abandon();
  const buffer = filledShared(size);
  const second = sharedHash(buffer);
  second.update(0, size);
  assert.equal(await second.digest(), createHash("sha256").update(new Uint8Array(buffer)).digest("hex"));
});

test("a streamed hash is done with each chunk when its update resolves: the memory can be refilled at once", async () => {
  // Two 4 MiB slots reused for 9 chunks, each refilled the moment its update resolves; two streams
  // at once (two files of a checkpoint), and a chunk outside shared memory (copied across).
  const slotBytes = 4 * 2 ** 20;
  const run = async (seed: number) => {
    const ring = [new Uint8Array(new SharedArrayBuffer(slotBytes)), new Uint8Array(new SharedArrayBuffer(slotBytes))];
    const expected = createHash("sha256");
    const hash = streamHash(ring[0] as Uint8Array);
    for (let k = 0; k < 9; k++) {
      const slot = ring[k % 2] as Uint8Array;
      slot.fill((k * 37 + seed) & 255);
      slot[k] = seed;
      const chunk = slot.subarray(0, slotBytes - k);
      expected.update(chunk);
      await hash.update(chunk);
      // Reused at once, starting from the end (which a hash still under way reaches last): the
      // hash must have read all of it already.
      chunk.set([~(chunk.at(-1) as number) & 255], chunk.byteLength - 1);
      slot.fill(0);
    }
    const tail = Buffer.from(`tail ${seed}`);
    expected.update(tail);
    await hash.update(tail);
    assert.equal(await hash.digest(), expected.digest("hex"), `stream ${seed}`);
  };
  await Promise.all([run(1), run(2)]);
});
