// Goodput under overload: closed-loop callers (in their own process) that give up after DEADLINE_MS
// send 32-row Predicts to a model that can serve fewer than they ask. Three servers, one after the
// other, in an order that rotates each round:
//  - baseline: the callers stop waiting without telling the server, which runs every request in
//    arrival order (what the server did with cancels before it passed them on, and with deadlines
//    before it used them);
//  - the callers cancel their calls when they give up, and the server drops the cancelled ones
//    still queued;
//  - the gRPC deadline sent with each call, so the server drops requests whose caller has gone, in
//    arrival order (--predict-order arrival);
//  - the same with the default order, newest first once the device is behind their deadlines.
// Prints answers in time per second for each and their ratio to the baseline. MODELS=2 puts a
// second, fast model (Dense(64) -> Dense(1), ~1,500x fewer multiply-adds a row) on the device, its
// Predicts sent by every other caller: the queue then mixes two paces, and the answers are also
// counted per model.
// Run: npx tsx bench/deadline-overload.ts   (CALLERS, DEADLINE_MS, ROWS, SECONDS, ROUNDS, MODELS to change)
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "../src/cli/client.js";
import { denseStackSpec } from "../src/cli/example-specs.js";
import type { PredictOrder } from "../src/compute/worker/protocol.js";
import { silentLogger } from "../src/log.js";
import { startServer } from "../src/server.js";
import { metricSum } from "../test/helpers/metrics.js";
import { median, runBench } from "./harness.js";

const CALLERS = Number(process.env.CALLERS ?? 32);
const DEADLINE_MS = Number(process.env.DEADLINE_MS ?? 50);
const ROWS = Number(process.env.ROWS ?? 32);
const SECONDS = Number(process.env.SECONDS ?? 5);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const MODELS = process.env.MODELS === "2" ? ["model", "fast"] : ["model"];

interface LoadResult {
  answered: number;
  givenUp: number;
  /** Failed calls by gRPC status. */
  failures: Record<string, number>;
  latencies: number[];
  byModel: Record<string, { answered: number; givenUp: number }>;
}

type Send = "deadline" | "cancel" | "abandon";

async function load(address: string, mode: Send): Promise<LoadResult> {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      path.join(import.meta.dirname, "deadline-load.ts"),
      address,
      mode,
      String(CALLERS),
      String(SECONDS),
      String(DEADLINE_MS),
      String(ROWS),
      MODELS.join(","),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`the load client exited with ${code}`);
  return JSON.parse(out) as LoadResult;
}

/** One load against a fresh server: answers in time and what the server ran and dropped, per second. */
async function measure(order: PredictOrder, send: Send) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-bench-"));
  const server = await startServer({
    address: "127.0.0.1:0",
    checkpointDir: dir,
    log: silentLogger,
    metricsAddress: "127.0.0.1:0",
    predictOrder: order,
  });
  const metrics = server.metricsAddress as string;
  const client = connect(server.address);
  try {
    await client.createModel({ modelId: "model", spec: denseStackSpec([1024, 1024]) });
    if (MODELS.includes("fast")) await client.createModel({ modelId: "fast", spec: denseStackSpec([64]) });
    const r = await load(server.address, send);
    // The load's own warm-up calls (20) are counted as well.
    const ran = (await metricSum(metrics, "modelbay_device_compute_seconds_count", 'op="predict"')) - 20;
    const dropped =
      (await metricSum(metrics, "modelbay_expired_requests_total", 'op="predict"')) +
      (await metricSum(metrics, "modelbay_cancelled_requests_total", 'op="predict"'));
    return {
      inTime: r.answered / SECONDS,
      givenUp: r.givenUp / SECONDS,
      failures: r.failures,
      p50: median(r.latencies),
      byModel: r.byModel,
      ran: ran / SECONDS,
      dropped: dropped / SECONDS,
    };
  } finally {
    client.close();
    await server.shutdown(2000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const SETUPS = [
  { name: "baseline", label: "arrival order, callers just go   ", order: "arrival", send: "abandon" },
  { name: "cancel", label: "arrival order, callers cancel    ", order: "arrival", send: "cancel" },
  { name: "deadline", label: "arrival order, deadline sent     ", order: "arrival", send: "deadline" },
  { name: "adaptive", label: "newest first, deadline sent      ", order: "adaptive", send: "deadline" },
] as const;
const COMPARED = ["cancel", "deadline", "adaptive"] as const;
const TITLES = { cancel: "cancel", deadline: "deadline", adaptive: "deadline and newest first" };

async function main() {
  const fast = MODELS.length > 1 ? " (every other caller: Dense(64) -> Dense(1))" : "";
  process.stdout.write(
    `${CALLERS} callers, ${ROWS}-row Predicts of Dense(1024) -> Dense(1024) -> Dense(1)${fast}, giving up after ${DEADLINE_MS} ms, ${SECONDS} s per run\n`,
  );
  const ratios: Record<string, number[]> = { cancel: [], deadline: [], adaptive: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const rate: Record<string, number> = {};
    for (let k = 0; k < SETUPS.length; k++) {
      const setup = SETUPS[(round + k) % SETUPS.length] as (typeof SETUPS)[number];
      const m = await measure(setup.order, setup.send);
      rate[setup.name] = m.inTime;
      process.stdout.write(
        `  ${setup.label}: ${m.inTime.toFixed(0)} answers/s in time, ${m.givenUp.toFixed(0)} given up/s, ` +
          `answered p50 ${m.p50.toFixed(1)} ms; the server ran ${m.ran.toFixed(0)}/s, dropped ${m.dropped.toFixed(0)}/s\n`,
      );
      const failed = Object.entries(m.failures).map(([code, n]) => `${code} ${n}`);
      process.stdout.write(`    calls given up, by status: ${failed.join(", ")}\n`);
      if (MODELS.length > 1) {
        const per = Object.entries(m.byModel).map(
          ([id, t]) =>
            `${id} ${(t.answered / SECONDS).toFixed(0)} in time/s, ${(t.givenUp / SECONDS).toFixed(0)} given up/s`,
        );
        process.stdout.write(`    by model: ${per.join("; ")}\n`);
      }
    }
    const base = Math.max(1e-9, rate.baseline ?? 0);
    for (const name of COMPARED) ratios[name]?.push((rate[name] ?? 0) / base);
    const against = COMPARED.map((n) => `${TITLES[n]} ${((rate[n] ?? 0) / base).toFixed(2)}x`).join(", ");
    process.stdout.write(`round ${round + 1}: answers in time against the baseline: ${against}\n`);
  }
  const medians = COMPARED.map((n) => `${TITLES[n]} ${median(ratios[n] ?? []).toFixed(2)}x`).join(", ");
  process.stdout.write(`median: ${medians}\n`);
}

runBench(main);
