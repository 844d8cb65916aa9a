// Goodput under overload with deadlines: closed-loop callers (in their own process) that give up
// after DEADLINE_MS send 32-row Predicts to a model that can serve fewer than they ask. Once with the
// gRPC deadline sent with each call, so the server drops requests whose caller has gone before it
// runs them; once with the callers cancelling on their own at the same moment, which the server
// only learns of after it has run the request (the baseline: a server that ignores deadlines).
// Alternating pairs; prints answers in time per second for each and their ratio.
// Run: npx tsx bench/deadline-overload.ts   (CALLERS, DEADLINE_MS, ROWS, SECONDS, PAIRS to change)
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "../src/cli/client.js";
import { denseStackSpec } from "../src/cli/example-specs.js";
import { silentLogger } from "../src/log.js";
import { startServer } from "../src/server.js";
import { runBench } from "./harness.js";

const CALLERS = Number(process.env.CALLERS ?? 32);
const DEADLINE_MS = Number(process.env.DEADLINE_MS ?? 50);
const ROWS = Number(process.env.ROWS ?? 32);
const SECONDS = Number(process.env.SECONDS ?? 5);
const PAIRS = Number(process.env.PAIRS ?? 3);

interface LoadResult {
  answered: number;
  givenUp: number;
  latencies: number[];
}

async function load(address: string, mode: "deadline" | "cancel"): Promise<LoadResult> {
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

/** A counter's value from the server's /metrics, summed over the series whose labels include all of `labels`. */
async function counter(metricsAddress: string, name: string, ...labels: string[]): Promise<number> {
  const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) && labels.every((label) => l.includes(label)))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-bench-"));
  const server = await startServer({
    address: "127.0.0.1:0",
    checkpointDir: dir,
    log: silentLogger,
    metricsAddress: "127.0.0.1:0",
  });
  const metrics = server.metricsAddress as string;
  const computed = () => counter(metrics, "modelbay_device_compute_seconds_count", 'op="predict"');
  const dropped = () => counter(metrics, "modelbay_expired_requests_total", 'op="predict"');
  const client = connect(server.address);
  try {
    await client.createModel({ modelId: "model", spec: denseStackSpec([1024, 1024]) });
    process.stdout.write(
      `${CALLERS} callers, ${ROWS}-row Predicts of Dense(1024) -> Dense(1024) -> Dense(1), giving up after ${DEADLINE_MS} ms, ${SECONDS} s per run\n`,
    );
    const ratios: number[] = [];
    for (let pair = 0; pair < PAIRS; pair++) {
      const order: ("deadline" | "cancel")[] = pair % 2 === 0 ? ["cancel", "deadline"] : ["deadline", "cancel"];
      const rate: Record<string, number> = {};
      for (const mode of order) {
        const [computedBefore, droppedBefore] = [await computed(), await dropped()];
        const r = await load(server.address, mode);
        // The load's own warm-up calls (20) are counted as well.
        const run = (await computed()) - computedBefore - 20;
        const drop = (await dropped()) - droppedBefore;
        rate[mode] = r.answered / SECONDS;
        process.stdout.write(
          `  ${mode === "deadline" ? "deadline sent, server drops late requests" : "callers cancel, server runs them all  "}: ` +
            `${(r.answered / SECONDS).toFixed(0)} answers/s in time, ${(r.givenUp / SECONDS).toFixed(0)} given up/s, ` +
            `answered p50 ${median(r.latencies).toFixed(1)} ms; the server ran ${(run / SECONDS).toFixed(0)}/s, dropped ${(drop / SECONDS).toFixed(0)}/s\n`,
        );
      }
      const ratio = (rate.deadline ?? 0) / Math.max(1e-9, rate.cancel ?? 0);
      ratios.push(ratio);
      process.stdout.write(`pair ${pair + 1}: answers in time, deadline sent vs not: ${ratio.toFixed(2)}x\n`);
    }
    process.stdout.write(`median: ${median(ratios).toFixed(2)}x\n`);
  } finally {
    client.close();
    await server.shutdown(2000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
