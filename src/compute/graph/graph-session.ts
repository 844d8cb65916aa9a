// Loading hand-written graphs into TensorFlow sessions through tfjs-node's SavedModel API, shared
// by the graph trainer and the graph forward pass.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { type NodeDef, savedModelProto } from "./graph-def.js";

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  tfDtype: string;
}

/** The native backend's session API (tfjs-node's NodeJSKernelBackend). */
export interface SessionBackend {
  loadSavedModelMetaGraph(dir: string, tags: string): number;
  runSavedModel(id: number, inputs: tf.Tensor[], infos: TensorInfo[], outputs: string[]): tf.Tensor[];
  deleteSavedModel(id: number): void;
  /** The addon; the provisioned one carries modelbay's additions (native/tfjs-node-additions). */
  binding?: { setSessionIntraOpThreads?: (threads: number) => void };
}

/**
 * Loads the graph saved in `dir` as a session whose ops are split across at most `intraOpThreads`
 * threads (0: TensorFlow's default, one per core). The session gets a thread pool of its own
 * (TF_OVERRIDE_GLOBAL_THREADPOOL, set by tensorflow-env.ts); an addon without the setting loads it
 * with the default.
 */
export function loadGraphSession(backend: SessionBackend, dir: string, tag: string, intraOpThreads = 0): number {
  backend.binding?.setSessionIntraOpThreads?.(intraOpThreads);
  return backend.loadSavedModelMetaGraph(dir, tag);
}

/** The session API when the backend is native TensorFlow; otherwise why not. */
export function sessionBackend(): SessionBackend | string {
  if (!tf.getBackend().startsWith("tensorflow")) return `backend ${tf.getBackend()} has no session API`;
  return tf.backend() as unknown as SessionBackend;
}

export const floatInfo = (name: string, shape: number[]): TensorInfo => ({
  name,
  dtype: "float32",
  shape,
  tfDtype: "DT_FLOAT",
});

/**
 * A directory holding the graph as a SavedModel tagged `tag`, named by its content's hash (one per
 * distinct graph per user, reused across runs).
 */
export function graphDir(nodes: readonly NodeDef[], tag: string): string {
  const proto = savedModelProto(nodes, tag);
  const hash = crypto.createHash("sha256").update(proto).digest("hex").slice(0, 16);
  const dir = path.join(os.tmpdir(), `modelbay-graphs-${process.getuid?.() ?? "u"}`, hash);
  if (!fs.existsSync(path.join(dir, "saved_model.pb"))) {
    // Written beside and renamed: two workers building the same graph never see half a file.
    fs.mkdirSync(dir, { recursive: true });
    const tmp = path.join(dir, `saved_model.pb.${process.pid}.${crypto.randomUUID()}`);
    fs.writeFileSync(tmp, proto);
    fs.renameSync(tmp, path.join(dir, "saved_model.pb"));
  }
  return dir;
}
