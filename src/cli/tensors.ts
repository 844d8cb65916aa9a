// Tensors for client code (the demo, the CLI, benchmarks and tests), built with the server's own
// wire codec so that both sides encode one way.
import { tensorToWire } from "../api/tensor-codec.js";
import type { Tensor } from "../gen/modelbay/v1/tensor.js";

/** A FLOAT32 tensor as typed values, or as raw little-endian bytes when `raw`. */
export function floatTensor(values: Float32Array, shape: number[], raw = false, name = ""): Tensor {
  return tensorToWire(name, { dtype: "float32", shape, data: values }, raw);
}
