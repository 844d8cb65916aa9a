// Large unary Predicts whose rows sit at an aligned offset in the request against ones whose rows
// do not, in one run: 32 MB requests (8,192 rows of 1,024 floats) to a Dense(1) model, served by
// `modelbay serve` in its own process. Which layout a request gets depends on the fields before its
// rows (here, the model id's length). Unaligned rows were copied out on the RPC thread (30-45 ms of
// one task); they now move in place (src/api/align-in-place.ts), so the ratios should be ~1.
// Prints, per layout, the server's CPU per Predict (all its threads, from /proc) and the time per
// Predict, and the ratios unaligned / aligned. Run: npx tsx bench/large-predict.ts (ROUNDS=3, N=16)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "../src/cli/client.js";
import { denseStackSpec } from "../src/cli/example-specs.js";
import { floatTensor } from "../src/cli/tensors.js";
import { PredictRequest } from "../src/gen/modelbay/v1/model_service.js";
import { PREFIX_BYTES } from "../src/grpc-message-assembly.js";
import { median, runBench } from "./harness.js";
import { serveForBench } from "./serve-process.js";

const WIDTH = 1024;
const ROWS = 8192;
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const N = Number(process.env.N ?? 16);
const TICKS_PER_SECOND = 100; // Linux's USER_HZ, which /proc/<pid>/stat counts in

/** CPU seconds a process has used, all threads (Linux). */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Where the rows start in the request as the server assembles it (after gRPC's length prefix), mod 4. */
function rowsMisalignment(request: PredictRequest): number {
  const encoded = Buffer.from(PredictRequest.encode(request).finish());
  const rows = request.inputs[0]?.rawContents as Uint8Array;
  const at = encoded.indexOf(Buffer.from(rows.buffer, rows.byteOffset, 64));
  return (PREFIX_BYTES + at) % 4;
}

async function main() {
  if (os.platform() !== "linux") throw new Error("reads the server's CPU time from /proc");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-bench-"));
  const served = await serveForBench(dir, process.env.SETTING ?? "");
  const pid = served.child.pid as number;
  const client = connect(served.address);
  try {
    const x = Float32Array.from({ length: ROWS * WIDTH }, (_, i) => Math.sin(i));
    const input = floatTensor(x, [ROWS, WIDTH], true);
    const spec = denseStackSpec([]);
    if (spec.topology?.$case === "sequential") spec.topology.sequential.inputShape = [WIDTH];
    // One model id per layout: the id's length moves the rows by one byte each.
    const layouts = new Map<number, string>();
    for (const modelId of ["a", "ab", "abc", "abcd"]) {
      const request: PredictRequest = { modelId, inputs: [input], rawOutput: true };
      layouts.set(rowsMisalignment(request), modelId);
      await client.createModel({ modelId, spec });
      for (let i = 0; i < 2; i++) await client.predict(request);
    }
    const aligned = layouts.get(0);
    const unaligned = layouts.get(1) ?? layouts.get(2) ?? layouts.get(3);
    if (!aligned || !unaligned) throw new Error("no request layout put the rows at an aligned offset");
    const cpu: Record<string, number[]> = { aligned: [], unaligned: [] };
    const wall: Record<string, number[]> = { aligned: [], unaligned: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ["aligned", "unaligned"] : ["unaligned", "aligned"];
      for (const layout of order) {
        const modelId = layout === "aligned" ? aligned : unaligned;
        const cpu0 = cpuSeconds(pid);
        const t0 = performance.now();
        for (let i = 0; i < N; i++) await client.predict({ modelId, inputs: [input], rawOutput: true });
        wall[layout]?.push((performance.now() - t0) / N);
        cpu[layout]?.push(((cpuSeconds(pid) - cpu0) * 1000) / N);
      }
    }
    for (const layout of ["aligned", "unaligned"]) {
      console.log(
        `32 MB Predict, rows ${layout} (model id "${layout === "aligned" ? aligned : unaligned}"): ` +
          `server CPU ${cpu[layout]?.map((v) => v.toFixed(0)).join(", ")} ms per Predict; ` +
          `${wall[layout]?.map((v) => v.toFixed(0)).join(", ")} ms each`,
      );
    }
    const ratio = (xs: Record<string, number[]>) =>
      median((xs.unaligned ?? []).map((u, i) => u / (xs.aligned?.[i] ?? Number.NaN))).toFixed(2);
    console.log(`unaligned / aligned, median of ${ROUNDS} rounds: server CPU ${ratio(cpu)}x, time ${ratio(wall)}x`);
  } finally {
    client.close();
    await served.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
