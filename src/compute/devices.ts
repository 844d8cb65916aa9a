// The devices a server can place sessions on: the CPU always, and one entry per GPU. GPUs are found
// with nvidia-smi where the NVIDIA driver is loaded, or simulated by MODELBAY_SIMULATED_GPUS (a
// comma-separated list of memory sizes such as "16GiB,8GiB"): a simulated GPU gets its own device
// worker pinned with CUDA_VISIBLE_DEVICES like a real one, but computes with the CPU backend. That
// is how the placement and isolation logic is tested on machines without GPUs.
import { execFileSync } from "node:child_process";
import os from "node:os";
import { detectCuda } from "./backend-choice.js";

export interface DeviceSpec {
  /** "cpu:0", "gpu:0", "gpu:1", ... */
  name: string;
  kind: "cpu" | "gpu";
  /** Memory the placement policy may fill, in bytes. */
  memoryBytes: number;
  /** CUDA_VISIBLE_DEVICES for this device's worker ("" hides every GPU from the CPU worker). */
  cudaVisibleDevices: string;
  simulated: boolean;
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
};

export function parseBytes(text: string, setting: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = UNITS[(m?.[2] ?? "").toLowerCase()];
  if (!m || unit === undefined || Number(m[1]) <= 0) {
    throw new Error(`${setting}: "${text}" is not a size like 16GiB or 512MiB`);
  }
  return Math.floor(Number(m[1]) * unit);
}

function nvidiaGpus(run: (cmd: string, args: string[]) => string): DeviceSpec[] {
  const out = run("nvidia-smi", ["--query-gpu=index,memory.total", "--format=csv,noheader,nounits"]);
  return out
    .split("\n")
    .map((line) => line.split(",").map((x) => x.trim()))
    .filter((cols) => cols.length >= 2 && cols[0] !== "")
    .map(([index, mib]) => ({
      name: `gpu:${index}`,
      kind: "gpu" as const,
      memoryBytes: Number(mib) * 2 ** 20,
      cudaVisibleDevices: String(index),
      simulated: false,
    }));
}

export function discoverDevices(
  env: NodeJS.ProcessEnv = process.env,
  cudaPresent = detectCuda(),
  run: (cmd: string, args: string[]) => string = (cmd, args) => execFileSync(cmd, args, { encoding: "utf8" }),
): DeviceSpec[] {
  const cpu: DeviceSpec = {
    name: "cpu:0",
    kind: "cpu",
    memoryBytes: os.totalmem(),
    cudaVisibleDevices: "",
    simulated: false,
  };
  const simulated = env.MODELBAY_SIMULATED_GPUS;
  if (simulated) {
    const gpus = simulated.split(",").map((size, i) => ({
      name: `gpu:${i}`,
      kind: "gpu" as const,
      memoryBytes: parseBytes(size, "MODELBAY_SIMULATED_GPUS"),
      cudaVisibleDevices: String(i),
      simulated: true,
    }));
    return [cpu, ...gpus];
  }
  if (!cudaPresent) return [cpu];
  try {
    return [cpu, ...nvidiaGpus(run)];
  } catch {
    // The driver is loaded but nvidia-smi is missing or failed: serve on the CPU.
    return [cpu];
  }
}

/**
 * Where a new session goes: the device with the most free memory, GPUs before the CPU when any
 * GPU has room for it. `used` gives the bytes already placed on each device.
 */
export function chooseDevice<D extends DeviceSpec>(
  devices: readonly D[],
  used: (name: string) => number,
  needBytes: number,
): D {
  const free = (d: D) => d.memoryBytes - used(d.name);
  const fits = (d: D) => free(d) >= needBytes;
  const gpus = devices.filter((d) => d.kind === "gpu" && fits(d));
  const candidates = gpus.length > 0 ? gpus : devices.filter((d) => d.kind === "cpu");
  return [...candidates].sort((a, b) => free(b) - free(a) || a.name.localeCompare(b.name))[0] as D;
}
