// Reads and writes numpy .npy arrays (format versions 1 to 3, C order, little-endian), the
// interchange format between modelbay and Python for datasets, goldens and benchmarks.
import type { TensorData } from "../compute/tensor-data.js";
import { invalidArgument } from "../errors.js";

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

interface Header {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

function parseHeader(text: string, field: string): Header {
  const descr = /'descr':\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(text)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw invalidArgument(field, "not a valid .npy header");
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw invalidArgument(field, `bad shape (${shapeText})`);
  return { descr, fortranOrder: fortran === "True", shape };
}

const ITEM_BYTES: Record<string, number> = { "<f4": 4, "<f8": 8, "<i4": 4, "<i8": 8, "|b1": 1, "|u1": 1 };

/** The layout of a .npy file: its header and where the data starts. */
export interface NpyLayout {
  descr: string;
  shape: number[];
  dataOffset: number;
  itemBytes: number;
}

/** Parses the header at the start of a .npy file (the first bytes are enough). */
export function npyLayout(head: Buffer, field = "npy"): NpyLayout {
  if (head.length < 10 || !head.subarray(0, 6).equals(MAGIC))
    throw invalidArgument(field, "not a .npy file (bad magic)");
  const major = head[6];
  const headerLength = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  if (head.length < headerStart + headerLength) throw invalidArgument(field, "truncated .npy header");
  const header = parseHeader(head.toString("latin1", headerStart, headerStart + headerLength), field);
  if (header.fortranOrder)
    throw invalidArgument(field, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray");
  const itemBytes = ITEM_BYTES[header.descr];
  if (itemBytes === undefined) {
    throw invalidArgument(field, `dtype ${header.descr} is not supported (use float32, float64, int32, int64 or bool)`);
  }
  return { descr: header.descr, shape: header.shape, dataOffset: headerStart + headerLength, itemBytes };
}

/** Decodes `count` elements of a .npy body; float64 becomes float32 and int64 int32 (values must fit). */
export function decodeNpyData(layout: NpyLayout, body: Buffer, shape: number[], field = "npy"): TensorData {
  const count = shape.reduce((n, d) => n * d, 1);
  if (body.length < count * layout.itemBytes) {
    throw invalidArgument(field, `truncated: ${body.length} bytes of data, shape needs ${count * layout.itemBytes}`);
  }
  // Copy into an aligned buffer of our own; the file buffer may be shared and unaligned.
  const own = () => new Uint8Array(body.subarray(0, count * layout.itemBytes)).buffer;
  switch (layout.descr) {
    case "<f4":
      return { dtype: "float32", shape, data: new Float32Array(own()) };
    case "<f8":
      return { dtype: "float32", shape, data: Float32Array.from(new Float64Array(own())) };
    case "<i4":
      return { dtype: "int32", shape, data: new Int32Array(own()) };
    case "<i8": {
      const wide = new BigInt64Array(own());
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = Number(wide[i]);
        if (v < -2147483648 || v > 2147483647) throw invalidArgument(field, `int64 value ${v} does not fit in int32`);
        data[i] = v;
      }
      return { dtype: "int32", shape, data };
    }
    default:
      return { dtype: "bool", shape, data: new Uint8Array(own()) };
  }
}

/** Decodes a whole .npy file held in memory. */
export function readNpy(bytes: Buffer, field = "npy"): TensorData {
  const layout = npyLayout(bytes, field);
  return decodeNpyData(layout, bytes.subarray(layout.dataOffset), layout.shape, field);
}

const DESCR = { float32: "<f4", int32: "<i4", bool: "|b1" } as const;

export function writeNpy(t: TensorData): Buffer {
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(", ")})`;
  let header = `{'descr': '${DESCR[t.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Pad so that the data starts on a 64-byte boundary, as numpy does.
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64);
  header += "\n";
  const prefix = Buffer.alloc(10);
  MAGIC.copy(prefix);
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([
    prefix,
    Buffer.from(header, "latin1"),
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  ]);
}
