// Chooses and initializes the TensorFlow.js backend. Native TensorFlow (tfjs-node, provisioned by
// scripts/provision-native.mjs) is what we ship; WASM and pure JS keep the service usable without it.
import * as tf from "@tensorflow/tfjs";
import {
  type BackendChoice,
  type BackendInfo,
  type BackendName,
  backendCandidates,
  detectCuda,
} from "./backend-choice.js";
import { setTensorflowDefaults } from "./tensorflow-env.js";

// Kept in variables so TypeScript does not demand type declarations for optional packages.
const TFJS_NODE_GPU = "@tensorflow/tfjs-node-gpu";
const TFJS_NODE = "@tensorflow/tfjs-node";

/** Registers a backend with tfjs; throws when its package or native library cannot load. */
const registerBackend: Record<BackendName, () => Promise<void>> = {
  "tensorflow-gpu": async () => {
    await import(TFJS_NODE_GPU);
  },
  tensorflow: async () => {
    await import(TFJS_NODE);
  },
  wasm: async () => {
    await import("@tensorflow/tfjs-backend-wasm");
  },
  cpu: async () => {},
};

const tfjsBackendName: Record<BackendName, string> = {
  "tensorflow-gpu": "tensorflow",
  tensorflow: "tensorflow",
  wasm: "wasm",
  cpu: "cpu",
};

function nativeTensorflowVersion(): string {
  const backend = tf.backend() as unknown as { binding?: { TF_Version?: string } };
  return backend.binding?.TF_Version ?? "";
}

let active: Promise<BackendInfo> | undefined;

/**
 * Initializes the backend once per process. An explicit choice that cannot load is an error;
 * `auto` falls through the candidates and records why each was skipped.
 */
export function initBackend(choice: BackendChoice, cudaPresent = detectCuda()): Promise<BackendInfo> {
  active ??= selectBackend(choice, cudaPresent);
  return active;
}

async function selectBackend(choice: BackendChoice, cudaPresent: boolean): Promise<BackendInfo> {
  setTensorflowDefaults();
  const skipped: BackendInfo["skipped"] = [];
  for (const name of backendCandidates(choice, cudaPresent)) {
    try {
      await registerBackend[name]();
      if (!(await tf.setBackend(tfjsBackendName[name]))) throw new Error("backend failed to initialize");
      await tf.ready();
      const tensorflowVersion = name.startsWith("tensorflow") ? nativeTensorflowVersion() : "";
      return { name, tensorflowVersion, tfjsVersion: tf.version.tfjs, skipped };
    } catch (err) {
      const reason = err instanceof Error ? (err.message.split("\n")[0] ?? err.message) : String(err);
      if (choice !== "auto") throw new Error(`backend ${name} is not available: ${reason}`, { cause: err });
      skipped.push({ name, reason });
    }
  }
  throw new Error(`no TensorFlow.js backend could start: ${JSON.stringify(skipped)}`);
}
