// Native-backend benchmark: modelbay's compute layer against Keras on the same machine, models,
// data, initial weights, batch sizes and epochs, in one run. Prints a table of ratios
// (modelbay / Keras) and the final losses of both. Run with `npm run bench`.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { initBackend } from "../src/compute/backend.js";
import { parseBackendChoice } from "../src/compute/backend-choice.js";
import { type ComputeModel, predictOne } from "../src/compute/engine.js";
import { createInProcessEngine } from "../src/compute/in-process-engine.js";
import type { LossKind, ModelSpec } from "../src/compute/model-spec.js";
import type { TensorData } from "../src/compute/tensor-data.js";
import { writeNpy } from "../src/datasets/npy.js";
import { runBench } from "./harness.js";

interface Case {
  name: string;
  model: "seed" | "mlp";
  rows: number;
  batchSize: number;
  epochs: number;
  predictRows?: number;
}

const quick = process.argv.includes("--quick");
const CASES: Case[] = [
  { name: "seed-b32", model: "seed", rows: quick ? 20_000 : 100_000, batchSize: 32, epochs: 3 },
  {
    name: "seed-b256",
    model: "seed",
    rows: quick ? 20_000 : 100_000,
    batchSize: 256,
    epochs: 3,
    predictRows: quick ? 100_000 : 1_000_000,
  },
  { name: "mlp-b128", model: "mlp", rows: quick ? 10_000 : 60_000, batchSize: 128, epochs: 3 },
];

function kerasEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.TF_NUM_INTEROP_THREADS;
  if (process.env.MODELBAY_BENCH_KERAS_ONEDNN) env.TF_ENABLE_ONEDNN_OPTS = process.env.MODELBAY_BENCH_KERAS_ONEDNN;
  else delete env.TF_ENABLE_ONEDNN_OPTS;
  return env;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

function seedData(rows: number, seed: number): { x: TensorData; y: TensorData } {
  const next = lcg(seed);
  const x = new Float32Array(rows * 10).map(() => next());
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < 10; j++) s += (j % 3 === 0 ? 1 : -0.5) * (x[r * 10 + j] as number);
    y[r] = s + 0.5 * Math.sin(3 * (x[r * 10] as number));
  }
  return { x: { dtype: "float32", shape: [rows, 10], data: x }, y: { dtype: "float32", shape: [rows, 1], data: y } };
}

function mlpData(rows: number, seed: number): { x: TensorData; y: TensorData } {
  const next = lcg(seed);
  const x = new Float32Array(rows * 784).map(() => next());
  const projection = new Float32Array(784 * 10).map(() => next());
  const y = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestValue = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < 10; c++) {
      let v = 0;
      for (let j = 0; j < 784; j++) v += (x[r * 784 + j] as number) * (projection[j * 10 + c] as number);
      if (v > bestValue) [best, bestValue] = [c, v];
    }
    y[r] = best;
  }
  return { x: { dtype: "float32", shape: [rows, 784], data: x }, y: { dtype: "int32", shape: [rows], data: y } };
}

function spec(model: Case["model"]): ModelSpec {
  const dense = (units: number, activation: "relu" | "linear" | "softmax") =>
    ({ kind: "dense", units, activation, useBias: true }) as const;
  const loss: LossKind = model === "seed" ? "mean_squared_error" : "sparse_categorical_crossentropy";
  return {
    topology: {
      kind: "sequential",
      inputShape: [model === "seed" ? 10 : 784],
      layers: model === "seed" ? [dense(128, "relu"), dense(1, "linear")] : [dense(256, "relu"), dense(10, "softmax")],
    },
    blocks: [],
    compile: { optimizer: { kind: "adam" }, loss, metrics: [] },
    inputName: "input",
    outputName: "output",
    preprocessing: "",
    seed: 1234,
  };
}

interface SideResult {
  epochSeconds: number[];
  epochLosses: number[];
  rows: number;
  predictSeconds?: number;
}

/** Trains as the training service does: many batches per compute call, one read per call. */
async function trainModelbay(model: ComputeModel, c: Case, data: { x: TensorData; y: TensorData }, loss: LossKind) {
  const trainer = await model.createTrainer([data.x], [data.y], { batchSize: c.batchSize, loss, metrics: [] });
  const out: SideResult = { epochSeconds: [], epochLosses: [], rows: c.rows };
  try {
    for (let epoch = 0; epoch < c.epochs; epoch++) {
      const start = performance.now();
      let lossSum = 0;
      let samples = 0;
      for (let b = 0; b < trainer.batchesPerEpoch; b += 64) {
        const r = await trainer.runBatches(null, b, 64);
        lossSum += r.lossSum;
        samples += r.samples;
      }
      out.epochSeconds.push((performance.now() - start) / 1000);
      out.epochLosses.push(lossSum / samples);
    }
  } finally {
    trainer.dispose();
  }
  return out;
}

/** Samples per second over the epochs after the first (both sides warm up in epoch 1). */
const steadyRate = (r: SideResult) =>
  (r.rows * (r.epochSeconds.length - 1)) / r.epochSeconds.slice(1).reduce((a, b) => a + b, 0);

async function main() {
  const python = process.env.MODELBAY_BENCH_PYTHON ?? "python3";
  const backend = await initBackend(parseBackendChoice(process.env.MODELBAY_BACKEND));
  const engine = await createInProcessEngine(backend.name);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-bench-"));
  const results: Record<string, { modelbay: SideResult; keras?: SideResult }> = {};
  try {
    for (const c of CASES) {
      const data = c.model === "seed" ? seedData(c.rows, 7) : mlpData(c.rows, 7);
      const s = spec(c.model);
      const model = await engine.buildModel(s);
      const caseDir = path.join(dir, c.name);
      fs.mkdirSync(caseDir);
      fs.writeFileSync(path.join(caseDir, "x.npy"), writeNpy(data.x));
      fs.writeFileSync(path.join(caseDir, "y.npy"), writeNpy(data.y));
      for (const [i, w] of (await model.getWeights()).entries()) {
        fs.writeFileSync(path.join(caseDir, `w${i}.npy`), writeNpy(w.tensor));
      }
      process.stderr.write(`[bench] ${c.name}: modelbay (${backend.name})\n`);
      const mine = await trainModelbay(model, c, data, s.compile.loss as LossKind);
      if (c.predictRows) {
        const px = seedData(c.predictRows, 99).x;
        fs.writeFileSync(path.join(caseDir, "predict_x.npy"), writeNpy(px));
        await predictOne(model, { ...px, shape: [8192, 10], data: px.data.subarray(0, 8192 * 10) });
        const start = performance.now();
        await predictOne(model, px);
        mine.predictSeconds = (performance.now() - start) / 1000;
      }
      model.dispose();
      results[c.name] = { modelbay: mine };
    }
    process.stderr.write(`[bench] keras (${python})\n`);
    const keras = spawnSync(python, [path.join(import.meta.dirname, "keras_bench.py"), dir, JSON.stringify(CASES)], {
      // Keras with its own defaults, not the TensorFlow settings modelbay chose for itself.
      env: kerasEnv(),
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    if (keras.status !== 0) throw new Error(`keras side failed:\n${keras.stderr}`);
    const kerasOut = JSON.parse(keras.stdout.trim().split("\n").pop() ?? "{}") as {
      tensorflow: string;
      results: Record<string, SideResult>;
    };
    for (const [name, r] of Object.entries(kerasOut.results)) if (results[name]) results[name].keras = r;
    report(results, backend.name, backend.tensorflowVersion, kerasOut.tensorflow);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function report(
  results: Record<string, { modelbay: SideResult; keras?: SideResult }>,
  backend: string,
  tf: string,
  kerasTf: string,
) {
  const cpus = os.cpus();
  const lines = [
    `modelbay compute layer (${backend}${tf ? ` ${tf}` : ""}) vs Keras (TensorFlow ${kerasTf}), ${cpus.length} x ${cpus[0]?.model ?? "cpu"}`,
    "",
    "| case | modelbay samples/s | Keras samples/s | ratio | modelbay final loss | Keras final loss |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const [name, { modelbay, keras }] of Object.entries(results)) {
    if (!keras) continue;
    const m = steadyRate(modelbay);
    const k = steadyRate(keras);
    lines.push(
      `| ${name} | ${m.toFixed(0)} | ${k.toFixed(0)} | ${(m / k).toFixed(2)}x | ${modelbay.epochLosses.at(-1)?.toPrecision(5)} | ${keras.epochLosses.at(-1)?.toPrecision(5)} |`,
    );
  }
  for (const [name, { modelbay, keras }] of Object.entries(results)) {
    if (!keras?.predictSeconds || !modelbay.predictSeconds) continue;
    const rows = CASES.find((c) => c.name === name)?.predictRows ?? 0;
    const m = rows / modelbay.predictSeconds;
    const k = rows / keras.predictSeconds;
    lines.push(
      "",
      `predict ${rows} rows (seed model, batch 8192): modelbay ${m.toFixed(0)} rows/s, Keras ${k.toFixed(0)} rows/s, ratio ${(m / k).toFixed(2)}x`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

runBench(main);
