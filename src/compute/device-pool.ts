// One compute engine per device: the CPU's device worker is a thread; each GPU's is a child
// process started with CUDA_VISIBLE_DEVICES set to that GPU alone (CUDA reads it from the process
// environment). The session manager places models on devices; this pool only owns the engines.
import type { BackendChoice } from "./backend-choice.js";
import type { DeviceSpec } from "./devices.js";
import type { ComputeEngine } from "./engine.js";
import type { PredictOrder } from "./worker/protocol.js";
import type { WorkerObserver } from "./worker-engine.js";

export interface Device extends DeviceSpec {
  engine: ComputeEngine;
}

export class DevicePool {
  constructor(readonly devices: readonly Device[]) {
    if (!devices.some((d) => d.kind === "cpu")) throw new Error("a device pool needs the CPU");
  }

  /** A pool of one engine on the CPU (offline tools, inline compute). */
  static cpuOnly(engine: ComputeEngine, memoryBytes = Number.POSITIVE_INFINITY): DevicePool {
    return new DevicePool([
      { name: "cpu:0", kind: "cpu", memoryBytes, cudaVisibleDevices: "", simulated: false, engine },
    ]);
  }

  /** The CPU's engine: the default for work that is not tied to a session's device. */
  get primary(): ComputeEngine {
    return (this.devices.find((d) => d.kind === "cpu") as Device).engine;
  }

  device(name: string): Device {
    const device = this.devices.find((d) => d.name === name);
    if (!device) throw new Error(`no device "${name}"`);
    return device;
  }

  async close(): Promise<void> {
    await Promise.all(this.devices.map((d) => d.engine.close?.()));
  }
}

/** How the pool's device workers run. */
export interface DevicePoolOptions {
  observer?: WorkerObserver;
  /** The server's whole memory budget: a worker refuses to build a model over it. */
  maxModelBytes?: number;
  predictOrder?: PredictOrder;
  /** Nice value of every thread of a GPU's worker process (thread-priority.ts); 0 leaves them. */
  processNice?: number;
}

export async function createDevicePool(
  specs: readonly DeviceSpec[],
  choice: BackendChoice,
  compute: "worker" | "inline",
  options: DevicePoolOptions = {},
): Promise<DevicePool> {
  const { observer, maxModelBytes, predictOrder, processNice } = options;
  const limits = maxModelBytes === undefined ? {} : { maxModelBytes };
  const order = predictOrder ? { predictOrder } : {};
  if (compute === "inline") {
    // Inline compute runs on this thread: only the CPU (a debugging mode).
    const { createInProcessEngine } = await import("./in-process-engine.js");
    const cpu = specs.find((d) => d.kind === "cpu") as DeviceSpec;
    return DevicePool.cpuOnly(await createInProcessEngine(choice, limits), cpu.memoryBytes);
  }
  const { createWorkerEngine } = await import("./worker-engine.js");
  const hasGpus = specs.some((d) => d.kind === "gpu");
  const devices = await Promise.all(
    specs.map(async (spec): Promise<Device> => {
      const engine =
        spec.kind === "cpu"
          ? await createWorkerEngine(choice, {
              device: spec.name,
              ...(observer ? { observer } : {}),
              ...limits,
              ...order,
              kind: "thread",
              // With GPUs present, the CPU's worker must not grab one.
              env: hasGpus ? { CUDA_VISIBLE_DEVICES: "" } : {},
            })
          : await createWorkerEngine(spec.simulated ? choice : "tensorflow-gpu", {
              device: spec.name,
              ...(observer ? { observer } : {}),
              ...limits,
              ...order,
              kind: "process",
              env: { CUDA_VISIBLE_DEVICES: spec.cudaVisibleDevices },
              ...(processNice ? { processNice } : {}),
            });
      return { ...spec, engine };
    }),
  );
  return new DevicePool(devices);
}
