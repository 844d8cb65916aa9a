// PredictStream end to end over loopback against modelbay's own in-process predict of the same
// rows, in one run: 1M rows of the seed model, raw bytes both ways. Run: npx tsx bench/predict-stream.ts

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "../src/cli/client.js";
import { classicDenseSpec } from "../src/cli/example-specs.js";
import { floatTensor } from "../src/cli/tensors.js";
import { predictOne } from "../src/compute/engine.js";
import { writeNpy } from "../src/datasets/npy.js";
import type { PredictStreamResponse } from "../src/gen/modelbay/v1/model_service.js";
import { silentLogger } from "../src/log.js";
import { startServer } from "../src/server.js";
import { runBench } from "./harness.js";

const ROWS = Number(process.env.ROWS ?? 1_000_000);
const CHUNK = 8192;
let firstChunkSeconds = 0;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-bench-"));
  const server = await startServer({ address: "127.0.0.1:0", checkpointDir: dir, dataDir: dir, log: silentLogger });
  const client = connect(server.address);
  try {
    await client.createModel({ modelId: "seed", spec: classicDenseSpec(1) });
    let s = 1;
    const x = Float32Array.from({ length: ROWS * 10 }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 31 - 1;
    });
    const model = server.sessions.get("seed").model;
    const inProcess = async () => {
      const t0 = performance.now();
      for (let o = 0; o < ROWS; o += CHUNK) {
        const n = Math.min(CHUNK, ROWS - o);
        await predictOne(model, { dtype: "float32", shape: [n, 10], data: x.subarray(o * 10, (o + n) * 10) });
      }
      return (performance.now() - t0) / 1000;
    };
    fs.writeFileSync(path.join(dir, "rows.npy"), writeNpy({ dtype: "float32", shape: [ROWS, 10], data: x }));
    const streamed = async (inline: boolean) => {
      const t0 = performance.now();
      let rows = 0;
      const call = client.raw.predictStream({
        modelId: "seed",
        source: inline
          ? { $case: "rows", rows: floatTensor(x, [ROWS, 10], true) }
          : { $case: "dataPath", dataPath: "rows.npy" },
        chunkRows: CHUNK,
        startOffset: 0,
        rawOutput: true,
      });
      for await (const c of call as AsyncIterable<PredictStreamResponse>) {
        if (rows === 0) firstChunkSeconds = (performance.now() - t0) / 1000;
        rows += c.outputs[0]?.shape[0] ?? 0;
      }
      if (rows !== ROWS) throw new Error(`got ${rows} rows`);
      return (performance.now() - t0) / 1000;
    };
    await inProcess();
    await streamed(true);
    const a = Math.min(await inProcess(), await inProcess());
    process.stdout.write(
      `compute-seam predict (device worker, no gRPC) of ${ROWS} rows in chunks of ${CHUNK}: ${(ROWS / a).toFixed(0)} rows/s (best of 2)\n`,
    );
    for (const inline of [true, false]) {
      const b = Math.min(await streamed(inline), await streamed(inline));
      process.stdout.write(
        `PredictStream, rows ${inline ? "inline in the request (40 MB upload)" : "from a server-side .npy (data_path)"}, raw output, loopback: ` +
          `${(ROWS / b).toFixed(0)} rows/s, ratio to the compute seam ${(a / b).toFixed(2)}x; first chunk after ${(firstChunkSeconds * 1000).toFixed(0)} ms\n`,
      );
    }
    // Memory while streaming from a file: the process (server, its device worker and this client)
    // should stay near its baseline, since only a few chunks are ever in flight.
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    await streamed(false);
    clearInterval(sampler);
    process.stdout.write(
      `RSS while streaming ${ROWS} rows from data_path: baseline ${(baseline / 2 ** 20).toFixed(0)} MiB, peak ${(peak / 2 ** 20).toFixed(0)} MiB ` +
        `(+${((peak - baseline) / 2 ** 20).toFixed(0)} MiB; the rows alone are ${((ROWS * 40) / 2 ** 20).toFixed(0)} MiB, their outputs ${((ROWS * 4) / 2 ** 20).toFixed(0)} MiB)\n`,
    );
  } finally {
    client.close();
    await server.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
