// Checkpoint files are read into shared memory for the hash and device threads. V8 does not count
// shared memory toward starting a collection, and the hash threads, which allocate next to
// nothing, never collected: each restore of a 300 MB checkpoint left 300 MB allocated (3 GB after
// ten). Threads now collect once such files are used. And the largest tensor of each file lands
// on a 64-byte boundary, so TensorFlow takes it without a copy on first use.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";

const rounds = 6;
const out = execFileSync(
  process.execPath,
  ["--import", "tsx", path.join(import.meta.dirname, "helpers", "restore-memory.ts"), String(rounds)],
  { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
);
const measured = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as {
  checkpointBytes: number;
  growth: number;
  commitGrowth: number;
  firstPredictGrowth: number;
  weightBytes: number;
};
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

test("restoring a checkpoint again and again does not pile up its memory", () => {
  assert.ok(measured.checkpointBytes > 100e6, `checkpoint of ${measured.checkpointBytes} bytes`);
  // Measured: under 1 MiB; 517 MiB (one checkpoint per round) when the hash threads did not collect.
  assert.ok(
    measured.growth < measured.checkpointBytes,
    `the process grew ${mib(measured.growth)} over ${rounds - 1} more restores of a ${mib(measured.checkpointBytes)} checkpoint`,
  );
});

test("the first Predict after a restore does not copy the weights into TensorFlow", () => {
  // Measured: 0; +34 MiB (the 36 MB kernel, copied to fresh memory) without the placement.
  assert.ok(
    measured.firstPredictGrowth < measured.weightBytes / 2,
    `the first Predict grew the process by ${mib(measured.firstPredictGrowth)} (weights: ${mib(measured.weightBytes)})`,
  );
});

test("checkpointing again and again does not pile up the memory its chunks pass through", () => {
  // Measured: a few MiB; ~16 MB more per commit of a 301 MB state when each file had a fresh ring
  // of page-aligned shared memory (held until every thread that saw it collected).
  assert.ok(
    measured.commitGrowth < 24 * 2 ** 20,
    `the process grew ${mib(measured.commitGrowth)} over ${rounds - 1} more checkpoints of ${mib(measured.checkpointBytes)}`,
  );
});
