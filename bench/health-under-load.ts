// Health check latency while the server is busy: 1M-row PredictStreams (rows inline, then from a
// data_path file) and a training job keep both cores working while a client checks health every
// 20 ms (one checker in its own process, as real ones are, and one in the server's process at the same
// time); prints p50/p99/max, and the same with the server idle as the baseline. Goal: p99 < 10 ms
// under load.
// Run: npx tsx bench/health-under-load.ts
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "../src/cli/client.js";
import { classicDenseSpec } from "../src/cli/example-specs.js";
import { writeNpy } from "../src/datasets/npy.js";
import { silentLogger } from "../src/log.js";
import { startServer } from "../src/server.js";
import { runBench } from "./harness.js";
import { probeHealth } from "./health-probe.js";

const SECONDS = 8;
const STREAM_ROWS = 1_000_000;

/** A health checker in its own process (as real ones are), from bench/health-probe.ts. */
async function probeFromOutside(address: string, seconds: number): Promise<number[]> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(import.meta.dirname, "health-probe.ts"), address, String(seconds)],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`the health probe exited with ${code}`);
  return JSON.parse(out) as number[];
}

/**
 * Health latencies seen at once by a checker in its own process and by one inside the server's
 * process (whose client work then queues on the server's event loop too).
 */
async function healthLatencies(address: string, seconds: number): Promise<{ outside: number[]; inside: number[] }> {
  const [outside, inside] = await Promise.all([probeFromOutside(address, seconds), probeHealth(address, seconds)]);
  return { outside, inside };
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] as number;
const report = (label: string, xs: number[]) =>
  `${label}: ${xs.length} checks, p50 ${pct(xs, 50).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms, max ${(xs.at(-1) ?? 0).toFixed(2)} ms`;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-bench-"));
  const server = await startServer({ address: "127.0.0.1:0", checkpointDir: dir, dataDir: dir, log: silentLogger });
  const client = connect(server.address);
  try {
    await client.createModel({ modelId: "stream", spec: classicDenseSpec(1) });
    await client.createModel({ modelId: "train", spec: classicDenseSpec(2) });
    const idle = await healthLatencies(server.address, 3);
    process.stdout.write(`${report("idle, checker in its own process", idle.outside)}\n`);
    process.stdout.write(`${report("idle, checker in the server's process", idle.inside)}\n`);

    const rows = Float32Array.from({ length: STREAM_ROWS * 10 }, (_, i) => Math.sin(i));
    fs.writeFileSync(path.join(dir, "rows.npy"), writeNpy({ dtype: "float32", shape: [STREAM_ROWS, 10], data: rows }));
    // The load comes from another process, as clients would: a client in this process would also
    // decode the stream on the server's event loop. Rows inline (a 40 MB request that grpc-js
    // decodes on the event loop) or from a .npy under the data root.
    const underLoad = async (source: "inline" | "data_path") => {
      const load = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          path.join(import.meta.dirname, "load-client.ts"),
          server.address,
          source,
          String(STREAM_ROWS),
        ],
        { stdio: ["pipe", "pipe", "inherit"] },
      );
      let out = "";
      load.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise((resolve) => load.on("exit", resolve));
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const loaded = await healthLatencies(server.address, SECONDS);
      load.stdin.end();
      await exited;
      const label = `under load from another process (PredictStream ${out.trim()} rows ${source === "inline" ? "inline" : "from data_path"} + training)`;
      process.stdout.write(`${label}:\n`);
      process.stdout.write(`  ${report("checker in its own process", loaded.outside)}\n`);
      process.stdout.write(`  ${report("checker in the server's process", loaded.inside)}\n`);
      process.stdout.write(`  goal p99 < 10 ms (own process): ${pct(loaded.outside, 99) < 10 ? "met" : "NOT met"}\n`);
    };
    await underLoad("inline");
    await underLoad("data_path");
  } finally {
    client.close();
    await server.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
