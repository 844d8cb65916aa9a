// What --background-nice costs compute: two `modelbay serve` processes side by side, one as by
// default and one with every thread but its RPC thread at BACKGROUND_NICE (default 10), take the
// same work in alternating pairs (the order flips each round), from a client in this process:
//  - a 1M-row PredictStream from a .npy under the data root (rows/s);
//  - a 2-epoch Train of 32,768 inline rows in batches of 32 (samples/s);
//  - 16 closed-loop callers of 32-row Predicts of Dense(1024) -> Dense(1024) -> Dense(1) for 3 s,
//    the device at its capacity (Predicts/s).
// Prints each pair's ratio (lowered / default) and their median. bench/health-under-load.ts shows
// what the setting buys. Run: npx tsx bench/background-nice.ts   (ROUNDS=6, BACKGROUND_NICE=10)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type ModelbayClient } from "../src/cli/client.js";
import { regressionData } from "../src/cli/example-data.js";
import { classicDenseSpec, denseStackSpec } from "../src/cli/example-specs.js";
import { floatTensor } from "../src/cli/tensors.js";
import { writeNpy } from "../src/datasets/npy.js";
import type { PredictStreamResponse } from "../src/gen/modelbay/v1/model_service.js";
import { runBench } from "./harness.js";
import { type ServedForBench, serveForBench } from "./serve-process.js";

const ROUNDS = Number(process.env.ROUNDS ?? 6);
const LOWERED = Number(process.env.BACKGROUND_NICE ?? 10);
const STREAM_ROWS = 1_000_000;
const TRAIN_ROWS = 32_768;
const CALLERS = 16;

interface Served {
  nice: number;
  served: ServedForBench;
  client: ModelbayClient;
  dir: string;
}

/** `modelbay serve` with the seed model, a training model and a large model; its log is read until it listens. */
async function serve(nice: number): Promise<Served> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-bench-"));
  const rows = Float32Array.from({ length: STREAM_ROWS * 10 }, (_, i) => Math.sin(i));
  fs.writeFileSync(path.join(dir, "rows.npy"), writeNpy({ dtype: "float32", shape: [STREAM_ROWS, 10], data: rows }));
  const served = await serveForBench(dir, ["--background-nice", String(nice)]);
  const client = connect(served.address);
  await client.createModel({ modelId: "seed", spec: classicDenseSpec(1) });
  await client.createModel({ modelId: "train", spec: classicDenseSpec(2) });
  await client.createModel({ modelId: "large", spec: denseStackSpec([1024, 1024]) });
  return { nice, served, client, dir };
}

async function stop(s: Served): Promise<void> {
  s.client.close();
  await s.served.stop();
  fs.rmSync(s.dir, { recursive: true, force: true });
}

const { x, y } = regressionData(TRAIN_ROWS);
const predictRows = floatTensor(
  Float32Array.from({ length: 32 * 10 }, (_, i) => Math.sin(i)),
  [32, 10],
  true,
);

/** The three workloads, each returning its rate. */
const WORK = {
  "PredictStream rows/s": async (client: ModelbayClient) => {
    const started = performance.now();
    let rows = 0;
    const call = client.raw.predictStream({
      modelId: "seed",
      source: { $case: "dataPath", dataPath: "rows.npy" },
      chunkRows: 8192,
      startOffset: 0,
      rawOutput: true,
    });
    for await (const c of call as AsyncIterable<PredictStreamResponse>) rows += c.outputs[0]?.shape[0] ?? 0;
    return rows / ((performance.now() - started) / 1000);
  },
  "Train samples/s": async (client: ModelbayClient) => {
    const started = performance.now();
    for await (const _ of client.train({
      modelId: "train",
      data: {
        source: {
          $case: "inline",
          inline: { x: floatTensor(x, [TRAIN_ROWS, 10], true), y: floatTensor(y, [TRAIN_ROWS, 1], true) },
        },
      },
      validationSplit: 0,
      epochs: 2,
      batchSize: 32,
      shuffle: true,
      seed: 1,
      progressIntervalMs: 0,
      detach: false,
    })) {
    }
    return (2 * TRAIN_ROWS) / ((performance.now() - started) / 1000);
  },
  "Predicts/s at capacity": async (client: ModelbayClient) => {
    const seconds = 3;
    const end = performance.now() + seconds * 1000;
    let done = 0;
    await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        while (performance.now() < end) {
          await client.predict({ modelId: "large", inputs: [predictRows], rawOutput: true });
          done++;
        }
      }),
    );
    return done / seconds;
  },
} as const;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main() {
  const base = await serve(0);
  const lowered = await serve(LOWERED);
  try {
    for (const [name, work] of Object.entries(WORK)) {
      // One untimed run each: the first call builds the graph.
      await work(base.client);
      await work(lowered.client);
      const ratios: number[] = [];
      const pairs: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const rate = new Map<number, number>();
        for (const s of round % 2 === 0 ? [base, lowered] : [lowered, base]) rate.set(s.nice, await work(s.client));
        const [b, l] = [rate.get(0) as number, rate.get(LOWERED) as number];
        ratios.push(l / b);
        pairs.push(`${b.toFixed(0)} / ${l.toFixed(0)}`);
      }
      process.stdout.write(
        `${name}, default / --background-nice ${LOWERED}: ${pairs.join(", ")}; ` +
          `ratio per pair ${ratios.map((r) => r.toFixed(2)).join(", ")}; median ${median(ratios).toFixed(2)}x\n`,
      );
    }
  } finally {
    await Promise.all([stop(base), stop(lowered)]);
  }
}

runBench(main);
