// Child process for test/restore-memory.test.ts: checkpoints a ~25 MB model (75 MB with Adam's
// slots), then restores and deletes it `argv[2]` times over loopback, and prints the bytes of
// ArrayBuffers and SharedArrayBuffers still allocated afterwards, against the checkpoint's size.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "../../src/cli/client.js";
import { regressionData } from "../../src/cli/example-data.js";
import { denseStackSpec } from "../../src/cli/example-specs.js";
import { floatTensor } from "../../src/cli/tensors.js";
import { silentLogger } from "../../src/log.js";
import { startServer } from "../../src/server.js";

const rounds = Number(process.argv[2] ?? 6);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-restore-memory-"));
const server = await startServer({ address: "127.0.0.1:0", checkpointDir: dir, log: silentLogger });
const client = connect(server.address);
try {
  await client.createModel({ modelId: "m", spec: denseStackSpec([2500, 2500], 3) });
  const { x, y } = regressionData(256);
  const inline = { x: floatTensor(x, [256, 10], true), y: floatTensor(y, [256, 1], true) };
  for await (const _ of client.train({
    modelId: "m",
    data: { source: { $case: "inline", inline } },
    validationSplit: 0,
    epochs: 1,
    batchSize: 256,
    shuffle: false,
    seed: 1,
    progressIntervalMs: 0,
    detach: false,
  })) {
  }
  const saved = await client.checkpoint({ modelId: "m" });
  const checkpointBytes = saved.checkpoint?.sizeBytes ?? 0;
  for (let i = 0; i < rounds; i++) {
    await client.restore({
      source: { $case: "checkpoint", checkpoint: { modelId: "m", checkpointId: "latest" } },
      targetModelId: `r${i}`,
      resume: false,
    });
    await client.deleteModel({ modelId: `r${i}`, deleteCheckpoints: false });
  }
  // Collections requested by the threads run once their current work is done.
  await new Promise((resolve) => setTimeout(resolve, 500));
  process.stdout.write(`${JSON.stringify({ checkpointBytes, arrayBuffers: process.memoryUsage().arrayBuffers })}\n`);
} finally {
  client.close();
  await server.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
}
