// Devices and placement with a simulated GPU inventory (no GPU here): each GPU gets its own device
// worker process pinned with CUDA_VISIBLE_DEVICES, sessions go to the least loaded device by
// memory (GPUs first, the CPU for what fits no GPU), and a GPU worker that dies takes only its own
// sessions down.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { chooseDevice, type DeviceSpec, discoverDevices, parseBytes } from "../src/compute/devices.js";
import type { WorkerEngine } from "../src/compute/worker-engine.js";
import { startTestServer, type TestServer } from "./helpers/server.js";
import { denseSpec, denseStackSpec } from "./helpers/specs.js";
import { floatTensor, seededFloats } from "./helpers/tensors.js";

test("the inventory: simulated GPUs, nvidia-smi's list, and sizes", () => {
  const sim = discoverDevices({ MODELBAY_SIMULATED_GPUS: "16GiB, 512MiB" }, false);
  assert.deepEqual(
    sim.map((d) => [d.name, d.kind, d.memoryBytes, d.cudaVisibleDevices, d.simulated]),
    [
      ["cpu:0", "cpu", sim[0]?.memoryBytes, "", false],
      ["gpu:0", "gpu", 16 * 2 ** 30, "0", true],
      ["gpu:1", "gpu", 512 * 2 ** 20, "1", true],
    ],
  );
  const real = discoverDevices({}, true, () => "0, 24576\n1, 81920\n");
  assert.deepEqual(
    real.slice(1).map((d) => [d.name, d.memoryBytes, d.cudaVisibleDevices, d.simulated]),
    [
      ["gpu:0", 24576 * 2 ** 20, "0", false],
      ["gpu:1", 81920 * 2 ** 20, "1", false],
    ],
  );
  assert.equal(
    discoverDevices({}, true, () => {
      throw new Error("no nvidia-smi");
    }).length,
    1,
  );
  assert.equal(discoverDevices({}, false).length, 1);
  assert.throws(() => parseBytes("lots", "x"), /x: "lots" is not a size/);
});

test("placement: the GPU with the most free memory, the CPU when no GPU fits", () => {
  const devices: DeviceSpec[] = [
    { name: "cpu:0", kind: "cpu", memoryBytes: 100, cudaVisibleDevices: "", simulated: false },
    { name: "gpu:0", kind: "gpu", memoryBytes: 10, cudaVisibleDevices: "0", simulated: true },
    { name: "gpu:1", kind: "gpu", memoryBytes: 10, cudaVisibleDevices: "1", simulated: true },
  ];
  const used: Record<string, number> = { "cpu:0": 0, "gpu:0": 6, "gpu:1": 2 };
  assert.equal(chooseDevice(devices, (n) => used[n] ?? 0, 1).name, "gpu:1");
  assert.equal(chooseDevice(devices, (n) => used[n] ?? 0, 5).name, "gpu:1");
  assert.equal(chooseDevice(devices, (n) => used[n] ?? 0, 9).name, "cpu:0");
});

describeServer();

function describeServer(): void {
  let t: TestServer;
  before(async () => {
    process.env.MODELBAY_SIMULATED_GPUS = "1MiB,1MiB";
    t = await startTestServer({ compute: "worker" });
  });
  after(async () => {
    delete process.env.MODELBAY_SIMULATED_GPUS;
    await t.close();
  });

  const input = floatTensor(seededFloats(40, 8), [4, 10], true);
  const predict = (modelId: string) => t.client.predict({ modelId, inputs: [input], rawOutput: false });
  const deviceOf = async (modelId: string) => (await t.client.getModel({ modelId })).model?.placement?.device;

  test("one worker per device, each GPU's process pinned to its GPU, sessions spread by memory", async () => {
    const info = await t.client.getServerInfo({});
    assert.deepEqual(
      info.devices.map((d) => [d.name, d.kind]),
      [
        ["cpu:0", "cpu"],
        ["gpu:0", "gpu"],
        ["gpu:1", "gpu"],
      ],
    );
    const pool = t.server.sessions.pool;
    assert.equal((pool.device("gpu:0").engine as WorkerEngine).cudaVisibleDevices(), "0");
    assert.equal((pool.device("gpu:1").engine as WorkerEngine).cudaVisibleDevices(), "1");
    assert.equal((pool.device("cpu:0").engine as WorkerEngine).cudaVisibleDevices(), "", "the CPU worker sees no GPU");
    const pids = ["gpu:0", "gpu:1"].map((n) => (pool.device(n).engine as WorkerEngine).workerThreadId());
    assert.ok(
      pids.every((p) => p !== process.pid && p > 0),
      "GPU workers are processes of their own",
    );

    for (const id of ["a", "b", "c", "d"])
      await t.client.createModel({ modelId: id, spec: denseSpec(id.charCodeAt(0)) });
    assert.deepEqual(await Promise.all(["a", "b", "c", "d"].map(deviceOf)), ["gpu:0", "gpu:1", "gpu:0", "gpu:1"]);
    // 1.8M weights with Adam's slots (~21 MB) fit neither 1 MiB GPU: the CPU takes it.
    await t.client.createModel({ modelId: "big", spec: denseStackSpec([1300, 1300], 5) });
    assert.equal(await deviceOf("big"), "cpu:0");
    const loads = (await t.client.getServerInfo({})).devices;
    assert.deepEqual(
      loads.map((d) => d.sessionCount),
      [1, 2, 2],
    );
    assert.ok((loads[1]?.usedBytes ?? 0) > 0 && (loads[1]?.memoryBytes ?? 0) === 2 ** 20);
  });

  test("a GPU worker that dies takes down only its own sessions; checkpointed ones reload there", async () => {
    const before = (await predict("c")).outputs[0]?.floatValues;
    await t.client.checkpoint({ modelId: "c" });
    const gpu0 = t.server.sessions.pool.device("gpu:0").engine as WorkerEngine;
    const oldPid = gpu0.workerThreadId();
    process.kill(oldPid, "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 200));
    // gpu:1's sessions never noticed.
    assert.deepEqual((await predict("b")).outputs[0]?.shape, [4, 1]);
    await assert.rejects(predict("a"), (err: grpc.ServiceError) => err.code === grpc.status.UNAVAILABLE);
    assert.deepEqual((await predict("c")).outputs[0]?.floatValues, before);
    assert.notEqual(gpu0.workerThreadId(), oldPid, "a new gpu:0 worker process");
    assert.equal(gpu0.cudaVisibleDevices(), "0");
    assert.equal(await deviceOf("c"), "gpu:0");
  });
}
