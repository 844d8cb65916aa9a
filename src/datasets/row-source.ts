// Rows to predict, read a chunk at a time: from a tensor in memory, or straight from a .npy file
// so that streaming a file of any size holds only the chunks in flight.
import fs from "node:fs/promises";
import { type DType, elementCount, sliceRows, type TensorData } from "../compute/tensor-data.js";
import { invalidArgument } from "../errors.js";
import { decodeNpyData, npyLayout } from "./npy.js";

export interface RowSource {
  name: string;
  dtype: DType;
  /** The full shape: rows first. */
  shape: number[];
  /** Rows [start, end). */
  rows(start: number, end: number): Promise<TensorData>;
  close(): Promise<void>;
}

export function tensorRows(name: string, t: TensorData): RowSource {
  return {
    name,
    dtype: t.dtype,
    shape: t.shape,
    rows: async (start, end) => sliceRows(t, start, end),
    close: async () => {},
  };
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
    return {
      name: "",
      dtype: DTYPE_OF[layout.descr] as DType,
      shape: layout.shape,
      async rows(start, end) {
        const bytes = Buffer.alloc((end - start) * rowBytes);
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
