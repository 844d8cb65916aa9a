// Unary Predict latency of one row against a no-compute gRPC echo of the same payload, measured
// with ghz (go install github.com/bojand/ghz/cmd/ghz@v0.120.0, cached under the user cache dir) at
// 1, 8 and 64 concurrent callers. The echo is a grpc-js server in this process with the same
// service definition whose Predict returns the request's tensor: same transport, same messages,
// no model; ROUNDS (3) alternating pairs per level, ratio per pair. Goal: Predict p50 within 1.3x of
// the echo's. Run: npx tsx bench/unary-latency.ts (CALLERS=1,8,64 REQUESTS_PER_CALLER=400 ROUNDS=3;
// BACKGROUND_NICE=10 starts the server with --background-nice 10, a setting for the whole process)
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { connect } from "../src/cli/client.js";
import { classicDenseSpec } from "../src/cli/example-specs.js";
import {
  ModelServiceService,
  type PredictRequest,
  type PredictResponse,
} from "../src/gen/modelbay/v1/model_service.js";
import { silentLogger } from "../src/log.js";
import { startServer } from "../src/server.js";
import { median, runBench } from "./harness.js";

const cache = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "modelbay");
const ghz = path.join(cache, "go-bin", "ghz");
const protoset = path.resolve(import.meta.dirname, "../src/gen/modelbay.binpb");
const REQUESTS_PER_CALLER = Number(process.env.REQUESTS_PER_CALLER ?? 400);
const CALLERS = (process.env.CALLERS ?? "1,8,64").split(",").map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

interface Latency {
  p50: number;
  p99: number;
  rps: number;
  /** CPU of this process (every thread) per call while ghz ran: the server's cost, which decides throughput on two cores shared with ghz. */
  cpuUs: number;
  /** Garbage collection pauses of the RPC thread per call while ghz ran. */
  gcUs: number;
}

// Pauses of this thread's garbage collector, summed, for the per-call figure of each run.
let gcPausedMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPausedMs += entry.duration;
}).observe({ entryTypes: ["gc"] });

function ensureGhz(): void {
  if (fs.existsSync(ghz)) return;
  execFileSync("go", ["install", "github.com/bojand/ghz/cmd/ghz@v0.120.0"], {
    env: { ...process.env, GOBIN: path.dirname(ghz) },
    stdio: "inherit",
  });
}

async function startEcho(): Promise<{ address: string; stop: () => void }> {
  const server = new grpc.Server();
  const notHere = (_call: unknown, cb: (err: grpc.ServiceError) => void) =>
    cb({ code: grpc.status.UNIMPLEMENTED, details: "echo only", message: "echo only" } as grpc.ServiceError);
  const impl: Record<string, unknown> = Object.fromEntries(Object.keys(ModelServiceService).map((k) => [k, notHere]));
  impl.predict = (
    call: grpc.ServerUnaryCall<PredictRequest, PredictResponse>,
    cb: grpc.sendUnaryData<PredictResponse>,
  ) => cb(null, { modelId: call.request.modelId, outputs: call.request.inputs });
  server.addService(ModelServiceService, impl as never);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

interface GhzReport {
  latencyDistribution: { percentage: number; latency: number }[];
  rps: number;
  statusCodeDistribution: Record<string, number>;
}

const execFileAsync = promisify(execFile);

/** ghz against `address`; asynchronous, because the servers it calls live in this process. */
async function run(address: string, callers: number): Promise<Latency> {
  // One row of 10 float32 values as raw little-endian bytes, base64 in ghz's JSON.
  const row = Buffer.from(new Float32Array([0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8, 0.9, -1]).buffer).toString(
    "base64",
  );
  const data = JSON.stringify({
    model_id: "seed",
    inputs: [{ dtype: "DATA_TYPE_FLOAT32", shape: [1, 10], raw_contents: row }],
    raw_output: true,
  });
  const cpuBefore = process.cpuUsage();
  const gcBefore = gcPausedMs;
  const { stdout: out } = await execFileAsync(
    ghz,
    [
      "--insecure",
      "--protoset",
      protoset,
      "--call",
      "modelbay.v1.ModelService.Predict",
      "-d",
      data,
      "-c",
      String(callers),
      "-n",
      String(REQUESTS_PER_CALLER * callers),
      "--skipFirst",
      String(callers * 20),
      "-O",
      "json",
      address,
    ],
    { encoding: "utf8", maxBuffer: 64 * 2 ** 20 },
  );
  const cpu = process.cpuUsage(cpuBefore);
  const report = JSON.parse(out) as GhzReport;
  const ok = report.statusCodeDistribution.OK ?? 0;
  if (ok === 0) throw new Error(`no successful calls: ${JSON.stringify(report.statusCodeDistribution)}`);
  const at = (p: number) => (report.latencyDistribution.find((d) => d.percentage === p)?.latency ?? Number.NaN) / 1e6;
  const calls = REQUESTS_PER_CALLER * callers;
  // The observer hears of the last collections a moment later.
  await new Promise((resolve) => setImmediate(resolve));
  return {
    p50: at(50),
    p99: at(99),
    rps: report.rps,
    cpuUs: (cpu.user + cpu.system) / calls,
    gcUs: ((gcPausedMs - gcBefore) * 1000) / calls,
  };
}

async function main() {
  ensureGhz();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-bench-"));
  // BATCH_MAX_ROWS turns on dynamic batching (e.g. 64), to compare with the default (off).
  const server = await startServer({
    address: "127.0.0.1:0",
    checkpointDir: dir,
    log: silentLogger,
    batchMaxRows: Number(process.env.BATCH_MAX_ROWS ?? 0),
    batchDelayMs: Number(process.env.BATCH_DELAY_MS ?? 0),
    // COMPUTE=inline runs the model on the RPC thread (a debugging mode): what the hop costs.
    compute: process.env.COMPUTE === "inline" ? "inline" : "worker",
    ...(process.env.BACKGROUND_NICE ? { backgroundNice: Number(process.env.BACKGROUND_NICE) } : {}),
  });
  const echo = await startEcho();
  const client = connect(server.address);
  try {
    await client.createModel({ modelId: "seed", spec: classicDenseSpec(1) });
    for (const callers of CALLERS) {
      // Echo and Predict alternate (which goes first alternates too), ROUNDS pairs per level; the
      // ratio is taken pair by pair, since this machine's speed drifts between runs.
      const pairs: { p: Latency; e: Latency }[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const first = await run(round % 2 === 0 ? echo.address : server.address, callers);
        const second = await run(round % 2 === 0 ? server.address : echo.address, callers);
        pairs.push(round % 2 === 0 ? { e: first, p: second } : { p: first, e: second });
      }
      const ratios = pairs.map(({ p, e }) => p.p50 / e.p50);
      const mid = pairs[ratios.indexOf(median(ratios))] as { p: Latency; e: Latency };
      process.stdout.write(
        `${String(callers).padStart(2)} callers: Predict p50 ${mid.p.p50.toFixed(3)} ms p99 ${mid.p.p99.toFixed(3)} ms ${mid.p.rps.toFixed(0)} rps; ` +
          `echo p50 ${mid.e.p50.toFixed(3)} ms p99 ${mid.e.p99.toFixed(3)} ms ${mid.e.rps.toFixed(0)} rps; ` +
          `p50 ratio per pair ${ratios.map((r) => r.toFixed(2)).join(", ")}; median ${median(ratios).toFixed(2)}x; ` +
          `server CPU per call (median) Predict ${median(pairs.map(({ p }) => p.cpuUs)).toFixed(0)} us, echo ${median(pairs.map(({ e }) => e.cpuUs)).toFixed(0)} us; ` +
          `GC pauses per call Predict ${median(pairs.map(({ p }) => p.gcUs)).toFixed(1)} us, echo ${median(pairs.map(({ e }) => e.gcUs)).toFixed(1)} us\n`,
      );
    }
  } finally {
    client.close();
    echo.stop();
    await server.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
