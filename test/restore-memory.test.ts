// Checkpoint files are read into shared memory for the hash and device threads, and V8 does not
// count shared memory toward starting a collection: the hash threads, which allocate next to
// nothing, never collected and pinned every checkpoint they had hashed (each restore of a 300 MB
// checkpoint left 300 MB allocated; 3 GB after ten). Threads now collect once such files are used.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";

test("restoring a checkpoint again and again does not pile up its shared memory", () => {
  const rounds = 6;
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", path.join(import.meta.dirname, "helpers", "restore-memory.ts"), String(rounds)],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
  );
  const { checkpointBytes, arrayBuffers } = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as {
    checkpointBytes: number;
    arrayBuffers: number;
  };
  assert.ok(checkpointBytes > 50e6, `checkpoint of ${checkpointBytes} bytes`);
  // One restore's files may still wait for a collection; six would be ~450 MB.
  assert.ok(
    arrayBuffers < 2.5 * checkpointBytes,
    `${(arrayBuffers / 2 ** 20).toFixed(0)} MiB of buffers still allocated after ${rounds} restores of a ${(checkpointBytes / 2 ** 20).toFixed(0)} MiB checkpoint`,
  );
});
