// `modelbay train` (live progress from the Train stream, or --detach to print the job id) and
// `modelbay watch JOB` (replay and follow a job).
import fs from "node:fs";
import { tensorToWire } from "../api/tensor-codec.js";
import { readNpy } from "../datasets/npy.js";
import type { TrainEvent } from "../gen/modelbay/v1/training.js";
import { options, UsageError } from "./args.js";
import { connect, defaultServerAddress } from "./client.js";
import { ProgressLine } from "./progress.js";
import { inlineXY } from "./tensors.js";

const positive = (name: string, value: string | undefined, fallback: number): number => {
  const n = Number(value ?? fallback);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer`);
  return n;
};

/** Prints events with a progress line; resolves to the exit code (0 completed, 1 failed). */
async function follow(events: AsyncIterable<TrainEvent>, epochs: number | undefined): Promise<number> {
  const bar = new ProgressLine(process.stdout);
  for await (const e of events) {
    const ev = e.event;
    switch (ev?.$case) {
      case "started":
        bar.log(`job ${ev.started.jobId}: ${ev.started.totalSteps} steps over ${ev.started.trainExamples} examples`);
        break;
      case "progress": {
        const p = ev.progress;
        bar.update(
          p.percent,
          `epoch ${p.epoch}${epochs ? `/${epochs}` : ""} loss ${p.loss.toFixed(4)} ${Math.round(p.samplesPerSecond)} samples/s ETA ${p.etaSeconds.toFixed(1)}s`,
        );
        break;
      }
      case "epochEnd": {
        const metrics = Object.entries(ev.epochEnd.metrics).map(([k, v]) => `${k} ${v.toFixed(5)}`);
        bar.log(
          `epoch ${ev.epochEnd.epoch}: loss ${ev.epochEnd.loss.toFixed(5)}${metrics.length ? `, ${metrics.join(", ")}` : ""}`,
        );
        break;
      }
      case "checkpointSaved":
        bar.log(`  checkpoint ${ev.checkpointSaved.checkpointId} (${ev.checkpointSaved.reason})`);
        break;
      case "earlyStopped":
        bar.log(
          `early stop after epoch ${ev.earlyStopped.epoch}: best ${ev.earlyStopped.monitor} ${ev.earlyStopped.bestValue}`,
        );
        break;
      case "completed":
        bar.done(`completed ${ev.completed.epochs} epochs in ${ev.completed.durationSeconds.toFixed(1)}s`);
        return 0;
      case "failed":
        bar.done(`failed (code ${ev.failed.code}): ${ev.failed.message}`);
        return 1;
    }
  }
  bar.done("");
  return 1;
}

export async function trainCommand(args: string[]): Promise<number> {
  const o = options(
    args,
    ["server", "model", "x", "y", "epochs", "batch-size", "seed", "validation-split", "checkpoint-every"],
    ["detach", "no-shuffle"],
  );
  const x = readNpy(fs.readFileSync(o.require("x")), "--x");
  const y = readNpy(fs.readFileSync(o.require("y")), "--y");
  const epochs = positive("epochs", o.get("epochs"), 10);
  const client = connect(o.get("server") ?? defaultServerAddress());
  try {
    const events = client.train({
      modelId: o.require("model"),
      data: inlineXY(tensorToWire("", x, true), tensorToWire("", y, true)),
      validationSplit: Number(o.get("validation-split") ?? 0),
      epochs,
      batchSize: positive("batch-size", o.get("batch-size"), 32),
      shuffle: !o.flag("no-shuffle"),
      seed: Number(o.get("seed") ?? 0),
      checkpointPolicy: {
        everyEpochs: Number(o.get("checkpoint-every") ?? 0),
        everySteps: 0,
        everySeconds: 0,
        onBest: false,
        monitor: "",
      },
      progressIntervalMs: 0,
      detach: o.flag("detach"),
    });
    if (o.flag("detach")) {
      for await (const e of events) {
        process.stdout.write(`${e.jobId}\n`);
        return 0;
      }
      return 1;
    }
    return await follow(events, epochs);
  } finally {
    client.close();
  }
}

export async function watchCommand(args: string[]): Promise<number> {
  const o = options(args, ["server", "from-seq"]);
  const jobId = o.positionals[0];
  if (!jobId) throw new UsageError("watch needs a job id");
  const client = connect(o.get("server") ?? defaultServerAddress());
  try {
    return await follow(client.watch(jobId, Number(o.get("from-seq") ?? 1)), undefined);
  } finally {
    client.close();
  }
}
