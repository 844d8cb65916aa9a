// Between domain TensorData and TensorFlow.js tensors, in one place.
import * as tf from "@tensorflow/tfjs";
import type { DType, TensorData } from "./tensor-data.js";

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
