// What it costs to run compute off the RPC thread: round trips of a one-row request through a
// worker thread and through a child process (the two ways to isolate TensorFlow), and a one-row
// predict in-process against the device-worker engine, whose Predicts go through shared memory (the
// lane) or, as the baseline, its message port; back to back, and paced as one caller's calls are
// (a timer between calls, so both threads go idle), and the CPU per call with 64 in flight. In one run. Run: npx tsx bench/compute-hop.ts
import { fork } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { specFromWire } from "../src/api/spec-codec.js";
import { classicDenseSpec } from "../src/cli/example-specs.js";
import { type ComputeModel, predictOne } from "../src/compute/engine.js";
import { createInProcessEngine } from "../src/compute/in-process-engine.js";
import type { TensorData } from "../src/compute/tensor-data.js";
import { createWorkerEngine } from "../src/compute/worker-engine.js";
import { runBench } from "./harness.js";

const N = 2000;
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const payload = { op: "predict", input: { dtype: "float32", shape: [1, 10], data: new Float32Array(10) } };

async function timeRoundTrips(
  send: (msg: unknown) => Promise<unknown>,
  paced = false,
): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 200; i++) await send(payload);
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    if (paced) await new Promise((resolve) => setTimeout(resolve, 0));
    const t0 = performance.now();
    await send(payload);
    times.push((performance.now() - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(N / 2)] ?? 0, p99: times[Math.floor(N * 0.99)] ?? 0 };
}

const IN_FLIGHT = 64;

/** Calls per second and this process's CPU per call with IN_FLIGHT predicts always outstanding. */
async function inFlight(model: ComputeModel, input: TensorData): Promise<{ rps: number; cpuUs: number }> {
  const calls = 20000;
  let started = 0;
  const caller = async () => {
    while (started < calls) {
      started++;
      await predictOne(model, input);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, () => predictOne(model, input)));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, caller));
  const cpu = process.cpuUsage(cpu0);
  return { rps: calls / ((performance.now() - t0) / 1000), cpuUs: (cpu.user + cpu.system) / calls };
}

function echoWorker() {
  const w = new Worker(
    `require("node:worker_threads").parentPort.on("message", (m) => require("node:worker_threads").parentPort.postMessage(m));`,
    { eval: true },
  );
  let resolve: (v: unknown) => void = () => undefined;
  w.on("message", (m) => resolve(m));
  return {
    send: (m: unknown) =>
      new Promise((r) => {
        resolve = r;
        w.postMessage(m);
      }),
    close: () => w.terminate(),
  };
}

function echoChild() {
  const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-echo-")), "echo.cjs");
  fs.writeFileSync(script, `process.on("message", (m) => process.send(m));`);
  const child = fork(script, [], {
    execArgv: [],
    serialization: "advanced",
    stdio: ["ignore", "ignore", "ignore", "ipc"],
  });
  let resolve: (v: unknown) => void = () => undefined;
  child.on("message", (m) => resolve(m));
  return {
    send: (m: unknown) =>
      new Promise((r) => {
        resolve = r;
        child.send(m as never);
      }),
    close: () => child.kill(),
  };
}

async function main() {
  const fmt = (name: string, r: { p50: number; p99: number }) =>
    `${name.padEnd(44)} p50 ${r.p50.toFixed(1).padStart(7)} us  p99 ${r.p99.toFixed(1).padStart(7)} us`;
  const w = echoWorker();
  const c = echoChild();
  const worker = await timeRoundTrips(w.send);
  const child = await timeRoundTrips(c.send);
  await w.close();
  c.close();
  const spec = specFromWire(classicDenseSpec(1));
  const inline = await (await createInProcessEngine("auto")).buildModel(spec);
  const input = { dtype: "float32" as const, shape: [1, 10], data: new Float32Array(10) };
  const predictInline = await timeRoundTrips(() => predictOne(inline, input));
  const lines = [
    fmt("echo, worker thread (postMessage)", worker),
    fmt("echo, child process (IPC, advanced serial.)", child),
    `child / worker round trip, p50: ${(child.p50 / worker.p50).toFixed(2)}x`,
    fmt("predict 1 row, in-process", predictInline),
  ];
  const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  // Alternating rounds, since this VM's speed drifts within a minute.
  const ratios: Record<string, number[]> = { "back to back": [], paced: [] };
  const cpuRatios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const cpuByWay: Record<string, number> = {};
    for (const sharedLane of round % 2 === 0 ? [true, false] : [false, true]) {
      const way = sharedLane ? "shared lane" : "message port";
      const engine = await createWorkerEngine("auto", { sharedLane });
      const r = await inFlight(await engine.buildModel(spec), input);
      await engine.close?.();
      cpuByWay[way] = r.cpuUs;
      lines.push(
        `predict 1 row, device worker, ${way}, ${IN_FLIGHT} in flight: ${r.rps.toFixed(0)} calls/s, CPU ${r.cpuUs.toFixed(1)} us per call (both threads)`,
      );
    }
    cpuRatios.push((cpuByWay["shared lane"] ?? 0) / (cpuByWay["message port"] ?? 1));
    for (const paced of [false, true]) {
      const byWay: Record<string, number> = {};
      for (const sharedLane of round % 2 === 0 ? [true, false] : [false, true]) {
        const way = sharedLane ? "shared lane" : "message port";
        // The worker's own timing of each call: compute inside it, and the rest (queue and crossing).
        const computeUs: number[] = [];
        const hopUs: number[] = [];
        const engine = await createWorkerEngine("auto", {
          sharedLane,
          observer: {
            call: (_op, queueSeconds, computeSeconds) => {
              computeUs.push(computeSeconds * 1e6);
              hopUs.push(queueSeconds * 1e6);
            },
            expired: () => undefined,
            cancelled: () => undefined,
            restart: () => undefined,
          },
        });
        const remote = await engine.buildModel(spec);
        computeUs.length = 0;
        hopUs.length = 0;
        const r = await timeRoundTrips(() => predictOne(remote, input), paced);
        await engine.close?.();
        byWay[way] = r.p50;
        lines.push(
          `${fmt(`predict 1 row, device worker, ${way}, ${paced ? "paced" : "back to back"}`, r)}  (compute p50 ${p50(computeUs).toFixed(1)} us, queue and crossing ${p50(hopUs).toFixed(1)} us)`,
        );
      }
      ratios[paced ? "paced" : "back to back"]?.push((byWay["shared lane"] ?? 0) / (byWay["message port"] ?? 1));
    }
  }
  lines.push(
    `shared lane / message port CPU per predict, ${IN_FLIGHT} in flight: per round ${cpuRatios.map((r) => r.toFixed(2)).join(", ")}; median ${p50(cpuRatios).toFixed(2)}x`,
  );
  for (const [pacing, rs] of Object.entries(ratios)) {
    lines.push(
      `shared lane / message port predict p50, ${pacing}: per round ${rs.map((r) => r.toFixed(2)).join(", ")}; median ${p50(rs).toFixed(2)}x`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

runBench(main);
