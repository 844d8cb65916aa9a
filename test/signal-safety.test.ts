// TensorFlow must survive signals that the process handles. With oneDNN's optimizations off, Eigen's
// matrix products go through oneDNN's JIT sgemm ("custom contraction kernel"), which corrupted the
// heap ("corrupted size vs. prev_size") when a signal handler ran on a thread inside it: a CPU
// profile, SIGCHLD or SIGTERM during training could crash the server. The defaults turn that kernel
// off (src/compute/tensorflow-env.ts); this test trains under a storm of handled signals.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { test } from "node:test";

const child = path.join(import.meta.dirname, "helpers", "compute-under-signals.ts");

test("training and predicting survive a storm of handled signals", { timeout: 120_000 }, async () => {
  const proc = spawn(process.execPath, ["--import", "tsx", child, "3"], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  let sent = 0;
  await new Promise<void>((resolve) =>
    proc.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes("ready\n")) resolve();
    }),
  );
  let running = true;
  void exited.then(() => {
    running = false;
  });
  proc.stdout.on("data", () => {
    if (stdout.includes("done")) running = false;
  });
  while (running) {
    for (let i = 0; i < 20 && running; i++) {
      try {
        proc.kill("SIGUSR2");
        sent++;
      } catch {
        running = false;
      }
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  const code = await exited;
  const crash = stderr
    .split("\n")
    .filter((l) => !/^\d{4}-\d\d-\d\d |absl|MLIR/.test(l))
    .join("\n");
  assert.equal(code, 0, `the child died after ${sent} signals:\n${crash}`);
  const done = /done steps=(\d+) signals=(\d+)/.exec(stdout);
  assert.ok(done, `no result line in ${JSON.stringify(stdout)}`);
  assert.ok(Number(done[1]) > 0, "no training step ran");
  assert.ok(Number(done[2]) > 100, `only ${done[2]} signals reached the child`);
});
