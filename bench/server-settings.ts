// What a server setting costs or buys compute: two `modelbay serve` processes side by side, one
// started with A and one with B, take the same work in alternating pairs (the order flips each
// round), from a client in this process. A and B are server flags and/or VAR=value environment
// settings, e.g. B="--background-nice 10" (the default; A is the default server) or
// B="TF_NUM_INTRAOP_THREADS=1". The work:
//  - a 1M-row PredictStream of the seed model from a .npy under the data root (rows/s);
//  - a 2-epoch Train of the seed model, 32,768 inline rows in batches of 32 (samples/s);
//  - a 2-epoch Train of Dense(1024) -> Dense(1024) -> Dense(1), 4,096 rows in batches of 256;
//  - 16 closed-loop callers of 32-row Predicts of that large model for 3 s, the device at its
//    capacity (Predicts/s);
//  - one caller of 8,192-row Predicts of the large model (Predicts/s), where one call's matrix
//    products are large enough for TensorFlow to split across its threads.
// Prints each pair's ratio (B / A) and their median. bench/health-under-load.ts shows what
// --background-nice buys. Run: npx tsx bench/server-settings.ts   (ROUNDS=4, A="", B=..., WORK=substring)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type ModelbayClient } from "../src/cli/client.js";
import { regressionData } from "../src/cli/example-data.js";
import { classicDenseSpec, denseStackSpec } from "../src/cli/example-specs.js";
import { floatTensor, inlineXY } from "../src/cli/tensors.js";
import { writeNpy } from "../src/datasets/npy.js";
import type { PredictStreamResponse } from "../src/gen/modelbay/v1/model_service.js";
import { closedLoopRate, median, runBench } from "./harness.js";
import { type ServedForBench, serveForBench } from "./serve-process.js";

const ROUNDS = Number(process.env.ROUNDS ?? 4);
const A = process.env.A ?? "";
const B = process.env.B ?? "--background-nice 10";
const ONLY = process.env.WORK ?? "";
const STREAM_ROWS = 1_000_000;
const TRAIN_ROWS = 32_768;
const LARGE_TRAIN_ROWS = 4_096;
const CALLERS = 16;

interface Served {
  served: ServedForBench;
  client: ModelbayClient;
  dir: string;
}

/** `modelbay serve` with the seed model, a training model and two large models; its log is read until it listens. */
async function serve(text: string): Promise<Served> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-bench-"));
  const rows = Float32Array.from({ length: STREAM_ROWS * 10 }, (_, i) => Math.sin(i));
  fs.writeFileSync(path.join(dir, "rows.npy"), writeNpy({ dtype: "float32", shape: [STREAM_ROWS, 10], data: rows }));
  const served = await serveForBench(dir, text);
  const client = connect(served.address);
  await client.createModel({ modelId: "seed", spec: classicDenseSpec(1) });
  await client.createModel({ modelId: "train", spec: classicDenseSpec(2) });
  await client.createModel({ modelId: "large", spec: denseStackSpec([1024, 1024]) });
  await client.createModel({ modelId: "large-train", spec: denseStackSpec([1024, 1024], 3) });
  return { served, client, dir };
}

async function stop(s: Served): Promise<void> {
  s.client.close();
  await s.served.stop();
  fs.rmSync(s.dir, { recursive: true, force: true });
}

const { x, y } = regressionData(TRAIN_ROWS);
const rowsOf = (n: number) =>
  floatTensor(
    Float32Array.from({ length: n * 10 }, (_, i) => Math.sin(i)),
    [n, 10],
    true,
  );
const rows32 = rowsOf(32);
const rows8192 = rowsOf(8192);

/** Two epochs of `rows` examples in batches of `batchSize`, in samples/s. */
async function train(client: ModelbayClient, modelId: string, rows: number, batchSize: number): Promise<number> {
  const started = performance.now();
  for await (const _ of client.train({
    modelId,
    data: inlineXY(
      floatTensor(x.subarray(0, rows * 10), [rows, 10], true),
      floatTensor(y.subarray(0, rows), [rows, 1], true),
    ),
    validationSplit: 0,
    epochs: 2,
    batchSize,
    shuffle: true,
    seed: 1,
    progressIntervalMs: 0,
    detach: false,
  })) {
  }
  return (2 * rows) / ((performance.now() - started) / 1000);
}

/** Predicts of `rows` rows of the large model from `callers` closed-loop callers for `seconds`, per second. */
function predicts(client: ModelbayClient, rows: ReturnType<typeof rowsOf>, callers: number, seconds: number) {
  return closedLoopRate(callers, seconds * 1000, () =>
    client.predict({ modelId: "large", inputs: [rows], rawOutput: true }),
  );
}

/** The workloads, each returning its rate. */
const WORK: Record<string, (client: ModelbayClient) => Promise<number>> = {
  "PredictStream rows/s": async (client) => {
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
  "Train seed samples/s": (client) => train(client, "train", TRAIN_ROWS, 32),
  "Train large samples/s": (client) => train(client, "large-train", LARGE_TRAIN_ROWS, 256),
  "Predicts/s at capacity": (client) => predicts(client, rows32, CALLERS, 3),
  "8192-row Predicts/s": (client) => predicts(client, rows8192, 1, 3),
};

/** A rate to three significant digits (or whole, from 1,000 up). */
const rate3 = (r: number) => (r >= 1000 ? r.toFixed(0) : r.toPrecision(3));

async function main() {
  process.stdout.write(`A: "${A}", B: "${B}", ${ROUNDS} rounds\n`);
  const a = await serve(A);
  const b = await serve(B);
  try {
    for (const [name, work] of Object.entries(WORK).filter(([name]) => name.includes(ONLY))) {
      // One untimed run each: the first call builds the graph.
      await work(a.client);
      await work(b.client);
      const ratios: number[] = [];
      const pairs: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const rate = new Map<Served, number>();
        for (const s of round % 2 === 0 ? [a, b] : [b, a]) rate.set(s, await work(s.client));
        const [ra, rb] = [rate.get(a) as number, rate.get(b) as number];
        ratios.push(rb / ra);
        pairs.push(`${rate3(ra)} / ${rate3(rb)}`);
      }
      process.stdout.write(
        `${name}, A / B: ${pairs.join(", ")}; ratio per pair ${ratios.map((r) => r.toFixed(2)).join(", ")}; ` +
          `median ${median(ratios).toFixed(2)}x\n`,
      );
    }
  } finally {
    await Promise.all([stop(a), stop(b)]);
  }
}

runBench(main);
