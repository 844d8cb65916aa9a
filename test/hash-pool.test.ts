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
  const buffers = [filledShared(3_000_001), filledShared(1), filledShared(0), filledShared(5_000_000)];
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

test("an abandoned hash leaves the helper free for the next one", async () => {
  const first = sharedHash(filledShared(1000));
  first.update(0, 500);
  first.abandon();
  const buffer = filledShared(1000);
  const second = sharedHash(buffer);
  second.update(0, 1000);
  assert.equal(await second.digest(), createHash("sha256").update(new Uint8Array(buffer)).digest("hex"));
});
