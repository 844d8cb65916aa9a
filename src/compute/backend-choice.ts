// Which TensorFlow.js backend to run, free of TensorFlow itself: the server's main thread parses
// the choice and looks for CUDA without loading the library (it only runs in device workers).
import fs from "node:fs";

export const BACKEND_NAMES = ["tensorflow-gpu", "tensorflow", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
export type BackendChoice = "auto" | BackendName;

export interface BackendInfo {
  /** The backend in use. */
  name: BackendName;
  /** Version of the TensorFlow library behind the native backends; "" otherwise. */
  tensorflowVersion: string;
  tfjsVersion: string;
  /** Backends tried before the chosen one, and why each was passed over. */
  skipped: { name: BackendName; reason: string }[];
}

export function parseBackendChoice(value: string | undefined): BackendChoice {
  const v = (value ?? "auto").trim().toLowerCase();
  if (v === "auto" || (BACKEND_NAMES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new Error(`unknown backend "${value}"; expected auto, ${BACKEND_NAMES.join(", ")}`);
}

/** Order in which backends are tried: auto prefers GPU (when CUDA is present), native, WASM, JS. */
export function backendCandidates(choice: BackendChoice, cudaPresent: boolean): BackendName[] {
  if (choice !== "auto") return [choice];
  const order: BackendName[] = ["tensorflow", "wasm", "cpu"];
  return cudaPresent ? ["tensorflow-gpu", ...order] : order;
}

/** CUDA counts as present when the NVIDIA kernel driver is loaded. */
export function detectCuda(exists: (path: string) => boolean = fs.existsSync): boolean {
  return exists("/proc/driver/nvidia/version");
}
