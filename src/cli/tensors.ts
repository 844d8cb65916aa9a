import type { TensorData } from "../compute/tensor-data.js";
import { DataType, type Tensor } from "../gen/modelbay/v1/tensor.js";

const EMPTY = { floatValues: [], int32Values: [], boolValues: [], float64Values: [], int64Values: [] };

/** A FLOAT32 tensor as typed values, or as raw little-endian bytes when `raw`. */
export function floatTensor(values: Float32Array, shape: number[], raw = false, name = ""): Tensor {
  return raw
    ? {
        ...EMPTY,
        name,
        dtype: DataType.DATA_TYPE_FLOAT32,
        shape,
        rawContents: Buffer.from(values.buffer, values.byteOffset, values.byteLength),
      }
    : {
        ...EMPTY,
        name,
        dtype: DataType.DATA_TYPE_FLOAT32,
        shape,
        floatValues: Array.from(values),
        rawContents: Buffer.alloc(0),
      };
}

/** A domain tensor as raw little-endian bytes on the wire. */
export function dataToWire(name: string, t: TensorData): Tensor {
  const dtype = { float32: DataType.DATA_TYPE_FLOAT32, int32: DataType.DATA_TYPE_INT32, bool: DataType.DATA_TYPE_BOOL }[
    t.dtype
  ];
  return {
    ...EMPTY,
    name,
    dtype,
    shape: t.shape,
    rawContents: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  };
}
