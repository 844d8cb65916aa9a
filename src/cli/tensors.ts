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
