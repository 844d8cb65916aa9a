// Tensors for client code (the demo, the CLI, benchmarks and tests), built with the server's own
// wire codec so that both sides encode one way.
import { tensorFromWire, tensorToWire } from "../api/tensor-codec.js";
import type { TensorData } from "../compute/tensor-data.js";
import type { Tensor } from "../gen/modelbay/v1/tensor.js";
import type { DataSource } from "../gen/modelbay/v1/training.js";

/** A FLOAT32 tensor as typed values, or as raw little-endian bytes when `raw`. */
export function floatTensor(values: Float32Array, shape: number[], raw = false, name = ""): Tensor {
  return tensorToWire(name, { dtype: "float32", shape, data: values }, raw);
}

/** A tensor a server answered with. Its size limit guards servers against clients, not this. */
export function fromServer(t: Tensor, field: string): TensorData {
  return tensorFromWire(t, field, { maxTensorBytes: Number.POSITIVE_INFINITY });
}

/** Examples for a model of one input and one output, as a TrainRequest carries them inline. */
export function inlineXY(x: Tensor, y: Tensor): DataSource {
  return { source: { $case: "inline", inline: { x, y, inputs: [], targets: [] } } };
}
