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

/** Decodes a .npy file; float64 becomes float32 and int64 int32 (values must fit). */
export function readNpy(bytes: Buffer, field = "npy"): TensorData {
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(MAGIC))
    throw invalidArgument(field, "not a .npy file (bad magic)");
  const major = bytes[6];
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = parseHeader(bytes.toString("latin1", headerStart, headerStart + headerLength), field);
  if (header.fortranOrder)
    throw invalidArgument(field, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray");
  const body = bytes.subarray(headerStart + headerLength);
  const count = header.shape.reduce((n, d) => n * d, 1);
  const need = (size: number) => {
    if (body.length < count * size)
      throw invalidArgument(field, `truncated: ${body.length} bytes of data, shape needs ${count * size}`);
    // Copy into an aligned buffer of our own; the file buffer may be shared and unaligned.
    return new Uint8Array(body.subarray(0, count * size)).buffer;
  };
  const shape = header.shape;
  switch (header.descr) {
    case "<f4":
      return { dtype: "float32", shape, data: new Float32Array(need(4)) };
    case "<f8":
      return { dtype: "float32", shape, data: Float32Array.from(new Float64Array(need(8))) };
    case "<i4":
      return { dtype: "int32", shape, data: new Int32Array(need(4)) };
    case "<i8": {
      const wide = new BigInt64Array(need(8));
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = Number(wide[i]);
        if (v < -2147483648 || v > 2147483647) throw invalidArgument(field, `int64 value ${v} does not fit in int32`);
        data[i] = v;
      }
      return { dtype: "int32", shape, data };
    }
    case "|b1":
    case "|u1":
      return { dtype: "bool", shape, data: new Uint8Array(need(1)) };
    default:
      throw invalidArgument(
        field,
        `dtype ${header.descr} is not supported (use float32, float64, int32, int64 or bool)`,
      );
  }
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
