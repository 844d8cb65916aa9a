// Predict of a convolution stack in batches sized by its activations (src/compute/predict-batch.ts)
// against the fixed 8192-row batch modelbay used before, in one process, alternating. Reports time
// and how far each run raised the process's peak RSS; the sized batch runs first in each pair, as a
// peak only ever rises. Run: npx tsx bench/predict-batch.ts (ROWS, PAIRS to change the size).
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/compute/backend.js";
import { FORWARD_CHUNK_ROWS } from "../src/compute/dense-forward.js";
import { activationElementsPerRow, PREDICT_ACTIVATION_BYTES, predictBatchRows } from "../src/compute/predict-batch.js";
import { runBench } from "./harness.js";

const ROWS = Number(process.env.ROWS ?? 3000);
const PAIRS = Number(process.env.PAIRS ?? 2);

const conv = (extra: object) => ({
  class_name: "Conv2D",
  config: { filters: 64, kernel_size: 3, padding: "same", activation: "relu", ...extra },
});
const topology = {
  class_name: "Sequential",
  config: {
    name: "conv",
    layers: [
      conv({ batch_input_shape: [null, 32, 32, 3] }),
      conv({}),
      { class_name: "GlobalAveragePooling2D", config: {} },
      { class_name: "Dense", config: { units: 1 } },
    ],
  },
};

async function timed(model: tf.LayersModel, x: tf.Tensor, batchSize: number) {
  const before = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  const y = model.predict(x, { batchSize }) as tf.Tensor;
  await y.data();
  y.dispose();
  return { ms: performance.now() - t0, peakMiB: (process.resourceUsage().maxRSS - before) / 1024 };
}

runBench(async () => {
  await initBackend("auto");
  const model = await tf.models.modelFromJSON({ modelTopology: topology } as unknown as tf.io.ModelJSON);
  const x = tf.randomUniform([ROWS, 32, 32, 3]);
  const perRow = activationElementsPerRow(model);
  const sized = predictBatchRows(perRow, 32 * 32 * 3);
  console.log(
    `Conv2D(64) x2 over ${ROWS} rows of 32x32x3 (${((ROWS * 3072 * 4) / 2 ** 20).toFixed(0)} MiB): ` +
      `${perRow} activation elements per row, budget ${PREDICT_ACTIVATION_BYTES / 2 ** 20} MiB -> batches of ${sized} rows`,
  );
  await timed(model, x.slice(0, 64), sized); // warm-up
  for (let pair = 1; pair <= PAIRS; pair++) {
    const a = await timed(model, x, sized);
    const b = await timed(model, x, FORWARD_CHUNK_ROWS);
    console.log(
      `pair ${pair}: sized ${a.ms.toFixed(0)} ms (peak +${a.peakMiB.toFixed(0)} MiB), ` +
        `${FORWARD_CHUNK_ROWS} rows ${b.ms.toFixed(0)} ms (peak +${b.peakMiB.toFixed(0)} MiB); ` +
        `speed ratio ${(b.ms / a.ms).toFixed(2)}x`,
    );
  }
});
