// A restored tensor reaches TensorFlow without a copy only if its memory is 64-byte aligned
// (TF_NewTensor copies anything else, ~55 ms and 100 MB more for the 100 MB kernel of the bench's
// model). Checkpoint files are read into page-aligned shared memory, shifted so that the largest
// tensor of weights.bin / optimizer.bin lands on a 64-byte boundary.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { tensorPlacement } from "../src/checkpoints/checkpoint-codec.js";
import {
  CorruptCheckpointError,
  MANIFEST_FILE,
  manifestOf,
  readVerified,
  sha256,
} from "../src/checkpoints/manifest.js";

function writeCheckpointDir(files: Record<string, Buffer>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-placement-"));
  for (const [name, data] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), data);
  const manifest = manifestOf(
    Object.entries(files).map(([name, data]) => ({ path: name, size: data.byteLength, sha256: sha256(data) })),
  );
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest));
  return dir;
}

test("the largest tensor of weights.bin is read onto a 64-byte boundary, and a changed byte is still caught", async () => {
  // 8 floats, then 262,144 (1 MiB): the large one starts at byte 32 of the file.
  const small = Float32Array.from({ length: 8 }, (_, i) => i);
  const large = Float32Array.from({ length: 262_144 }, (_, i) => Math.sin(i));
  const weights = Buffer.concat([Buffer.from(small.buffer), Buffer.from(large.buffer)]);
  const modelJson = {
    modelTopology: {},
    weightsManifest: [
      {
        paths: ["weights.bin"],
        weights: [
          { name: "a", shape: [8], dtype: "float32" },
          { name: "b", shape: [512, 512], dtype: "float32" },
        ],
      },
    ],
  };
  const dir = writeCheckpointDir({ "model.json": Buffer.from(JSON.stringify(modelJson)), "weights.bin": weights });
  try {
    const { files } = await readVerified(dir, tensorPlacement);
    const data = files.get("weights.bin") as Buffer;
    assert.deepEqual(Buffer.compare(data, weights), 0);
    // The buffer starts on a page (a shared WebAssembly memory, whole 64 KiB pages), so offsets
    // within it are addresses modulo 64.
    assert.ok(data.buffer instanceof SharedArrayBuffer);
    assert.equal(data.buffer.byteLength % 65_536, 0);
    assert.equal((data.byteOffset + 32) % 64, 0, `tensor "b" at buffer offset ${data.byteOffset + 32}`);
    // Without the placement the file starts at 0 and "b" sits 32 bytes off.
    const plain = (await readVerified(dir)).files.get("weights.bin") as Buffer;
    assert.equal(plain.byteOffset, 0);

    const flipped = Buffer.from(weights);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
    fs.writeFileSync(path.join(dir, "weights.bin"), flipped);
    await assert.rejects(readVerified(dir, tensorPlacement), CorruptCheckpointError);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("unreadable specs or other files are placed at 0", () => {
  assert.equal(tensorPlacement("weights.bin", new Map([["model.json", Buffer.from("{not json")]])), 0);
  assert.equal(tensorPlacement("state.json", new Map()), 0);
  assert.equal(tensorPlacement("optimizer.bin", new Map()), 0);
});
