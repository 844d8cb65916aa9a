// Between domain TensorData and TensorFlow.js tensors, in one place.
import { MessageChannel } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import type { DType, TensorData, TypedData } from "./tensor-data.js";

export function toDType(dtype: string): DType {
  if (dtype === "float32" || dtype === "int32" || dtype === "bool") return dtype;
  throw new Error(`unsupported dtype ${dtype}`);
}

export function toTensor(t: TensorData): tf.Tensor {
  return tf.tensor(t.data, t.shape, t.dtype);
}

/** Reads a tensor's values to the host; the tensor stays owned by the caller. */
export async function fromTensor(t: tf.Tensor): Promise<TensorData> {
  const data = (await t.data()) as Float32Array | Int32Array | Uint8Array;
  return { dtype: toDType(t.dtype), shape: [...t.shape], data };
}

// A port whose other end is closed: a buffer transferred into it is detached here and freed with
// the message, which is never delivered.
let sink: MessageChannel["port1"] | undefined;

// Backends whose reads return a new copy of a tensor's values. The plain JavaScript backend returns
// its own storage, which a slice shares with the tensor it was cut from.
const COPYING_BACKENDS = new Set(["tensorflow", "wasm"]);

/** Whether `fromTensor` of a tensor computed by an op returns a copy the caller owns. */
export function readsReturnCopies(): boolean {
  return COPYING_BACKENDS.has(tf.getBackend());
}

/**
 * Frees the memory of `data`, a host copy from `fromTensor` that the caller owns whole and no longer
 * needs (see readsReturnCopies). tfjs-node gives each read a fresh ArrayBuffer that V8 frees only
 * at a collection; reads in a loop (a checkpoint's 4 MB slices) pile them up, and each new read
 * faults fresh pages in. Freed at once, they do not pile up (measured on 300 MB read in 4 MB
 * slices: 96,000 page faults and 160 ms of system time in a cold round before; fewer collections).
 * Checkpoints read through tensor-bytes-into.ts where the addon allows, which makes no copies.
 */
export function releaseHostCopy(data: TypedData): void {
  if (!(data.buffer instanceof ArrayBuffer) || data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength)
    return;
  if (!sink) {
    const { port1, port2 } = new MessageChannel();
    port2.close();
    port1.unref();
    sink = port1;
  }
  sink.postMessage(null, [data.buffer]);
}
