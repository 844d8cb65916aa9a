// Rows to predict, read a chunk at a time: from a tensor in memory, or straight from a .npy file
// so that streaming a file of any size holds only the chunks in flight.
import fs from "node:fs/promises";
import {
  BYTES_PER_ELEMENT,
  type DType,
  elementCount,
  type TensorData,
  tensorBytes,
  typedView,
} from "../compute/tensor-data.js";
import { invalidArgument } from "../errors.js";
import { decodeNpyData, npyLayout } from "./npy.js";

export interface RowSource {
  name: string;
  dtype: DType;
  /** The full shape: rows first. */
  shape: number[];
  /**
   * Rows [start, end). With `into`, the rows land in its first bytes where the source can put them
   * there (the result then views `into`), so that a caller reusing its buffers allocates nothing;
   * rows already in shared memory, aligned, may be viewed where they are instead.
   */
  rows(start: number, end: number, into?: Uint8Array): Promise<TensorData>;
  close(): Promise<void>;
}

/**
 * Rows of a tensor held as raw little-endian bytes, e.g. a request's own buffer, where they need not
 * be aligned: each chunk is copied out as it is asked for, never the whole tensor at once, unless
 * it can be viewed where it is and still cross to a device thread without a copy (shared memory).
 */
export function bytesRows(name: string, dtype: DType, shape: number[], bytes: Uint8Array): RowSource {
  const rowBytes = elementCount(shape.slice(1)) * BYTES_PER_ELEMENT[dtype];
  return {
    name,
    dtype,
    shape,
    rows: async (start, end, into) => {
      const part = bytes.subarray(start * rowBytes, end * rowBytes);
      const rowsShape = [end - start, ...shape.slice(1)];
      const aligned = part.byteOffset % BYTES_PER_ELEMENT[dtype] === 0;
      // Aligned rows in shared memory (a large request's) cross to a device thread where they are.
      if (aligned && part.buffer instanceof SharedArrayBuffer)
        return { dtype, shape: rowsShape, data: typedView(dtype, part) };
      if (into) {
        const out = into.subarray(0, part.byteLength);
        out.set(part);
        return { dtype, shape: rowsShape, data: typedView(dtype, out) };
      }
      // Aligned bytes are viewed where they are; others are copied to a buffer of their own.
      return { dtype, shape: rowsShape, data: typedView(dtype, aligned ? part : part.slice()) };
    },
    close: async () => {},
  };
}

export function tensorRows(name: string, t: TensorData): RowSource {
  return bytesRows(name, t.dtype, t.shape, tensorBytes(t));
}

const DTYPE_OF: Record<string, DType> = {
  "<f4": "float32",
  "<f8": "float32",
  "<i4": "int32",
  "<i8": "int32",
  "|b1": "bool",
  "|u1": "bool",
};
// The largest .npy header numpy writes fits well within this.
const HEAD_BYTES = 64 * 1024;

/** A .npy file read a chunk of rows at a time. */
export async function npyRows(file: string, field: string): Promise<RowSource> {
  const handle = await fs.open(file, "r");
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0);
    const layout = npyLayout(head.subarray(0, bytesRead), field);
    const [rowsTotal, ...rest] = layout.shape;
    if (rowsTotal === undefined) throw invalidArgument(field, "a 0-dimensional array has no rows");
    const rowBytes = elementCount(rest) * layout.itemBytes;
    const { size } = await handle.stat();
    if (size < layout.dataOffset + rowsTotal * rowBytes) {
      throw invalidArgument(
        field,
        `truncated: the file holds ${size - layout.dataOffset} bytes of data, shape needs ${rowsTotal * rowBytes}`,
      );
    }
    const dtype = DTYPE_OF[layout.descr] as DType;
    // Stored as the tensor holds it (not float64 or int64 narrowed on the way): read in place.
    const asStored = layout.itemBytes === BYTES_PER_ELEMENT[dtype];
    return {
      name: "",
      dtype,
      shape: layout.shape,
      async rows(start, end, into) {
        const length = (end - start) * rowBytes;
        if (into && asStored) {
          const bytes = into.subarray(0, length);
          await handle.read(bytes, 0, length, layout.dataOffset + start * rowBytes);
          return { dtype, shape: [end - start, ...rest], data: typedView(dtype, bytes) };
        }
        const bytes = Buffer.alloc(length);
        await handle.read(bytes, 0, bytes.length, layout.dataOffset + start * rowBytes);
        return decodeNpyData(layout, bytes, [end - start, ...rest], field);
      },
      close: () => handle.close(),
    };
  } catch (err) {
    await handle.close();
    throw err;
  }
}
