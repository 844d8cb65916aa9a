// Checkpoint files are written past the page cache (O_DIRECT) where they come in whole, page-aligned
// chunks, and through it otherwise: either way, and when a direct write is refused halfway through a
// file, the bytes on disk and the manifest's sha256 must be exactly what was streamed.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import type * as grpc from "@grpc/grpc-js";
import { CHUNK_BYTES } from "../src/checkpoints/capture-files.js";
import { CheckpointStore, inMemoryFile, type StreamedFile } from "../src/checkpoints/checkpoint-store.js";
import { alignedSharedBuffer } from "../src/shared-memory.js";
import { startTestServer, tempDir } from "./helpers/server.js";
import { canMount, mountSmallExt4, unmount } from "./helpers/small-disks.js";
import { denseStackSpec } from "./helpers/specs.js";

const TOTAL = 2 * CHUNK_BYTES + 12_345;

/** Byte i of the file: a pattern that shows any chunk written at the wrong place. */
const byteAt = (i: number) => (i * 31 + (i >> 12) * 7) & 255;

/** The file streamed in CHUNK_BYTES pieces out of a two-slot ring made by `allocate`. */
function streamed(name: string, allocate: (bytes: number) => SharedArrayBuffer): StreamedFile {
  return {
    path: name,
    async *chunks() {
      const ring = [new Uint8Array(allocate(CHUNK_BYTES)), new Uint8Array(allocate(CHUNK_BYTES))];
      for (let at = 0, k = 0; at < TOTAL; at += CHUNK_BYTES, k++) {
        const slot = ring[k % 2] as Uint8Array;
        const n = Math.min(CHUNK_BYTES, TOTAL - at);
        for (let i = 0; i < n; i++) slot[i] = byteAt(at + i);
        yield slot.subarray(0, n);
      }
    },
  };
}

for (const writes of ["direct", "cached"] as const) {
  test(`${writes}: files from page-aligned chunks, from plain shared memory and from a Buffer are written exactly`, async () => {
    await commitAndCheck(new CheckpointStore(tempDir("modelbay-direct-"), writes));
  });
}

async function commitAndCheck(store: CheckpointStore): Promise<void> {
  await store.init();
  const expected = Buffer.from(Uint8Array.from({ length: TOTAL }, (_, i) => byteAt(i)));
  const saved = await store.commit("m", [
    // Page-aligned: whole chunks go past the page cache, the last 12,345 bytes (not whole blocks)
    // partly through it.
    streamed("aligned.bin", alignedSharedBuffer),
    // Plain shared memory starts 16 bytes past a page: the direct write is refused (EINVAL) and
    // the file continues through the page cache.
    streamed("plain.bin", (bytes) => new SharedArrayBuffer(bytes)),
    inMemoryFile("small.json", Buffer.from('{"a":1}')),
  ]);
  for (const name of ["aligned.bin", "plain.bin"]) {
    const onDisk = fs.readFileSync(path.join(saved.dir, name));
    assert.equal(onDisk.byteLength, TOTAL, name);
    assert.ok(onDisk.equals(expected), `${name} holds the streamed bytes`);
    const entry = saved.manifest.files.find((f) => f.path === name);
    assert.equal(entry?.sha256, createHash("sha256").update(expected).digest("hex"), `${name} sha256`);
    assert.equal(entry?.size, TOTAL);
  }
  assert.equal(fs.readFileSync(path.join(saved.dir, "small.json"), "utf8"), '{"a":1}');
  // And the store reads it back as intact.
  const read = await store.read("m", saved.id);
  assert.ok(read.files.get("aligned.bin")?.equals(expected));
}

test("a full disk during direct writes answers RESOURCE_EXHAUSTED; latest stays and restores", {
  skip: !canMount && "needs root to mount a loop filesystem",
}, async (ctx) => {
  const dir = tempDir("modelbay-ext4-");
  const image = `${dir}.img`;
  if (!mountSmallExt4(dir, image)) {
    fs.rmSync(image, { force: true });
    return ctx.skip("no loop device or mkfs.ext4 here");
  }
  const small = await startTestServer({ checkpointDir: dir });
  try {
    // ~4.2 MB of weights: one checkpoint fits the ~6.5 MB free, a second does not; its chunks are
    // large enough to go past the page cache.
    await small.client.createModel({ modelId: "big", spec: denseStackSpec([1024, 1024], 1) });
    const kept = (await small.client.checkpoint({ modelId: "big" })).checkpoint?.checkpointId;
    assert.ok(kept, "the first checkpoint fits");
    await assert.rejects(small.client.checkpoint({ modelId: "big" }), (err: grpc.ServiceError) => {
      assert.equal(err.code, 8 /* RESOURCE_EXHAUSTED */, err.details);
      assert.match(err.details, /no space left/);
      return true;
    });
    const res = await small.client.restore({
      source: { $case: "checkpoint", checkpoint: { modelId: "big", checkpointId: "latest" } },
      targetModelId: "back",
      resume: false,
    });
    assert.equal(res.checkpointId, kept);
    assert.deepEqual(res.warnings, []);
    assert.deepEqual(
      fs.readdirSync(path.join(dir, "big")).filter((e) => e.startsWith(".tmp-")),
      [],
      "no temporaries left behind",
    );
  } finally {
    await small.close();
    unmount(dir);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(image, { force: true });
  }
});
