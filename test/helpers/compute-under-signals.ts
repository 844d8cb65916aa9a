// Child process for test/signal-safety.test.ts: trains and predicts with the in-process engine
// (TensorFlow's matrix kernels on this thread and its pool) while the parent sends it signals that
// a handler catches, as a profiler, SIGCHLD or a shutdown signal would. Prints one line at the end.
import { specFromWire } from "../../src/api/spec-codec.js";
import { regressionData } from "../../src/cli/example-data.js";
import { denseStackSpec } from "../../src/cli/example-specs.js";
import { predictOne } from "../../src/compute/engine.js";
import { createInProcessEngine } from "../../src/compute/in-process-engine.js";

const ROWS = 4096;
const SECONDS = Number(process.argv[2] ?? 3);

let signals = 0;
process.on("SIGUSR2", () => {
  signals++;
});

const engine = await createInProcessEngine("auto");
const model = await engine.buildModel(specFromWire(denseStackSpec([512, 512], 3)));
const { x, y } = regressionData(ROWS);
const trainer = await model.createTrainer(
  [{ dtype: "float32", shape: [ROWS, 10], data: x }],
  [{ dtype: "float32", shape: [ROWS, 1], data: y }],
  { batchSize: 256, loss: "mean_squared_error", metrics: [] },
);
process.stdout.write("ready\n");
const until = performance.now() + SECONDS * 1000;
let steps = 0;
while (performance.now() < until) {
  steps += (await trainer.runBatches(null, 0, trainer.batchesPerEpoch)).steps;
  await predictOne(model, { dtype: "float32", shape: [ROWS, 10], data: x });
  // Signal handlers' JavaScript runs on an event-loop turn (libuv's C handler ran at once).
  await new Promise((resolve) => setImmediate(resolve));
}
trainer.dispose();
model.dispose();
process.stdout.write(`done steps=${steps} signals=${signals}\n`);
// The parent stops signalling when it reads that line; signals already on their way must still find
// the handler (without one, SIGUSR2 would end the process).
await new Promise((resolve) => setTimeout(resolve, 500));
