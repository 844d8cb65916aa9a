// The server's main thread serves RPCs; TensorFlow runs in device workers. Libraries the main thread
// does not use must not load there: every full garbage collection walks its heap while RPCs wait
// (with TensorFlow.js and the HDF5 library loaded the heap was ~130 MB and pauses reached 10-20 ms
// under load, the health check's p99).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";

test("the main thread loads neither TensorFlow.js nor the HDF5 library, and its heap stays small", () => {
  const out = execFileSync(
    process.execPath,
    ["--expose-gc", "--import", "tsx", path.join(import.meta.dirname, "helpers", "server-footprint.ts")],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
  );
  const { heapMb, tensorflowLoaded } = JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as {
    heapMb: number;
    tensorflowLoaded: boolean;
  };
  assert.equal(tensorflowLoaded, false, "TensorFlow.js was loaded on the main thread");
  // ~20 MB measured (tsx, grpc-js, OpenTelemetry, the generated code); 130 MB with both libraries.
  assert.ok(heapMb < 60, `main-thread heap ${heapMb.toFixed(1)} MB`);
});
