// Child process for test/restore-memory.test.ts: checkpoints a ~36 MB model (108 MB with Adam's
// slots), then restores and deletes it `argv[2]` times over loopback, and prints how much the
// process grew from the first round to the last (resident memory: the files are read into shared
// WebAssembly memory, which Node's arrayBuffers figure leaves out), against the checkpoint's size;
// how much it grew during the first Predict after the first restore; and how much it grew over as
// many more checkpoints of the model (their chunks leave the device through shared memory too).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "../../src/cli/client.js";
import { regressionData } from "../../src/cli/example-data.js";
import { denseStackSpec } from "../../src/cli/example-specs.js";
import { floatTensor } from "../../src/cli/tensors.js";
import { silentLogger } from "../../src/log.js";
import { startServer } from "../../src/server.js";
import { inlineXY } from "./tensors.js";

const rounds = Number(process.argv[2] ?? 6);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-restore-memory-"));
const server = await startServer({ address: "127.0.0.1:0", checkpointDir: dir, log: silentLogger });
const client = connect(server.address);
try {
  await client.createModel({ modelId: "m", spec: denseStackSpec([3000, 3000], 3) });
  const { x, y } = regressionData(256);
  for await (const _ of client.train({
    modelId: "m",
    data: inlineXY(floatTensor(x, [256, 10], true), floatTensor(y, [256, 1], true)),
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
  let firstPredictGrowth = 0;
  let afterFirstRound = 0;
  for (let i = 0; i < rounds; i++) {
    await client.restore({
      source: { $case: "checkpoint", checkpoint: { modelId: "m", checkpointId: "latest" } },
      targetModelId: `r${i}`,
      resume: false,
    });
    if (i === 0) {
      // Once the restore's own collections have run.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const before = process.memoryUsage().rss;
      await client.predict({
        modelId: "r0",
        inputs: [floatTensor(new Float32Array(10), [1, 10], true)],
        rawOutput: true,
      });
      firstPredictGrowth = process.memoryUsage().rss - before;
    }
    await client.deleteModel({ modelId: `r${i}`, deleteCheckpoints: false });
    // Collections requested by the threads run once their current work is done.
    await new Promise((resolve) => setTimeout(resolve, 300));
    if (i === 0) afterFirstRound = process.memoryUsage().rss;
  }
  const growth = process.memoryUsage().rss - afterFirstRound;
  // Then as many checkpoints of the model, each deleted once written (as retention would).
  let afterFirstCommit = 0;
  for (let i = 0; i < rounds; i++) {
    const c = await client.checkpoint({ modelId: "m" });
    await client.deleteCheckpoint({ modelId: "m", checkpointId: c.checkpoint?.checkpointId ?? "", force: true });
    if (i === 0) afterFirstCommit = process.memoryUsage().rss;
  }
  const weightBytes = (await client.getModel({ modelId: "m" })).model?.parameterCount ?? 0;
  process.stdout.write(
    `${JSON.stringify({
      checkpointBytes,
      growth,
      commitGrowth: process.memoryUsage().rss - afterFirstCommit,
      firstPredictGrowth,
      weightBytes: 4 * weightBytes,
    })}\n`,
  );
} finally {
  client.close();
  await server.shutdown();
  fs.rmSync(dir, { recursive: true, force: true });
}
