// Training through the Train RPC (events streamed over loopback) against the compute layer's own
// training loop on the same model, data and batch size, in one run: the stream must cost almost
// nothing (goal >= 0.95x), and progress events at the default interval no measurable slowdown.
// The compute layer is timed over its loop and, as the RPC must also do, with the trainer's set-up
// (the rows into the device worker, the train graph's session): ~20 ms, which the loop-only ratio
// counts against the stream. Run: npx tsx bench/train-api.ts
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "../src/cli/client.js";
import { regressionData } from "../src/cli/example-data.js";
import { classicDenseSpec } from "../src/cli/example-specs.js";
import { floatTensor, inlineXY } from "../src/cli/tensors.js";
import { silentLogger } from "../src/log.js";
import { startServer } from "../src/server.js";
import { runBench } from "./harness.js";

const ROWS = 32_768;
const BATCH = 32;
const EPOCHS = 2;
const ROUNDS = 3;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-bench-"));
  const server = await startServer({ address: "127.0.0.1:0", checkpointDir: dir, log: silentLogger });
  const client = connect(server.address);
  const { x, y } = regressionData(ROWS);
  try {
    await client.createModel({ modelId: "m", spec: classicDenseSpec(1) });
    const model = server.sessions.get("m").model;
    // The compute layer alone: the same trainer the job uses, run in chunks of ~100 ms like the job.
    const computeLayer = async () => {
      const s0 = performance.now();
      const trainer = await model.createTrainer(
        [{ dtype: "float32", shape: [ROWS, 10], data: x }],
        [{ dtype: "float32", shape: [ROWS, 1], data: y }],
        { batchSize: BATCH, loss: "mean_squared_error", metrics: [] },
      );
      const t0 = performance.now();
      for (let e = 0; e < EPOCHS; e++) {
        for (let b = 0, chunk = 1; b < trainer.batchesPerEpoch; ) {
          const c0 = performance.now();
          const r = await trainer.runBatches(null, b, Math.min(chunk, trainer.batchesPerEpoch - b));
          const ms = performance.now() - c0;
          chunk = ms < 50 ? chunk * 2 : ms > 200 ? Math.max(1, chunk >> 1) : chunk;
          b += r.steps;
        }
      }
      const end = performance.now();
      trainer.dispose();
      return { loop: (ROWS * EPOCHS) / ((end - t0) / 1000), withSetup: (ROWS * EPOCHS) / ((end - s0) / 1000) };
    };
    const api = async (progressIntervalMs: number) => {
      const t0 = performance.now();
      let events = 0;
      for await (const _ of client.train({
        modelId: "m",
        data: inlineXY(floatTensor(x, [ROWS, 10], true), floatTensor(y, [ROWS, 1], true)),
        validationSplit: 0,
        epochs: EPOCHS,
        batchSize: BATCH,
        shuffle: false,
        seed: 1,
        progressIntervalMs,
        detach: false,
      })) {
        events++;
      }
      return { rate: (ROWS * EPOCHS) / ((performance.now() - t0) / 1000), events };
    };
    await computeLayer();
    const results: { c: number; cs: number; d: number; d1: number; events: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const c = await computeLayer();
      const d = await api(0); // 0 means the default interval (500 ms)
      const d1 = await api(1); // an event after every chunk
      results.push({ c: c.loop, cs: c.withSetup, d: d.rate, d1: d1.rate, events: d1.events });
      process.stdout.write(
        `round ${r + 1}: compute layer ${c.loop.toFixed(0)} samples/s (${c.withSetup.toFixed(0)} with set-up); ` +
          `Train RPC (default progress) ${d.rate.toFixed(0)} = ${(d.rate / c.loop).toFixed(3)}x (${(d.rate / c.withSetup).toFixed(3)}x); ` +
          `Train RPC (progress every chunk, ${d1.events} events) ${d1.rate.toFixed(0)} = ${(d1.rate / c.loop).toFixed(3)}x (${(d1.rate / c.withSetup).toFixed(3)}x)\n`,
      );
    }
    const med = (f: (x: (typeof results)[number]) => number) => results.map(f).sort((a, b) => a - b)[1] as number;
    process.stdout.write(
      `median: Train RPC / compute layer ${med((r) => r.d / r.c).toFixed(3)}x (default progress), ${med((r) => r.d1 / r.c).toFixed(3)}x (progress every chunk); ` +
        `against the compute layer with its set-up ${med((r) => r.d / r.cs).toFixed(3)}x and ${med((r) => r.d1 / r.cs).toFixed(3)}x\n`,
    );
  } finally {
    client.close();
    await server.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
