// Tensors as the domain sees them: a dtype, a shape and a typed array in row-major order.
// Free of TensorFlow so that api/ and sessions/ can build and inspect them.

export type DType = "float32" | "int32" | "bool";
export type TypedData = Float32Array | Int32Array | Uint8Array;

export interface TensorData {
  dtype: DType;
  shape: number[];
  data: TypedData;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/**
 * What is wrong with a tensor sent with an empty axis past the batch: it holds no data, and some
 * TensorFlow kernels divide by such a size. Undefined when every such axis holds something.
 */
export function emptyAxisProblem(shape: readonly number[]): string | undefined {
  const empty = shape.indexOf(0, 1);
  return empty < 0 ? undefined : `dimension ${empty} of shape [${shape.join(", ")}] is 0; it must be at least 1`;
}

/** Bytes per element of each dtype, as stored in raw little-endian form. */
export const BYTES_PER_ELEMENT: Record<DType, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * TensorFlow takes tensor memory at this alignment as it is (EIGEN_MAX_ALIGN_BYTES) and copies
 * memory from other addresses; its Slice shares its input's memory only at such ends.
 */
export const TENSORFLOW_ALIGNMENT_BYTES = 64;

/** `bytes` as a typed array of `dtype` over the same memory (aligned to its element size). */
export function typedView(dtype: DType, bytes: Uint8Array): TypedData {
  const count = bytes.byteLength / BYTES_PER_ELEMENT[dtype];
  if (dtype === "float32") return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  if (dtype === "int32") return new Int32Array(bytes.buffer, bytes.byteOffset, count);
  return bytes;
}

/** A tensor's bytes, raw little-endian, as a Uint8Array over the same memory. */
export function tensorBytes(t: TensorData): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Name, dtype and shape of a model input or output; -1 marks a dimension of any size. */
export interface TensorSignature {
  name: string;
  dtype: DType;
  shape: number[];
}

/** Rows [start, end) of a tensor, sharing its memory. */
/** Elements of one row of each of `tensors` together (a row of every input of a model). */
export function elementsPerRow(tensors: readonly TensorData[]): number {
  return tensors.reduce((n, t) => n + elementCount(t.shape.slice(1)), 0);
}

export function sliceRows(t: TensorData, start: number, end: number): TensorData {
  const stride = elementCount(t.shape.slice(1));
  return {
    dtype: t.dtype,
    shape: [end - start, ...t.shape.slice(1)],
    data: t.data.subarray(start * stride, end * stride),
  };
}
