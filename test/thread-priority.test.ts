// --background-nice: every thread of the server but the RPC thread (its main thread) runs at the
// given nice value, a GPU's worker process whole; by default nothing is changed. Read from /proc
// of a `modelbay serve` process with a simulated GPU, after Predicts on both devices.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { connect } from "../src/cli/client.js";
import { floatTensor } from "../src/cli/tensors.js";
import { serveProcess } from "./helpers/serve-process.js";
import { startTestServer } from "./helpers/server.js";
import { denseSpec, denseStackSpec } from "./helpers/specs.js";

/** Nice value of every thread of `pid`, by thread id. */
function niceByThread(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      out.set(Number(entry), os.getPriority(Number(entry)));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** Node.js processes whose parent is `pid` (not tsx's esbuild service). */
function childrenOf(pid: number): number[] {
  return fs
    .readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        // The parent's id is the second field after the command's closing parenthesis.
        const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
        const command = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        return command === "node" && Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Starts a server with a 1 MiB simulated GPU, predicts on the GPU's process and on the CPU's thread. */
async function servedAndUsed(args: string[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-nice-"));
  process.env.MODELBAY_SIMULATED_GPUS = "1MiB";
  const served = await serveProcess(dir, args).finally(() => delete process.env.MODELBAY_SIMULATED_GPUS);
  const client = connect(served.address);
  // The small model fits the GPU's 1 MiB; the large one (~21 MB with Adam's slots) goes to the CPU.
  await client.createModel({ modelId: "small", spec: denseSpec(1) });
  await client.createModel({ modelId: "large", spec: denseStackSpec([1300, 1300], 2) });
  const placed = await Promise.all(
    ["small", "large"].map(async (modelId) => (await client.getModel({ modelId })).model?.placement?.device),
  );
  assert.deepEqual(placed, ["gpu:0", "cpu:0"]);
  const input = floatTensor(
    Float32Array.from({ length: 40 }, (_, i) => Math.sin(i)),
    [4, 10],
    true,
  );
  for (const modelId of ["small", "large"]) await client.predict({ modelId, inputs: [input], rawOutput: true });
  const pid = served.child.pid as number;
  const close = async () => {
    client.close();
    const exited = new Promise((resolve) => served.child.once("exit", resolve));
    served.child.kill("SIGTERM");
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { pid, close };
}

test("--background-nice lowers every thread but the RPC thread, and a GPU's worker process whole", {
  skip: process.platform !== "linux" && "nice values per thread are Linux's",
}, async () => {
  const { pid, close } = await servedAndUsed(["--background-nice", "7"]);
  try {
    const [gpuWorker, ...more] = childrenOf(pid);
    assert.ok(gpuWorker !== undefined && more.length === 0, "the simulated GPU's worker process, alone");
    const summary = () => {
      const server = niceByThread(pid);
      const others = [...server].filter(([tid]) => tid !== pid).map(([, nice]) => nice);
      return {
        rpc: server.get(pid),
        others: [...new Set(others)],
        worker: [...new Set(niceByThread(gpuWorker).values())],
      };
    };
    // Threads started after the last look are lowered at the next one, within a second.
    let seen = summary();
    for (let i = 0; i < 30 && JSON.stringify(seen) !== JSON.stringify({ rpc: 0, others: [7], worker: [7] }); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      seen = summary();
    }
    assert.deepEqual(seen, { rpc: 0, others: [7], worker: [7] });
    assert.ok(niceByThread(pid).size >= 8, "the device thread, TensorFlow's and V8's threads are there to lower");
  } finally {
    await close();
  }
});

test("by default every thread keeps the server's priority", {
  skip: process.platform !== "linux" && "nice values per thread are Linux's",
}, async () => {
  const { pid, close } = await servedAndUsed([]);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const [gpuWorker, ...more] = childrenOf(pid);
    assert.ok(gpuWorker !== undefined && more.length === 0, "the simulated GPU's worker process, alone");
    const nices = [...niceByThread(pid).values(), ...niceByThread(gpuWorker).values()];
    assert.deepEqual([...new Set(nices)], [os.getPriority(process.pid)]);
  } finally {
    await close();
  }
});

// Last in this file: it lowers this process's own threads (the setting is for the whole process).
test("threads started after the server are lowered within a second", {
  skip: process.platform !== "linux" && "nice values per thread are Linux's",
}, async () => {
  const rpcNice = os.getPriority(process.pid);
  const t = await startTestServer({ backgroundNice: 7 });
  const before = new Set(niceByThread(process.pid).keys());
  const later = new Worker("setInterval(() => {}, 1000);", { eval: true });
  try {
    await new Promise((resolve) => later.once("online", resolve));
    const started = [...niceByThread(process.pid).keys()].filter((tid) => !before.has(tid));
    assert.ok(started.length > 0, "the new worker's thread");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual([...new Set(started.map((tid) => os.getPriority(tid)))], [7]);
    assert.equal(os.getPriority(process.pid), rpcNice, "the RPC thread is spared");
  } finally {
    await later.terminate();
    await t.close();
  }
});
