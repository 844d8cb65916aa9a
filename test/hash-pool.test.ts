// Restores hash files on helper threads while they are read: the digests must be sha256 of the
// bytes, fed in ranges, with several files at once; an abandoned hash must not hold the process.
import assert from "node:assert/strict";
import { createHash, randomFillSync } from "node:crypto";
import { test } from "node:test";
import { sharedHash } from "../src/checkpoints/hash-pool.js";

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
