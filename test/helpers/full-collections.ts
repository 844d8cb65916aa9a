// Child process for test/heap-growth.test.ts: starts a server with the heap growing percent given as
// argv[2] ("default": the server's default), streams predictions of a .npy under its data root for argv[3] seconds from a client in
// this process, and prints how many full collections this (the RPC) thread ran meanwhile.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { constants, PerformanceObserver } from "node:perf_hooks";
import { connect } from "../../src/cli/client.js";
import { classicDenseSpec } from "../../src/cli/example-specs.js";
import { writeNpy } from "../../src/datasets/npy.js";
import type { PredictStreamResponse } from "../../src/gen/modelbay/v1/model_service.js";
import { silentLogger } from "../../src/log.js";
import { startServer } from "../../src/server.js";

const [percent = "default", seconds = "3"] = process.argv.slice(2);
const ROWS = 200_000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-full-gc-"));
const server = await startServer({
  address: "127.0.0.1:0",
  checkpointDir: dir,
  dataDir: dir,
  ...(percent === "default" ? {} : { heapGrowingPercent: Number(percent) }),
  log: silentLogger,
});
const client = connect(server.address);
await client.createModel({ modelId: "m", spec: classicDenseSpec(1) });
const rows = Float32Array.from({ length: ROWS * 10 }, (_, i) => Math.sin(i));
fs.writeFileSync(path.join(dir, "rows.npy"), writeNpy({ dtype: "float32", shape: [ROWS, 10], data: rows }));

let full = 0;
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const { detail } = e as { detail?: { kind?: number } };
    if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) full++;
  }
});
observer.observe({ entryTypes: ["gc"] });
let streamed = 0;
const until = performance.now() + Number(seconds) * 1000;
while (performance.now() < until) {
  const call = client.raw.predictStream({
    modelId: "m",
    source: { $case: "dataPath", dataPath: "rows.npy" },
    chunkRows: 8192,
    startOffset: 0,
    rawOutput: true,
  });
  for await (const c of call as AsyncIterable<PredictStreamResponse>) streamed += c.outputs[0]?.shape[0] ?? 0;
}
// gc entries arrive in a later task.
await new Promise((resolve) => setTimeout(resolve, 100));
observer.disconnect();
client.close();
await server.shutdown();
fs.rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({ full, streamed })}\n`);
