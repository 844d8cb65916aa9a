// Health check latency while the server is busy: a 1M-row PredictStream and a training job keep
// both cores working while a client checks health every 20 ms; prints p50/p99/max, and the same
// with the server idle as the baseline. Goal: p99 < 10 ms under load.
// Run: npx tsx bench/health-under-load.ts
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "../src/cli/client.js";
import { regressionData } from "../src/cli/example-data.js";
import { classicDenseSpec } from "../src/cli/example-specs.js";
import { floatTensor } from "../src/cli/tensors.js";
import type { PredictStreamResponse } from "../src/gen/modelbay/v1/model_service.js";
import { silentLogger } from "../src/log.js";
import { startServer } from "../src/server.js";
import { runBench } from "./harness.js";

const SECONDS = 8;
const STREAM_ROWS = 1_000_000;

async function healthLatencies(address: string, seconds: number): Promise<number[]> {
  const probe = connect(address);
  const out: number[] = [];
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const t0 = performance.now();
    await probe.health("", { deadline: Date.now() + 5000 });
    out.push(performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  probe.close();
  return out.sort((a, b) => a - b);
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] as number;
const report = (label: string, xs: number[]) =>
  `${label}: ${xs.length} checks, p50 ${pct(xs, 50).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms, max ${(xs.at(-1) ?? 0).toFixed(2)} ms`;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-bench-"));
  const server = await startServer({ address: "127.0.0.1:0", checkpointDir: dir, log: silentLogger });
  const client = connect(server.address);
  try {
    await client.createModel({ modelId: "stream", spec: classicDenseSpec(1) });
    await client.createModel({ modelId: "train", spec: classicDenseSpec(2) });
    const idle = await healthLatencies(server.address, 3);
    process.stdout.write(`${report("idle", idle)}\n`);

    const { x, y } = regressionData(65_536);
    const rows = Float32Array.from({ length: STREAM_ROWS * 10 }, (_, i) => Math.sin(i));
    const stop = new AbortController();
    const training = (async () => {
      while (!stop.signal.aborted) {
        for await (const _ of client.train({
          modelId: "train",
          data: {
            source: {
              $case: "inline",
              inline: { x: floatTensor(x, [65_536, 10], true), y: floatTensor(y, [65_536, 1], true) },
            },
          },
          validationSplit: 0,
          epochs: 1,
          batchSize: 64,
          shuffle: true,
          seed: 1,
          progressIntervalMs: 0,
          detach: false,
        })) {
        }
      }
    })();
    let streamed = 0;
    const streaming = (async () => {
      while (!stop.signal.aborted) {
        const call = client.raw.predictStream({
          modelId: "stream",
          source: { $case: "rows", rows: floatTensor(rows, [STREAM_ROWS, 10], true) },
          chunkRows: 8192,
          startOffset: 0,
          rawOutput: true,
        });
        for await (const c of call as AsyncIterable<PredictStreamResponse>) streamed += c.outputs[0]?.shape[0] ?? 0;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const loaded = await healthLatencies(server.address, SECONDS);
    stop.abort();
    await Promise.all([training, streaming]);
    process.stdout.write(`${report(`under load (PredictStream ${streamed} rows + training)`, loaded)}\n`);
    process.stdout.write(`goal p99 < 10 ms: ${pct(loaded, 99) < 10 ? "met" : "NOT met"}\n`);
  } finally {
    client.close();
    await server.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
