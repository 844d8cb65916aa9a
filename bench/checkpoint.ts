// Checkpoints of a ~100 MB model (Dense 10 -> 5000 -> 5000 -> 1, 25M float32 weights; with Adam's
// two slots a checkpoint holds ~300 MB), all in one run on the same disk:
//   1. write bandwidth of a checkpoint commit (write + fsync + manifest + rename) against
//      `dd ... conv=fsync` of the same number of bytes into the same directory;
//   2. the training stall of an async save: how long the training loop waits while the state is
//      captured, as a fraction of one training step, and the steps/s of a Train job that saves
//      every few steps against one that never saves;
//   3. restore time (read + verify + load into the device worker + a first 1-row Predict) against
//      reading the bytes.
// Run: npx tsx bench/checkpoint.ts   (BENCH_DIR picks the directory, default under the user cache;
// PARTS=write,stall,restore picks the measurements; RESTORE_ROUNDS=7)
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import v8 from "node:v8";
import vm from "node:vm";
import { connect } from "../src/cli/client.js";
import { regressionData } from "../src/cli/example-data.js";
import { denseStackSpec } from "../src/cli/example-specs.js";
import { floatTensor, inlineXY } from "../src/cli/tensors.js";
import type { TrainEvent } from "../src/gen/modelbay/v1/training.js";
import { silentLogger } from "../src/log.js";
import { startServer } from "../src/server.js";
import { alignedSharedBuffer } from "../src/shared-memory.js";
import { median, runBench } from "./harness.js";

const UNITS = 5000;
const ROWS = 4096;
const BATCH = 256;
const WRITE_ROUNDS = 5;
const RESTORE_ROUNDS = Number(process.env.RESTORE_ROUNDS ?? 7);
// CACHE=cold drops the checkpoint's files from the page cache before each timed read or restore
// (as after a restart, or after a save with direct writes, which leaves nothing in the cache).
const COLD = process.env.CACHE === "cold";
// READS=copied restores by copying files into memory instead of mapping them (see CheckpointReads).
const READS = process.env.READS === "copied" ? "copied" : "mapped";
// Which parts run: PARTS=restore skips the write and stall measurements.
const PARTS = new Set((process.env.PARTS ?? "write,stall,restore").split(","));
const cacheDir = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache");
const baseDir = process.env.BENCH_DIR ?? path.join(cacheDir, "modelbay", "bench-checkpoints");

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

/**
 * `dd bs=1M conv=fsync` of `bytes` of `source` (the checkpoint's own bytes, in the page cache) into
 * `dir/name`; "dd.bin" is removed once timed, other names are kept.
 */
/**
 * Waits for a deletion to reach the disk before the next timed write: the mount has `discard`, and
 * the discards of a deleted 301 MB file, issued at the next journal commit, slowed whichever write
 * came next (dd measured 0.44-0.53 GB/s right after a deletion, 1.4-1.6 GB/s otherwise).
 */
function settle(): void {
  execFileSync("sync");
}

function ddSeconds(dir: string, bytes: number, source: string, name: string): number {
  const file = path.join(dir, name);
  const t0 = performance.now();
  execFileSync("dd", [`if=${source}`, `of=${file}`, "bs=1M", `count=${Math.ceil(bytes / 2 ** 20)}`, "conv=fsync"], {
    stdio: "ignore",
  });
  const s = (performance.now() - t0) / 1000;
  if (name === "dd.bin") {
    fs.rmSync(file);
    settle();
  }
  return s;
}

/** The checkpoint's files concatenated into one file (read once, so it sits in the page cache). */
function sameBytesSource(checkpointDir: string, into: string): string {
  const file = path.join(into, "dd-source.bin");
  fs.rmSync(file, { force: true });
  for (const f of fs.readdirSync(checkpointDir)) fs.appendFileSync(file, fs.readFileSync(path.join(checkpointDir, f)));
  fs.readFileSync(file);
  return file;
}

async function main() {
  fs.mkdirSync(baseDir, { recursive: true });
  const dir = fs.mkdtempSync(path.join(baseDir, "run-"));
  const server = await startServer({
    address: "127.0.0.1:0",
    checkpointDir: dir,
    checkpointReads: READS,
    log: silentLogger,
  });
  const client = connect(server.address);
  const { x, y } = regressionData(ROWS);
  const train = (modelId: string, everySteps: number) => ({
    modelId,
    data: inlineXY(floatTensor(x, [ROWS, 10], true), floatTensor(y, [ROWS, 1], true)),
    validationSplit: 0,
    epochs: 1,
    batchSize: BATCH,
    shuffle: false,
    seed: 1,
    progressIntervalMs: 0,
    detach: false,
    checkpointPolicy: { everyEpochs: 0, everySteps, everySeconds: 0, onBest: false, monitor: "" },
  });
  const stepsPerSecond = async (modelId: string, everySteps: number) => {
    const events: TrainEvent[] = [];
    const t0 = performance.now();
    for await (const e of client.train(train(modelId, everySteps))) events.push(e);
    const seconds = (performance.now() - t0) / 1000;
    const saves = events.filter((e) => e.event?.$case === "checkpointSaved").length;
    return { rate: ROWS / BATCH / seconds, saves };
  };
  try {
    await client.createModel({ modelId: "big", spec: denseStackSpec([UNITS, UNITS], 3) });
    // One epoch first, so that Adam's slots exist and the checkpoint has its full size.
    await stepsPerSecond("big", 0);

    // 1. Write bandwidth against dd, alternating, ratio pair by pair.
    // The disk's speed drifts by 2-4x within a minute here, so the two alternate (which goes first
    // alternates too) and the ratio is taken pair by pair. This disk is a sparse file on the host:
    // writing blocks that were never written (or were discarded, the mount has `discard`) measured
    // 3-6x slower than rewriting blocks just freed (dd of 301 MB kept: 0.14, 0.40, 0.81, 0.80 s;
    // removed after each: 0.13-0.22 s). dd used to delete its file after each run while checkpoints
    // piled up, so they wrote to different kinds of blocks. Now both do the same, in two regimes:
    // each output deleted once timed (steady state under a keep-last-N retention), and all outputs
    // kept (fresh blocks for both).
    let bytes = 0;
    if (PARTS.has("write")) {
      let source = "";
      const write = async (keep: boolean) => {
        // Capture and commit: the commit streams the tensors out of the device as it writes them.
        const t0 = performance.now();
        const saved = await server.sessions.commitCheckpoint(await server.sessions.captureCheckpoint("big"));
        const seconds = (performance.now() - t0) / 1000;
        bytes = saved.manifest.files.reduce((n, f) => n + f.size, 0);
        source ||= sameBytesSource(saved.dir, baseDir);
        if (!keep) {
          await client.deleteCheckpoint({ modelId: "big", checkpointId: saved.id, force: true });
          settle();
        }
        return seconds;
      };
      await write(false); // makes the dd source; the pairs start after it
      const rate = (seconds: number) => `${(bytes / seconds / 1e6).toFixed(0)} MB/s`;
      for (const keep of [false, true]) {
        const writes: number[] = [];
        const dds: number[] = [];
        for (let i = 0; i < WRITE_ROUNDS; i++) {
          if (i % 2 === 0) writes.push(await write(keep));
          dds.push(ddSeconds(dir, bytes, source, keep ? `dd-${i}.bin` : "dd.bin"));
          if (i % 2 === 1) writes.push(await write(keep));
        }
        for (let i = 0; keep && i < WRITE_ROUNDS; i++) fs.rmSync(path.join(dir, `dd-${i}.bin`));
        const pairRatios = dds.map((d, i) => d / (writes[i] as number));
        process.stdout.write(
          `checkpoint write of ${mb(bytes)} (model weights ${mb(4 * server.sessions.get("big").model.description.parameterCount)}), ` +
            `${WRITE_ROUNDS} rounds alternating with dd conv=fsync of the same bytes into the same dir, ` +
            `${keep ? "every output kept (fresh blocks)" : "each output deleted once timed (blocks reused)"}:\n` +
            `  write ${writes.map(rate).join(", ")}\n  dd    ${dds.map(rate).join(", ")}\n` +
            `  ratio per pair ${pairRatios.map((r) => r.toFixed(2)).join(", ")}; median ${median(pairRatios).toFixed(2)}x\n`,
        );
      }
      fs.rmSync(source, { force: true });
    }

    if (PARTS.has("stall")) {
      // 2. Training stall: the capture the step loop waits for, against one training step.
      const captures: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        const captured = await server.sessions.captureCheckpoint("big");
        captures.push(performance.now() - t0);
        captured.release();
      }
      const plain = await stepsPerSecond("big", 0);
      const saving = await stepsPerSecond("big", 4);
      const stepMs = 1000 / plain.rate;
      process.stdout.write(
        `training step (batch ${BATCH}) ${stepMs.toFixed(0)} ms; capture for an async save ${median(captures).toFixed(0)} ms = ` +
          `${((100 * median(captures)) / stepMs).toFixed(0)}% of a step; Train saving every 4 steps (${saving.saves} saves): ` +
          `${saving.rate.toFixed(2)} steps/s vs ${plain.rate.toFixed(2)} without saves, ratio ${(saving.rate / plain.rate).toFixed(2)}x\n`,
      );
    }

    if (!PARTS.has("write")) {
      const saved = await server.sessions.commitCheckpoint(await server.sessions.captureCheckpoint("big"));
      bytes = saved.manifest.files.reduce((n, f) => n + f.size, 0);
    }
    if (PARTS.has("restore")) {
      // 3. Restore against reading the checkpoint's bytes.
      const latest = (await client.listCheckpoints({ modelId: "big" })).checkpoints[0];
      const ckptDir = path.join(dir, "big", latest?.checkpointId ?? "");
      const reads: number[] = [];
      const freshReads: number[] = [];
      const passReads: number[] = [];
      const restores: number[] = [];
      // Two ways to read the bytes: readFileSync (Node's buffers, which may reuse memory the process
      // just freed: this bench saw 37-106 ms and 160-370 ms for the same 301 MB in different runs) and
      // into the same fresh page-aligned shared memory a restore reads into (the restored model keeps
      // it; its pages fault in on first touch, ~0.5 ms/MB on this VM).
      // `dd iflag=nocache count=0` drops a whole file's cached pages (posix_fadvise DONTNEED).
      const dropCache = () => {
        if (!COLD) return;
        for (const f of fs.readdirSync(ckptDir))
          execFileSync("dd", [`if=${path.join(ckptDir, f)}`, "iflag=nocache", "count=0", "status=none"]);
      };
      // Each timed operation starts without the garbage of the one before (a read leaves 301 MB to
      // collect, which otherwise lands in whatever comes next): a full collection, then a pause in
      // which the server's threads settle.
      v8.setFlagsFromString("--expose-gc");
      const gc = vm.runInNewContext("gc") as () => void;
      const settleMemory = async () => {
        gc();
        await sleep(100);
      };
      const readFiles = () => {
        dropCache();
        const t0 = performance.now();
        for (const f of fs.readdirSync(ckptDir)) fs.readFileSync(path.join(ckptDir, f));
        reads.push((performance.now() - t0) / 1000);
      };
      const readIntoFreshPages = () => {
        dropCache();
        const t0 = performance.now();
        for (const f of fs.readdirSync(ckptDir)) {
          const file = path.join(ckptDir, f);
          const size = fs.statSync(file).size;
          const into = new Uint8Array(alignedSharedBuffer(size), 0, size);
          const fd = fs.openSync(file, "r");
          try {
            for (let at = 0; at < size; ) at += fs.readSync(fd, into, at, size - at, at);
          } finally {
            fs.closeSync(fd);
          }
        }
        freshReads.push((performance.now() - t0) / 1000);
      };
      // A lower bound that keeps nothing: every byte through one reused 4 MiB buffer (as `cat` to
      // /dev/null), no page faults; a restore also hashes every byte and keeps them all.
      const passOver = Buffer.alloc(4 * 2 ** 20);
      const readThroughOneBuffer = () => {
        dropCache();
        const t0 = performance.now();
        for (const f of fs.readdirSync(ckptDir)) {
          const fd = fs.openSync(path.join(ckptDir, f), "r");
          try {
            while (fs.readSync(fd, passOver, 0, passOver.byteLength, null) > 0);
          } finally {
            fs.closeSync(fd);
          }
        }
        passReads.push((performance.now() - t0) / 1000);
      };
      const restore = async (i: number) => {
        dropCache();
        const t0 = performance.now();
        await client.restore({
          source: { $case: "checkpoint", checkpoint: { modelId: "big", checkpointId: "latest" } },
          targetModelId: `restored-${i}`,
          resume: false,
        });
        // Until it has answered once: the backend may upload restored weights on first use.
        await client.predict({
          modelId: `restored-${i}`,
          inputs: [floatTensor(new Float32Array(10), [1, 10], true)],
          rawOutput: true,
        });
        restores.push((performance.now() - t0) / 1000);
        await client.deleteModel({ modelId: `restored-${i}`, deleteCheckpoints: false });
      };
      const baselines = async () => {
        await settleMemory();
        readFiles();
        await settleMemory();
        readIntoFreshPages();
        await settleMemory();
        readThroughOneBuffer();
      };
      for (let i = 0; i < RESTORE_ROUNDS; i++) {
        if (i % 2 === 0) await baselines();
        await settleMemory();
        await restore(i);
        if (i % 2 === 1) await baselines();
      }
      const ms = (seconds: number) => `${(seconds * 1000).toFixed(0)} ms`;
      const ratios = (baseline: number[]) => {
        const r = restores.map((x, i) => x / (baseline[i] as number));
        return `ratio per round ${r.map((x) => x.toFixed(2)).join(", ")}; median ${median(r).toFixed(2)}x`;
      };
      process.stdout.write(
        `restore of ${mb(bytes)} (restore + first Predict, files ${READS}, page cache ${COLD ? "dropped before each" : "warm"}), ${RESTORE_ROUNDS} rounds alternating with reading its files:\n` +
          `  restore               ${restores.map(ms).join(", ")}\n` +
          `  readFileSync          ${reads.map(ms).join(", ")}; ${ratios(reads)}\n` +
          `  read into fresh pages ${freshReads.map(ms).join(", ")}; ${ratios(freshReads)}\n` +
          `  read, nothing kept    ${passReads.map(ms).join(", ")}; ${ratios(passReads)}\n`,
      );
    }
  } finally {
    client.close();
    await server.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
