// The README's first command: the classic TensorFlow recipe through the API on an in-process
// server with a local checkpoint store: build, train with live progress and a checkpoint every
// epoch, stop the server, start a new one on the same store, restore the latest checkpoint,
// verify it predicts what the trained model predicted, and continue training from it.
import fs from "node:fs";
import path from "node:path";
import { Metric } from "../gen/modelbay/v1/model.js";
import type { PredictStreamResponse } from "../gen/modelbay/v1/model_service.js";
import type { Tensor } from "../gen/modelbay/v1/tensor.js";
import type { TrainRequest } from "../gen/modelbay/v1/training.js";
import { silentLogger } from "../log.js";
import { type RunningServer, startServer } from "../server.js";
import { connect, type ModelbayClient } from "./client.js";
import { regressionData } from "./example-data.js";
import { classicDenseSpec, customBlockSpec } from "./example-specs.js";
import { ProgressLine } from "./progress.js";
import { floatTensor, inlineXY } from "./tensors.js";

const say = (line: string) => process.stdout.write(`${line}\n`);

function trainRequest(modelId: string, epochs: number): TrainRequest {
  const rows = 20_000;
  const { x, y } = regressionData(rows, 7);
  return {
    modelId,
    data: inlineXY(floatTensor(x, [rows, 10]), floatTensor(y, [rows, 1])),
    validationSplit: 0.1,
    epochs,
    batchSize: 32,
    shuffle: true,
    seed: 42,
    checkpointPolicy: { everyEpochs: 1, everySteps: 0, everySeconds: 0, onBest: false, monitor: "" },
    progressIntervalMs: 200,
    detach: false,
  };
}

async function train(client: ModelbayClient, req: TrainRequest): Promise<void> {
  const bar = new ProgressLine(process.stdout);
  for await (const e of client.train(req)) {
    const ev = e.event;
    if (!ev) continue;
    if (ev.$case === "progress") {
      const p = ev.progress;
      bar.update(
        p.percent,
        `epoch ${p.epoch}/${req.epochs} loss ${p.loss.toFixed(4)} ${Math.round(p.samplesPerSecond)} samples/s ETA ${p.etaSeconds.toFixed(1)}s`,
      );
    } else if (ev.$case === "epochEnd") {
      const m = ev.epochEnd;
      bar.log(
        `epoch ${m.epoch}: loss ${m.loss.toFixed(5)}, val_loss ${m.metrics.val_loss?.toFixed(5)}, mae ${m.metrics.mae?.toFixed(4)}`,
      );
    } else if (ev.$case === "checkpointSaved") {
      bar.log(`  checkpoint ${ev.checkpointSaved.checkpointId} saved (${ev.checkpointSaved.reason})`);
    } else if (ev.$case === "completed") {
      bar.done(`completed ${ev.completed.epochs} epochs in ${ev.completed.durationSeconds.toFixed(1)}s`);
    } else if (ev.$case === "failed") {
      bar.done("");
      throw new Error(`training failed: ${ev.failed.message}`);
    }
  }
}

async function streamRows(client: ModelbayClient, rows: number): Promise<void> {
  const x = regressionData(rows, 5).x;
  const started = performance.now();
  const bar = new ProgressLine(process.stdout);
  let received = 0;
  let expectedOffset = 0;
  const call = client.raw.predictStream({
    modelId: "classic",
    source: { $case: "rows", rows: floatTensor(x, [rows, 10], true) },
    chunkRows: 8192,
    startOffset: 0,
    rawOutput: true,
  });
  for await (const chunk of call as AsyncIterable<PredictStreamResponse>) {
    if (chunk.offset !== expectedOffset) throw new Error(`chunk at ${chunk.offset}, expected ${expectedOffset}`);
    const n = chunk.outputs[0]?.shape[0] ?? 0;
    expectedOffset += n;
    received += n;
    const seconds = (performance.now() - started) / 1000;
    bar.update((100 * received) / rows, `${received}/${rows} rows, ${Math.round(received / seconds)} rows/s`);
  }
  const seconds = (performance.now() - started) / 1000;
  bar.done(`   ${received} rows in ${seconds.toFixed(2)}s (${Math.round(received / seconds)} rows/s), in order`);
}

const rowsOf = (values: number[], width: number) =>
  Array.from({ length: values.length / width }, (_, r) =>
    values
      .slice(r * width, (r + 1) * width)
      .map((v) => v.toFixed(4))
      .join(" "),
  );

/** The server the demo talks to; step 4 replaces it with a fresh one on the same store. */
interface Live {
  server: RunningServer;
  client: ModelbayClient;
}

async function main(): Promise<void> {
  const store = path.resolve("modelbay-data", "demo-checkpoints");
  fs.rmSync(store, { recursive: true, force: true });
  const start = async (): Promise<Live> => {
    const server = await startServer({ address: "127.0.0.1:0", checkpointDir: store, log: silentLogger });
    return { server, client: connect(server.address) };
  };
  const live = await start();
  try {
    await walkThrough(live, start, store);
  } finally {
    live.client.close();
    await live.server.shutdown();
  }
}

async function walkThrough(live: Live, start: () => Promise<Live>, store: string): Promise<void> {
  let { server, client } = live;
  const info = await client.getServerInfo({});
  say(`modelbay demo: server on ${server.address}, health ${await client.health()}`);
  say(
    `backend: ${info.backend}${info.tensorflowVersion ? ` (TensorFlow ${info.tensorflowVersion})` : ""}, tfjs ${info.tfjsVersion}; checkpoints in ${store}\n`,
  );

  const spec = classicDenseSpec(42);
  const compile = spec.compile;
  if (compile) compile.metrics = [Metric.METRIC_MEAN_ABSOLUTE_ERROR];
  const { model } = await client.createModel({ modelId: "classic", spec });
  say(`1. created "classic": Dense(128, relu, input 10) -> Dense(1), adam/mse, ${model?.parameterCount} parameters`);
  const custom = await client.createModel({ modelId: "custom-block", spec: customBlockSpec() });
  say(
    `   created "custom-block": a reusable block wrapping Dense(64, relu), placed twice, -> Dense(1), ${custom.model?.parameterCount} parameters\n`,
  );

  say("2. train 3 epochs, checkpoint every epoch");
  await train(client, trainRequest("classic", 3));

  const batch = regressionData(10, 99).x;
  const input: Tensor = floatTensor(batch, [10, 10], true);
  const trained = (await client.predict({ modelId: "classic", inputs: [input], rawOutput: false })).outputs[0];
  say(`\n3. predict a 10x10 batch: [${trained?.shape.join(", ")}] ${rowsOf(trained?.floatValues ?? [], 1).join(" ")}`);

  say("\n4. stop the server and start a new one on the same checkpoint store");
  client.close();
  await server.shutdown();
  Object.assign(live, await start());
  ({ server, client } = live);
  const { checkpoints } = await client.listCheckpoints({ modelId: "classic" });
  for (const c of checkpoints) {
    say(
      `   ${c.checkpointId}${c.latest ? " (latest)" : ""}: epoch ${c.epoch}, step ${c.step}, loss ${c.metrics.loss?.toFixed(5)}, ${c.sizeBytes} bytes`,
    );
  }

  say("\n5. restore latest and verify it predicts what the trained model predicted (atol 1e-6, rtol 1e-6)");
  const restored = await client.restore({
    source: { $case: "checkpoint", checkpoint: { modelId: "classic", checkpointId: "latest" } },
    targetModelId: "",
    goldens: { inputs: [input], expectedOutputs: trained ? [trained] : [], atol: 1e-6, rtol: 1e-6 },
    resume: true,
  });
  for (const o of restored.verification?.outputs ?? []) {
    say(
      `   ${restored.checkpointId} "${o.name}": max abs error ${o.maxAbsError}, max rel error ${o.maxRelError}, ${o.passed ? "PASS" : "FAIL"}`,
    );
  }
  const again = (await client.predict({ modelId: "classic", inputs: [input], rawOutput: false })).outputs[0];
  say(`   predict after restore: ${rowsOf(again?.floatValues ?? [], 1).join(" ")}`);

  say("\n6. resume training from the checkpoint to epoch 5");
  await train(client, trainRequest("classic", 5));

  say("\n7. stream predictions for 100,000 rows in ordered chunks");
  await streamRows(client, 100_000);

  if (!restored.verification?.passed)
    throw new Error("the restored model did not reproduce the trained model's predictions");
  say("\ndemo complete");
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
